"""An orders-only export (customer, day, amount, quantity: no order id, no lines) through every
stage to the report (issue 20, points 2 and 6): revenue comes from the order totals,
recommendations and affinity are skipped in one line each, and the rules that leave orders or
customers out of gold and the models are logged and recorded in ``ops.runs``.

The file is written here: customer ``a00`` buys 10.50 on Jan 1, 2024 and every 10 days to
Jun 29 (19 orders); ``b01``..``b39`` buy at their own pace and some stop (a seeded draw, so
CLV has something to fit and churn has both classes); ``z1`` and ``z2`` have only
zero-valued orders (free samples); one guest order has no customer.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from crm_spark import pipeline
from crm_spark.report import build_report
from tests.bronze.conftest import Landing

SOURCES = """
sources:
  sales_export:
    channel: shop
    entity: order
    format: csv
    location: export
    options: {header: true}
    schema: customer STRING, day DATE, amount DECIMAL(12,2), quantity INT
    required: [day, amount]
    customer_source: export_customers
    mapping: {order_id: _row_id, customer_ref: customer, order_ts: day, total: amount}
  export_customers:
    channel: shop
    entity: contact
    format: csv
    location: export
    options: {header: true}
    schema: customer STRING, day DATE, amount DECIMAL(12,2), quantity INT
    required: [customer, day]
    mapping: {source_id: customer, created_at: day, updated_at: day}
"""
FIRST, LAST = dt.date(2023, 7, 1), dt.date(2024, 6, 30)
SETTINGS = ["identity.probabilistic=false", "models.churn_horizon_days=60", "models.churn_validation_days=60",
            "models.churn_max_candidates=1"]
ZERO_VALUED = "customers without a purchase"
GUESTS = "orders without a customer"

pytestmark = pytest.mark.integration


def export() -> str:
    lines = ["customer,day,amount,quantity"]
    day = dt.date(2024, 1, 1)
    while day <= LAST:
        lines.append(f"a00,{day},10.50,1")
        day += dt.timedelta(days=10)
    for n in range(1, 40):
        draw = random.Random(n)
        mean_gap, spend = draw.choice([7, 15, 30, 60, 120]), draw.choice([5, 20, 80])
        day = FIRST + dt.timedelta(days=draw.randint(0, 120))
        stop = min(LAST, day + dt.timedelta(days=draw.randint(20, 500)))
        while day <= stop:
            lines.append(f"b{n:02d},{day},{spend + draw.randint(0, 900) / 100:.2f},{draw.randint(1, 3)}")
            day += dt.timedelta(days=max(1, round(draw.expovariate(1 / mean_gap))))
    lines += ["z1,2024-02-01,0.00,1", "z1,2024-04-01,0.00,1", "z2,2024-05-05,0.00,2",
              ",2024-06-01,8.00,1"]
    return "\n".join(lines) + "\n"


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def orders_only(spark, tmp_path_factory):
    """(config, lake, stage reports, log lines, report summary) of the export run through
    every stage (ingest to score), then the report."""
    landing = Landing(tmp_path_factory.mktemp("orders_only"), spark)
    landing.drop("export", "sales.csv", export())
    cfg = landing.config(SOURCES, SETTINGS)
    handler = Lines()
    logger = logging.getLogger("crm_spark")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        ctx = pipeline.RunContext("orders-only", dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
        reports = pipeline.run_stages(spark, cfg, ctx, pipeline.stages())
        summary = build_report(spark, cfg.lake.root, str(landing.root / "report.html"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return cfg, landing.lake(cfg), reports, handler.messages, summary


def test_an_orders_only_export_reaches_the_report(orders_only):
    cfg, lake, reports, messages, summary = orders_only
    assert not lake.exists("silver.order_lines")
    written = {r.name: r.tables for r in reports}
    assert written["train"]["model clv version"] == 1
    assert written["train"]["model churn version"] == 1
    assert "model recs version" not in written["train"]
    # 40 buyers; revenue from the order totals: a00 bought on Jan 1 and every 10 days to Jun 29,
    # 19 orders of 10.50
    assert lake.read("gold.rfm").count() == 40
    a00 = (lake.read("silver.identity_map").where(F.col("source_id") == "a00")
           .join(lake.read("gold.rfm"), on="customer_id", how="inner")
           .select("frequency", "monetary").first())
    assert (a00["frequency"], a00["monetary"]) == (19, Decimal("199.50"))
    assert {"clv", "churn", "rfm", "cohorts", "kpis"} <= set(summary.sections)
    skips = [m for m in messages if " skipped: " in m and "order lines" in m]
    assert len(skips) == 2, skips
    assert any(m.startswith("gold.product_affinity skipped") for m in skips)
    assert any(m.startswith("crm_recs skipped") for m in skips)


def test_rows_left_out_by_a_rule_are_logged_and_recorded(orders_only):
    cfg, lake, reports, messages, _ = orders_only
    runs = {r["stage"]: r["rows_written"] for r in lake.read("ops.runs").collect()}
    # z1 and z2: orders, but none with revenue > 0; one guest order
    assert runs["gold"][f"gold.rfm excluded: {ZERO_VALUED}"] == 2
    assert runs["train"][f"crm_clv excluded: {ZERO_VALUED}"] == 2
    assert runs["train"][f"crm_churn excluded: {ZERO_VALUED}"] == 2
    assert runs["train"][f"crm_clv excluded: {GUESTS}"] == 1
    assert "crm_clv excluded 2 customers without a purchase: every order of theirs has revenue <= 0 " \
        "(zero-valued or cancelled)" in messages
