"""Every lake table is in the catalog as layer.table in a session built for SQL, at the lake's
current root when the lake was copied (issue 23, D79); sessions that address tables by path,
the stages' among them, pay nothing for it (D87)."""

from __future__ import annotations

import datetime as dt
import shutil

from pyspark.sql import Row

from crm_spark import pipeline
from crm_spark.spark import build_spark
from crm_spark.sql.catalog import register_lake
from crm_spark.tables import Lake
from tests.conftest import make_config

CUSTOMERS = [Row(customer_id="C1", name="Ada"), Row(customer_id="C2", name="Bo")]


def write_small_lake(spark, root) -> Lake:
    lake = Lake(spark, str(root))
    lake.overwrite(spark.createDataFrame(CUSTOMERS), "gold.customer_360")
    lake.overwrite(spark.createDataFrame([Row(order_id="O1", total=9.5)]), "silver.orders")
    (root / "gold" / "scratch").mkdir(parents=True)       # a folder that is no Delta table
    (root / "gold" / "scratch" / "notes.txt").write_text("not a table")
    return lake


def names(rows) -> list[tuple]:
    return sorted(tuple(r) for r in rows)


def test_a_session_built_with_the_catalog_finds_every_table_by_layer_and_name(spark, tmp_path):
    write_small_lake(spark, tmp_path / "lake")
    session = build_spark(make_config(tmp_path), catalog=True)
    assert names(session.table("gold.customer_360").collect()) == [("C1", "Ada"), ("C2", "Bo")]
    assert session.sql("SELECT total FROM silver.orders WHERE order_id = 'O1'").first()[0] == 9.5
    assert [t.name for t in session.catalog.listTables("gold")] == ["customer_360"]
    assert {"gold", "silver"} <= {d.name for d in session.catalog.listDatabases()}
    assert session.catalog.getTable("gold.customer_360").tableType == "EXTERNAL"


def test_a_copied_lake_is_registered_at_its_new_root_and_the_old_one_can_go(spark, tmp_path):
    old, new = tmp_path / "old" / "lake", tmp_path / "new" / "lake"
    write_small_lake(spark, old)
    assert register_lake(spark, str(old)) == ["gold.customer_360", "silver.orders"]
    shutil.copytree(old, new)
    shutil.rmtree(old)
    assert register_lake(spark, str(new)) == ["gold.customer_360", "silver.orders"]
    assert names(spark.table("gold.customer_360").collect()) == [("C1", "Ada"), ("C2", "Bo")]
    location = spark.sql("DESCRIBE TABLE EXTENDED gold.customer_360").where("col_name = 'Location'")
    assert location.first()["data_type"] == f"file:{new}/gold/customer_360"
    assert register_lake(spark, str(new)) == []          # already there: nothing read again


def test_a_plain_session_and_a_run_of_stages_leave_the_catalog_alone(spark, tmp_path):
    cfg = make_config(tmp_path)
    Lake(spark, cfg.lake.root).overwrite(spark.createDataFrame(CUSTOMERS), "gold.read_by_path")
    session = build_spark(cfg)
    assert not session.catalog.tableExists("gold.read_by_path")

    def build(spark, cfg, ctx):
        Lake(spark, cfg.lake.root).overwrite(spark.createDataFrame([Row(day="2024-01-01", n=3)]),
                                             "gold.new_kpis")
        return {"gold.new_kpis": 1}

    stage = pipeline.Stage("gold", build, "a table of one row", writes=("gold",))
    ctx = pipeline.RunContext("sql", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.date(2024, 12, 31))
    pipeline.run_stages(session, cfg, ctx, [stage])
    assert not session.catalog.tableExists("gold.new_kpis")
    assert register_lake(session, cfg.lake.root) == ["gold.new_kpis", "gold.read_by_path", "ops.runs"]
    assert names(session.table("gold.new_kpis").collect()) == [("2024-01-01", 3)]
