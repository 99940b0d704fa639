"""Gold tables no source of the configuration feeds (issue 20, D68): written empty with their
columns, each with one line naming what would fill it; a fed table says nothing."""

from __future__ import annotations

import datetime as dt
import logging

from crm_spark.gold import read_inputs, tables
from crm_spark.tables import Lake
from tests.conftest import make_config

EVENTS = "web or e-mail events (a web_event or email_event source)"


def test_tables_without_their_events_are_written_empty_with_one_line_each(spark, tmp_path, caplog):
    cfg = make_config(tmp_path)
    inputs = read_inputs(spark, Lake(spark, cfg.lake.root), cfg, dt.date(2024, 6, 30))   # an empty lake
    caplog.set_level(logging.INFO, logger="crm_spark.gold.tables")
    for name, step in tables.STEPS[:tables.STEPS.index(("funnel", tables.funnel_step)) + 1]:
        inputs.tables[name] = step(inputs, cfg)   # in gold.build's order: later steps read earlier ones
    lines = [r.getMessage() for r in caplog.records if r.name == "crm_spark.gold.tables"]
    assert lines == [f"gold.attribution written empty: it needs {EVENTS}",
                     "gold.campaign_performance written empty: it needs campaigns (a campaign source)",
                     f"gold.journeys written empty: it needs {EVENTS}",
                     "gold.funnel written empty: it needs web events (a web_event source)"]
    attribution_df = inputs.tables["attribution"]
    assert attribution_df.isEmpty() and "revenue_credited" in attribution_df.columns


def test_a_fed_table_says_nothing(caplog):
    class Inputs:
        missing = frozenset({"web_events"})   # e-mail events are there

    caplog.set_level(logging.INFO, logger="crm_spark.gold.tables")
    tables.note_unfed(Inputs(), "gold.journeys", tables.WEB_OR_EMAIL, EVENTS)
    assert caplog.records == []
