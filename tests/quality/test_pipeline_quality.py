"""Expectations and ops.runs inside run_stages: a failing ``fail`` expectation stops the run
before the next stage, ``warn`` records and goes on, every stage leaves a run record."""

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from crm_spark import ops, pipeline, quality
from crm_spark.errors import CrmSparkError, DataQualityError
from crm_spark.pipeline import RunContext, Stage
from crm_spark.tables import Lake
from tests.conftest import make_config

CTX = RunContext("r1", dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.UTC), dt.date(2024, 12, 31))
ORDERS = "silver.orders"


def config(tmp_path, policy):
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "quality:\n  tables:\n    silver.orders:\n"
        f"      - {{kind: unique, columns: [channel, order_id], policy: {policy}}}\n"
        "      - {kind: not_null, column: order_id}\n")
    return make_config(tmp_path, conf_files=[rules])


def orders_stage(rows):
    def build(spark, cfg, ctx):
        lake = Lake(spark, cfg.lake.root)
        lake.append(spark.createDataFrame(rows, "channel STRING, order_id STRING, total INT"), ORDERS)
        return {ORDERS: len(rows)}
    return Stage("silver", build, "test orders", ("bronze",), ("silver",))


def gold_stage():
    def build(spark, cfg, ctx):
        Lake(spark, cfg.lake.root).overwrite(spark.createDataFrame([(1,)], "n INT"), "gold.x")
        return {"gold.x": 1}
    return Stage("gold", build, "test gold", ("silver",), ("gold",))


DUPLICATED = [("web", "O1", 5), ("web", "O1", 7), ("store", "O1", 9)]


def runs(lake):
    return {r["stage"]: r for r in lake.read(ops.RUNS).filter("run_id = 'r1'").collect()}


def test_failing_fail_expectation_stops_before_gold_and_leaves_it_untouched(spark, tmp_path):
    cfg = config(tmp_path, "fail")
    lake = Lake(spark, cfg.lake.root)
    lake.overwrite(spark.createDataFrame([(1,)], "n INT"), "gold.sales")   # an earlier gold table
    real_gold = next(s for s in pipeline.stages() if s.name == "gold")

    with pytest.raises(DataQualityError) as err:
        pipeline.run_stages(spark, cfg, CTX, [orders_stage(DUPLICATED), real_gold])

    assert str(err.value) == ("silver.orders: expectation unique_channel_order_id (unique) failed: "
                              "2 failing rows of 3; see quality.results")
    assert lake.log_versions(["gold"]) == {"gold.sales": 0}            # nothing new, nothing changed
    results = {r["expectation"]: r for r in lake.read(quality.RESULTS).collect()}
    unique = results["unique_channel_order_id"]
    assert (unique["run_id"], unique["stage"], unique["table"], unique["table_version"]) == \
        ("r1", "silver", ORDERS, 0)
    assert (unique["passed"], unique["failing_rows"], unique["rows_checked"], unique["policy"]) == \
        (False, 2, 3, "fail")
    assert json.loads(unique["sample"]) == [{"channel": "web", "order_id": "O1", "rows": 2}]
    assert unique["evaluated_at"] == dt.datetime(2025, 1, 2, 3, 4)
    assert (results["not_null_order_id"]["passed"], results["not_null_order_id"]["failing_rows"]) == (True, 0)
    record = runs(lake)["silver"]
    assert (record["status"], record["output_versions"], record["rows_written"]) == \
        ("failed", {ORDERS: 0}, {ORDERS: 3})
    assert record["error"] == str(err.value)
    assert set(runs(lake)) == {"silver"}


def test_failing_warn_expectation_is_recorded_and_the_run_goes_on(spark, tmp_path):
    cfg = config(tmp_path, "warn")
    lake = Lake(spark, cfg.lake.root)
    reports = pipeline.run_stages(spark, cfg, CTX, [orders_stage(DUPLICATED), gold_stage()])
    assert [r.name for r in reports] == ["silver", "gold"]
    failed = lake.read(quality.RESULTS).filter("NOT passed").collect()
    assert [(r["expectation"], r["policy"], r["failing_rows"]) for r in failed] == \
        [("unique_channel_order_id", "warn", 2)]
    silver, gold = runs(lake)["silver"], runs(lake)["gold"]
    assert (silver["status"], silver["error"], silver["input_versions"]) == ("succeeded", None, {})
    assert (gold["status"], gold["input_versions"], gold["output_versions"], gold["rows_written"]) == \
        ("succeeded", {ORDERS: 0}, {"gold.x": 0}, {"gold.x": 1})
    assert (gold["as_of"], gold["config_digest"], gold["started_at"]) == \
        (dt.date(2024, 12, 31), cfg.digest, dt.datetime(2025, 1, 2, 3, 4))


