"""The shipped expectations and ops.runs on the demo lake (400 persons through every stage)."""

import datetime as dt

import pytest
from delta.tables import DeltaTable

from crm_spark import ops, quality
from crm_spark.errors import CrmSparkError
from crm_spark.pipeline import RunContext, stages

pytestmark = pytest.mark.integration


def test_shipped_expectations_pass_on_demo_data(demo_lake):
    _, lake, _ = demo_lake
    results = lake.read(quality.RESULTS).filter("run_id = 'demo'").collect()
    failed = [(r["table"], r["expectation"], r["observed"]) for r in results if not r["passed"]]
    assert failed == []
    evaluated = {(r["stage"], r["table"]) for r in results}
    assert {("silver", "silver.contacts"), ("silver", "silver.orders"), ("resolve", "silver.identity_map"),
            ("resolve", "silver.customers"), ("resolve", "silver.orders"), ("gold", "gold.rfm"),
            ("gold", "gold.customer_360"), ("score", "gold.customer_360")} <= evaluated


def test_every_stage_left_a_run_record_with_versions(demo_lake):
    _, lake, _ = demo_lake
    records = {r["stage"]: r for r in lake.read(ops.RUNS).filter("run_id = 'demo'").collect()}
    assert sorted(records) == sorted(s.name for s in stages())
    assert {r["status"] for r in records.values()} == {"succeeded"}
    assert records["ingest"]["input_versions"] == {}
    assert records["ingest"]["output_versions"].keys() >= {"bronze.crm_contacts", "bronze.shop_orders"}
    # lineage: gold read silver.orders at the version resolve left it (customer ids set)
    orders_after_resolve = records["resolve"]["output_versions"]["silver.orders"]
    assert records["gold"]["input_versions"]["silver.orders"] == orders_after_resolve
    assert orders_after_resolve > records["silver"]["output_versions"]["silver.orders"]
    # the quality result of gold.rfm names the version the gold stage wrote
    rfm = lake.read(quality.RESULTS).filter("run_id = 'demo' AND table = 'gold.rfm'").first()
    assert rfm["table_version"] == records["gold"]["output_versions"]["gold.rfm"]


def test_silver_keys_carry_not_null_constraints(demo_lake, spark):
    _, lake, _ = demo_lake
    keys = {"silver.contacts": ("source", "source_id"), "silver.orders": ("channel", "order_id"),
            "silver.identity_map": ("customer_id",), "silver.customers": ("customer_id",)}
    for table, columns in keys.items():
        properties = DeltaTable.forPath(spark, lake.path(table)).detail().first()["properties"]
        assert {f"delta.constraints.{c}_not_null" for c in columns} <= set(properties), table


def test_on_demand_check_of_one_table(demo_lake, spark):
    cfg, lake, _ = demo_lake
    ctx = RunContext("check1", dt.datetime(2025, 1, 2, tzinfo=dt.UTC), cfg.generate.end_date)
    results = quality.evaluate_declared(spark, cfg, ctx, "silver.orders")
    assert {r.expectation.name for r in results} == {e.name for e in cfg.quality.tables["silver.orders"]}
    assert all(r.check.passed for r in results)
    recorded = lake.read(quality.RESULTS).filter("run_id = 'check1'").collect()
    assert {r["stage"] for r in recorded} == {"check"} and len(recorded) == len(results)
    latest = {r["expectation"]: r["run_id"] for r in quality.latest_results(lake, "silver.orders").collect()}
    assert set(latest.values()) == {"check1"}
    with pytest.raises(CrmSparkError, match="silver.web_events: no expectations declared"):
        quality.evaluate_declared(spark, cfg, ctx, "silver.web_events")
