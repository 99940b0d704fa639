"""README "Your own data": init, check-config and run, as printed, on the Online Retail export
give the example config's sources and figures. The run is shared with
tests/gold/test_online_retail.py (the ``own_data_retail`` fixture)."""

from __future__ import annotations

import csv
import gzip
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from crm_spark.tables import Lake
from tests.conftest import PROJECT, SHARED_DATA
from tests.support.own_data import readme_commands

FOLDER = SHARED_DATA / "online_retail"
CHECKED_ROWS = 9_999       # check-config reads 10,000 lines: the header and 9,999 rows


def test_the_readme_gives_three_commands_from_the_export_to_the_report():
    assert readme_commands() == [
        ".venv/bin/crm-spark init --from ../shared/data/online_retail/online_retail.csv.gz --out my.yml",
        ".venv/bin/crm-spark --conf my.yml check-config",
        ".venv/bin/crm-spark --conf my.yml run",
    ]


@pytest.mark.integration
def test_init_proposes_the_sources_of_the_online_retail_example(own_data_retail):
    proposed = yaml.safe_load((own_data_retail.folder / "my.yml").read_text())
    example = yaml.safe_load((PROJECT / "conf" / "examples" / "online_retail.yml").read_text())

    def renamed(name: str | None) -> str | None:
        return name and name.replace("retail_", "online_retail_", 1)

    assert sorted(proposed["sources"]) == sorted(renamed(n) for n in example["sources"])
    for name, spec in example["sources"].items():
        mine = proposed["sources"][renamed(name)]
        assert mine["location"] == str(FOLDER.resolve())
        for key in ("entity", "format", "options", "formats", "required", "mapping"):
            assert mine.get(key) == spec.get(key), (name, key)
        assert mine.get("customer_source") == renamed(spec.get("customer_source")), name
        assert re.sub(r"\s+", " ", mine["schema"]) == re.sub(r"\s+", " ", spec["schema"]), name
    assert proposed["identity"] == {"probabilistic": False, "source_trust": ["online_retail_customers"]}


@pytest.mark.integration
def test_check_config_shows_the_guest_lines_the_customers_source_quarantines(own_data_retail):
    with gzip.open(FOLDER / "online_retail.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = [row for _, row in zip(range(CHECKED_ROWS), csv.DictReader(f), strict=False)]
    guests = [r for r in rows if not r["CustomerID"]]
    _, printed, _ = own_data_retail.outputs[1]

    lines = printed.splitlines()
    assert (f"online_retail_customers (contact, csv): {CHECKED_ROWS:,} sample rows of 1 file(s): "
            f"{CHECKED_ROWS - len(guests):,} kept, {len(guests):,} would be quarantined, 0 values of "
            "kept rows would be quarantined (and nulled)") in lines
    assert f"  {len(guests):>8,}  CustomerID: required value missing" in lines
    for name, entity in (("order_lines", "order_line"), ("orders", "order"), ("products", "product")):
        assert (f"online_retail_{name} ({entity}, csv): {CHECKED_ROWS:,} sample rows of 1 file(s): "
                f"{CHECKED_ROWS:,} kept, 0 would be quarantined, 0 values of kept rows would be "
                "quarantined (and nulled)") in lines
    assert lines[-1] == "check-config: 4 source(s) checked; nothing was written"


@pytest.mark.integration
def test_the_run_gives_the_revenue_and_rfm_customers_of_the_example(own_data_retail, spark):
    from tests.gold.test_online_retail import expected_figures

    _, _, purchasers = expected_figures()
    lake = Lake(spark, str(own_data_retail.folder / "lake"))
    months = lake.read("gold.kpi_monthly").filter(F.col("channel") == "all")
    _, printed, _ = own_data_retail.outputs[2]

    assert months.agg(F.sum("revenue")).first()[0] == Decimal("9747747.93")   # ../shared/data/README.md
    assert lake.read("gold.rfm").count() == purchasers
    report = re.search(r"^report: (\S+\.html)", printed, re.M).group(1)
    assert Path(report).is_file() and Path(report).is_relative_to(own_data_retail.folder.resolve())


@pytest.mark.integration
def test_recommendations_say_they_leave_out_customers_without_consent(own_data_retail, spark):
    # The export has no consent source, so no customer consents to e-mail and
    # gold.recommendations has no row; before, score wrote it empty without a word.
    lake = Lake(spark, str(own_data_retail.folder / "lake"))
    customers = lake.read("silver.customers").count()
    score = lake.read("ops.runs").filter(F.col("stage") == "score").first()
    _, printed, _ = own_data_retail.outputs[2]

    assert lake.read("gold.recommendations").count() == 0
    entry = "gold.recommendations excluded: customers without e-mail consent"
    assert score["rows_written"][entry] == customers
    assert re.search(rf"^score\s+{re.escape(entry)}\s+{customers:,}\s*$", printed, re.M), printed
