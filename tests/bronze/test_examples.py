"""The example sources in conf/examples/ on the real data sets in ../shared/data/.

Expected figures are the data sets' published ones (../shared/data/README.md), not ours.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from crm_spark import bronze
from tests.conftest import PROJECT, SHARED_DATA

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")]

ONLINE_RETAIL_ROWS = 541_909
ONLINE_RETAIL_REVENUE = Decimal("9747747.93")
TELCO_ROWS, TELCO_CHURNED = 7_043, 1_869


def example(name: str) -> str:
    return (PROJECT / "conf" / "examples" / name).read_text()


def test_online_retail_reconciles_rows_and_revenue_to_the_cent(landing, ctx):
    folder = SHARED_DATA / "online_retail"
    cfg = landing.config(example("online_retail.yml"), [
        f"sources.retail_order_lines.location={folder}",
        "sources.retail_orders.enabled=false", "sources.retail_products.enabled=false"])
    bronze.build(landing.spark, cfg, ctx)
    lake = landing.lake(cfg)
    log = lake.read("bronze._ingest_log").collect()
    assert sum(r.rows_read for r in log) == ONLINE_RETAIL_ROWS
    kept = lake.read("bronze.retail_order_lines")
    quarantined = lake.read("bronze._quarantine").count() if lake.exists("bronze._quarantine") else 0
    assert kept.count() + quarantined == ONLINE_RETAIL_ROWS
    assert quarantined == 0
    revenue = kept.select(F.sum(F.col("Quantity") * F.col("UnitPrice"))).first()[0]
    assert revenue.quantize(Decimal("0.01")) == ONLINE_RETAIL_REVENUE


def test_telco_loads_every_customer_with_the_churn_flag(landing, ctx):
    cfg = landing.config(example("telco_churn.yml"),
                         [f"sources.telco_customers.location={SHARED_DATA / 'telco_churn'}"])
    bronze.build(landing.spark, cfg, ctx)
    customers = landing.lake(cfg).read("bronze.telco_customers")
    assert customers.count() == TELCO_ROWS
    assert customers.where("Churn = 'Yes'").count() == TELCO_CHURNED
    assert customers.where("TotalCharges IS NULL").count() == 11  # the blank ' ' values


def test_example_files_are_valid_configuration(tmp_path):
    from crm_spark.sources.registry import load_sources
    from tests.conftest import make_config

    for name in ("online_retail.yml", "telco_churn.yml", "person_dedupe.yml"):
        cfg = make_config(tmp_path, conf_files=[Path(PROJECT / "conf" / "examples" / name)])
        assert load_sources(cfg)
