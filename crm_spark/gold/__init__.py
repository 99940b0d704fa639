"""Gold: the tables analysts open first, computed for one ``as_of`` date.

Every table has an ``as_of`` column and is partitioned by it; a run replaces only its own
``as_of`` partition, so snapshots for several dates live side by side and a re-run for the same
date gives the same rows. Only data up to ``as_of`` is read (``gold.sales.filter_as_of``).
The date is the run's, resolved by :func:`crm_spark.as_of.resolve_as_of` as every stage does.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from crm_spark.as_of import resolve_as_of
from crm_spark.concurrency import run_graph
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

SILVER_INPUTS = ("orders", "order_lines", "products", "web_events", "email_events", "campaigns",
                 "support_tickets", "consent", "customers")


@dataclass
class GoldInputs:
    """The silver tables (empty where a source has none) and what earlier gold steps made."""

    spark: SparkSession
    tables: dict[str, DataFrame]
    as_of: dt.date
    # the silver inputs no source has fed (read as empty frames)
    missing: frozenset[str] = frozenset()
    # rows left out by a rule, per "<table> <rule>": logged by the step, recorded in ops.runs
    excluded: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> DataFrame:
        return self.tables[name]


def read_inputs(spark: SparkSession, lake: Lake, cfg: Config, as_of: dt.date) -> GoldInputs:
    """Every silver input; a missing table is read as an empty frame of its contract so
    tables that need it come out empty instead of failing (e.g. no web data)."""
    from crm_spark.silver import read_table

    tables = {name: read_table(lake, cfg, f"silver.{name}") for name in SILVER_INPUTS}
    missing = frozenset(name for name in SILVER_INPUTS if not lake.exists(f"silver.{name}"))
    return GoldInputs(spark, tables, as_of, missing)


def steps() -> Sequence[tuple[str, Callable[[GoldInputs, Config], DataFrame | None]]]:
    from crm_spark.gold import tables

    return tables.STEPS


def needs() -> dict[str, tuple[str, ...]]:
    from crm_spark.gold import tables

    return tables.NEEDS


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """Compute every gold table for the run's ``as_of`` and replace that snapshot.

    Returns:
        Rows written per gold table, and the rows a step left out by a rule
        (``gold.<table> excluded: <rule>``; only rules that left rows out).
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    as_of = resolve_as_of(lake, ctx)
    log.info("gold: as_of %s", as_of)
    inputs = read_inputs(spark, lake, cfg, as_of)
    step_needs = needs()

    def build_step(name: str, step) -> int | None:
        start = time.perf_counter()
        table_df = step(inputs, cfg)
        if table_df is None:
            return None
        table_df = table_df.persist()
        rows = table_df.count()
        lake.overwrite(table_df, f"gold.{name}", partition_by=["as_of"],
                       replace_where=f"as_of = DATE'{as_of.isoformat()}'")
        inputs.tables[name] = table_df      # read by the steps that need it, once written
        log.info("gold.%s: %d rows in %.1f s", name, rows, time.perf_counter() - start)
        return rows

    tasks = {name: (functools.partial(build_step, name, step), step_needs.get(name, ()))
             for name, step in steps()}
    try:
        rows_by_table = run_graph(tasks, cfg.spark.concurrency)
    finally:
        for name, _ in steps():
            if name in inputs.tables:
                inputs.tables[name].unpersist()
    written = {f"gold.{name}": rows for name, rows in rows_by_table.items() if rows is not None}
    return written | inputs.excluded
