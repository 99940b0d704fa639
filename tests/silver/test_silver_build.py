"""The silver build from bronze rows written inline: the latest version of a record wins, a
re-run with nothing new in bronze changes nothing, an older re-export does not overwrite a
newer record, and store sales become orders whose total is the sum of their lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark import silver
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake
from tests.conftest import make_config

CRM = ("contact_id STRING, first_name STRING, last_name STRING, email STRING, phone STRING, street STRING, "
       "city STRING, postcode STRING, birth_date DATE, created_at TIMESTAMP, updated_at TIMESTAMP")
POS = ("txn_id STRING, member_id STRING, store_id STRING, txn_ts TIMESTAMP, line_no INT, sku STRING, "
       "quantity INT, unit_price DECIMAL(14,3)")
T0, T1, T2 = (dt.datetime(2024, 1, d, 9) for d in (1, 2, 3))


def bronze(spark, lake, source, schema, rows, batch_id):
    df = spark.createDataFrame(rows, schema).withColumns({
        "_source": F.lit(source), "_source_file": F.lit(f"{source}-{batch_id}.csv"),
        "_ingested_at": F.lit(dt.datetime(2024, 2, 1 + batch_id)).cast("timestamp"),
        "_batch_id": F.lit(batch_id).cast("bigint")})
    lake.append(df, f"bronze.{source}")


def crm(contact_id, email, updated, first="Ava"):
    return (contact_id, first, "Wood", email, None, None, "Leeds", "ls1 4ab", None, T0, updated)


@pytest.fixture
def setup(spark, tmp_path):
    cfg = make_config(tmp_path)
    return cfg, Lake(spark, cfg.lake.root)


def build(spark, cfg, day):
    return silver.build(spark, cfg, RunContext(f"run-{day}", dt.datetime(2024, 3, day, tzinfo=dt.UTC)))


def contacts(lake):
    return {r["source_id"]: (r["email"], r["postcode"]) for r in lake.read("silver.contacts").collect()}


def test_latest_version_wins_and_reruns_change_nothing(spark, setup):
    cfg, lake = setup
    bronze(spark, lake, "crm_contacts", CRM, [
        crm("c1", "ava@old.org", T0), crm("c1", "AVA@new.org", T1), crm("c2", "ben@x.org", T0, "Ben")], 0)
    assert build(spark, cfg, 1) == {"silver.contacts": 2}
    assert contacts(lake) == {"c1": ("ava@new.org", "LS1 4AB"), "c2": ("ben@x.org", "LS1 4AB")}

    before = lake.read("silver.contacts").localCheckpoint()
    version = lake.version("silver.contacts")
    assert build(spark, cfg, 2) == {}
    assert lake.version("silver.contacts") == version
    assert_df_equality(lake.read("silver.contacts"), before, ignore_row_order=True)

    # a later batch re-exports c1's oldest version (must not win) and brings c3
    bronze(spark, lake, "crm_contacts", CRM,
           [crm("c1", "ava@old.org", T0), crm("c3", "cat@x.org", T2, "Cat")], 1)
    assert build(spark, cfg, 3) == {"silver.contacts": 2}
    assert contacts(lake) == {"c1": ("ava@new.org", "LS1 4AB"), "c2": ("ben@x.org", "LS1 4AB"),
                              "c3": ("cat@x.org", "LS1 4AB")}


def test_store_sales_become_orders_and_lines(spark, setup):
    cfg, lake = setup
    bronze(spark, lake, "pos_transactions", POS, [
        ("t1", "m1", "s1", T0, 1, "A", 2, Decimal("1.500")),
        ("t1", "m1", "s1", T0, 2, "B", -1, Decimal("0.250")),   # a returned item reduces the total
        ("t2", None, "s1", T1, 1, "A", 1, Decimal("1.500")),    # anonymous sale
    ], 0)
    build(spark, cfg, 1)
    orders = lake.read("silver.orders").select(
        "channel", "order_id", "customer_source", "customer_ref", "total")
    expected = spark.createDataFrame(
        # t1: 2 x 1.500 - 1 x 0.250 = 2.75
        [("store", "t1", "loyalty_members", "m1", Decimal("2.75")), ("store", "t2", "loyalty_members", None,
                                                                     Decimal("1.50"))],
        "channel STRING, order_id STRING, customer_source STRING, customer_ref STRING, total DECIMAL(14,2)")
    assert_df_equality(orders, expected, ignore_row_order=True, ignore_nullable=True)
    lines = lake.read("silver.order_lines").select("order_id", "line_no", "amount")
    assert sorted(tuple(r) for r in lines.collect()) == [
        ("t1", 1, Decimal("3.000")), ("t1", 2, Decimal("-0.250")), ("t2", 1, Decimal("1.500"))]
