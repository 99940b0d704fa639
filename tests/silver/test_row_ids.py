"""Orders from an export without an order id (issue 20, point 1): ``order_id: _row_id`` gives
each row an id from its values; an exact repeat within a file is kept as its own order and
counted; the same rows landed again in another file add nothing; an order source that maps no
order id is refused at load with the way out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm_spark import bronze, silver
from crm_spark.errors import ConfigError
from crm_spark.pipeline import RunContext
from crm_spark.sources.registry import load_sources
from tests.bronze.conftest import Landing

SOURCES = """
sources:
  sales_export:
    channel: shop
    entity: order
    format: csv
    location: shop
    options: {header: true}
    schema: customer STRING, day DATE, amount DECIMAL(12,2), quantity INT
    required: [day, amount]
    mapping: {order_id: %s, customer_ref: customer, order_ts: day, total: amount}
"""
EXPORT = """customer,day,amount,quantity
c1,2024-01-05,10.00,1
c1,2024-01-05,10.00,1
c2,2024-01-06,5.50,2
,2024-01-07,3.00,1
"""
REPEATED = "silver.orders repeated rows kept (sales_export)"


@pytest.fixture
def landing(spark, tmp_path) -> Landing:
    return Landing(tmp_path, spark)


def run(landing: Landing, cfg, day: int) -> dict[str, int]:
    ctx = RunContext(f"run-{day}", dt.datetime(2024, 3, day, tzinfo=dt.UTC))
    bronze.build(landing.spark, cfg, ctx)
    return silver.build(landing.spark, cfg, ctx)


def orders(landing: Landing, cfg) -> list[tuple]:
    rows = landing.lake(cfg).read("silver.orders").select("order_id", "customer_ref", "total").collect()
    return sorted((r["customer_ref"] or "", r["total"]) for r in rows), {r["order_id"] for r in rows}


def test_an_export_without_order_id_gets_one_per_row(landing):
    cfg = landing.config(SOURCES % "_row_id")
    landing.drop("shop", "export-1.csv", EXPORT)

    written = run(landing, cfg, 1)
    # the exact repeat of c1's row is a second order, and is counted
    assert written["silver.orders"] == 4
    assert written[REPEATED] == 1
    totals, ids = orders(landing, cfg)
    assert totals == [("", Decimal("3.00")), ("c1", Decimal("10.00")), ("c1", Decimal("10.00")),
                      ("c2", Decimal("5.50"))]
    assert len(ids) == 4 and None not in ids

    # the same export landed again under another name: the same ids, no new order
    landing.drop("shop", "export-2.csv", EXPORT)
    run(landing, cfg, 2)
    assert orders(landing, cfg) == (totals, ids)


def test_a_key_expression_makes_equal_keys_one_order(landing):
    cfg = landing.config(SOURCES % '"concat_ws(\'|\', customer, cast(day AS STRING))"')
    landing.drop("shop", "export-1.csv", EXPORT)
    written = run(landing, cfg, 1)
    assert REPEATED not in written
    totals, ids = orders(landing, cfg)
    assert totals == [("", Decimal("3.00")), ("c1", Decimal("10.00")), ("c2", Decimal("5.50"))]
    assert ids == {"2024-01-07", "c1|2024-01-05", "c2|2024-01-06"}


def test_an_order_source_without_order_id_is_refused_with_the_way_out(landing):
    cfg = landing.config((SOURCES % "_row_id").replace("order_id: _row_id, ", ""))
    with pytest.raises(ConfigError, match=r"sources\.sales_export\.mapping\.order_id: .*_row_id"):
        load_sources(cfg)