def test_a_second_run_records_the_new_versions(spark, tmp_path):
    cfg = config(tmp_path, "warn")
    lake = Lake(spark, cfg.lake.root)
    pipeline.run_stages(spark, cfg, CTX, [orders_stage([("web", "O1", 5)])])
    ctx2 = RunContext("r2", CTX.started_at, CTX.as_of)
    pipeline.run_stages(spark, cfg, ctx2, [orders_stage([("web", "O2", 6)]), gold_stage()])
    second = {r["stage"]: r for r in lake.read(ops.RUNS).filter("run_id = 'r2'").collect()}
    assert second["silver"]["output_versions"] == {ORDERS: 1}
    assert second["gold"]["input_versions"] == {ORDERS: 1}


def test_a_failing_stage_is_recorded_and_its_error_propagates(spark, tmp_path):
    cfg = config(tmp_path, "fail")
    lake = Lake(spark, cfg.lake.root)

    def broken(spark, cfg, ctx):
        raise CrmSparkError("bronze.crm_contacts: cannot be read")

    with pytest.raises(CrmSparkError, match="cannot be read"):
        pipeline.run_stages(spark, cfg, CTX, [Stage("silver", broken, "fails", ("bronze",), ("silver",)),
                                              gold_stage()])
    record = runs(lake)["silver"]
    assert (record["status"], record["error"], record["output_versions"]) == \
        ("failed", "bronze.crm_contacts: cannot be read", {})
    assert not lake.exists("gold.x")


def test_quality_can_be_switched_off(spark, tmp_path):
    cfg = make_config(tmp_path, ["quality.enabled=false"], conf_files=[config(tmp_path, "fail").files[-1]])
    pipeline.run_stages(spark, cfg, CTX, [orders_stage(DUPLICATED)])
    assert not Lake(spark, cfg.lake.root).exists(quality.RESULTS)


def test_not_null_constraint_refuses_a_null_key_in_one_line(spark, lake):
    lake.append(spark.createDataFrame([("a", 1)], "k STRING, v INT"), "silver.t")
    lake.ensure_not_null("silver.t", ["k"])
    lake.ensure_not_null("silver.t", ["k"])                     # already there: no new version
    assert lake.log_version("silver.t") == 1
    with pytest.raises(DataQualityError, match=r"silver.t: write refused: .*CHECK constraint k_not_null"):
        lake.merge_upsert(spark.createDataFrame([(None, 2)], "k STRING, v INT"), "silver.t", ["k"])
    assert lake.log_version("silver.t") == 1
    assert lake.read("silver.t").count() == 1


def test_constraint_on_a_column_that_already_holds_nulls_is_refused(spark, lake):
    lake.append(spark.createDataFrame([(None, 1)], "k STRING, v INT"), "silver.t")
    with pytest.raises(DataQualityError, match="constraint k_not_null cannot be added"):
        lake.ensure_not_null("silver.t", ["k"])


def test_log_versions_lists_every_table_of_the_layers(spark, lake):
    frame = spark.createDataFrame([(1,)], "n INT")
    lake.append(frame, "silver.a")
    lake.append(frame, "silver.a")
    lake.append(frame, "gold.b")
    assert lake.log_versions(["silver", "gold", "features"]) == {"silver.a": 1, "gold.b": 0}
    assert lake.log_version("silver.a") == lake.version("silver.a") == 1
    assert lake.log_version("silver.none") is None


def test_a_new_table_gets_its_not_null_constraints_in_its_first_commit(spark, lake):
    lake.merge_upsert(spark.createDataFrame([("a", 1)], "k STRING, v INT"), "silver.t", ["k"], not_null=["k"])
    assert lake.log_version("silver.t") == 1                   # created with the constraint, appended
    lake.ensure_not_null("silver.t", ["k"])                     # already there: no new version
    assert lake.log_version("silver.t") == 1
    with pytest.raises(DataQualityError, match=r"silver.t: write refused: .*CHECK constraint k_not_null"):
        lake.merge_upsert(spark.createDataFrame([(None, 2)], "k STRING, v INT"), "silver.t", ["k"])
    lake.sync(spark.createDataFrame([("b",)], "k STRING"), "silver.s", ["k"], compare=["k"], not_null=["k"])
    with pytest.raises(DataQualityError, match="CHECK constraint k_not_null"):
        lake.append(spark.createDataFrame([(None,)], "k STRING"), "silver.s")
    assert [r.k for r in lake.read("silver.s").collect()] == ["b"]


def test_a_first_batch_with_a_null_key_writes_nothing(spark, lake):
    with pytest.raises(DataQualityError, match="CHECK constraint k_not_null"):
        lake.merge_upsert(spark.createDataFrame([(None, 1)], "k STRING, v INT"), "silver.t", ["k"],
                          not_null=["k"])
    assert lake.read("silver.t").count() == 0


def test_a_table_created_with_constraints_keeps_its_other_columns_nullable(spark, lake):
    first = spark.createDataFrame([("a",)], "k STRING").withColumn("v", F.lit(1))   # v: not null here
    lake.merge_upsert(first, "silver.t", ["k"], not_null=["k"])
    lake.merge_upsert(spark.createDataFrame([("b", None)], "k STRING, v INT"), "silver.t", ["k"])
    assert sorted((r.k, r.v) for r in lake.read("silver.t").collect()) == [("a", 1), ("b", None)]
