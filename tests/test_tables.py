import re

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row

from crm_spark.errors import CrmSparkError, TableNotFoundError
from crm_spark.tables import Txn

SCHEMA = "id INT, name STRING, updated INT"


def rows(spark, *data):
    return spark.createDataFrame(list(data), SCHEMA)


def test_path_follows_layer_and_table(lake):
    assert lake.path("silver.contacts") == f"{lake.root}/silver/contacts"
    with pytest.raises(CrmSparkError, match="not a table name"):
        lake.path("contacts")


def test_read_of_missing_table_says_which(lake):
    with pytest.raises(TableNotFoundError, match="silver.nothing does not exist"):
        lake.read("silver.nothing")


def test_overwrite_replaces_and_time_travel_reads_old_version(spark, lake):
    lake.overwrite(rows(spark, (1, "a", 1)), "silver.t")
    lake.overwrite(rows(spark, (2, "b", 1)), "silver.t")
    assert_df_equality(lake.read("silver.t"), rows(spark, (2, "b", 1)))
    assert_df_equality(lake.read("silver.t", version=0), rows(spark, (1, "a", 1)))
    assert lake.version("silver.t") == 1


def test_append_with_same_txn_is_written_once(spark, lake):
    batch = rows(spark, (1, "a", 1), (2, "b", 1))
    lake.append(batch, "bronze.t", txn=Txn("ingest:test", 0))
    lake.append(batch, "bronze.t", txn=Txn("ingest:test", 0))  # a retried batch
    lake.append(rows(spark, (3, "c", 1)), "bronze.t", txn=Txn("ingest:test", 1))
    expected = rows(spark, (1, "a", 1), (2, "b", 1), (3, "c", 1))
    assert_df_equality(lake.read("bronze.t"), expected, ignore_row_order=True)


def test_merge_upsert_inserts_updates_and_respects_condition(spark, lake):
    lake.merge_upsert(rows(spark, (1, "a", 1), (2, "b", 1)), "silver.m", keys=["id"])
    lake.merge_upsert(rows(spark, (2, "B", 2), (3, "c", 1), (1, "stale", 0)), "silver.m",
                      keys=["id"], update_condition="s.updated > t.updated")
    expected = rows(spark, (1, "a", 1), (2, "B", 2), (3, "c", 1))
    assert_df_equality(lake.read("silver.m"), expected, ignore_row_order=True)


def test_merge_retry_with_same_txn_is_skipped(spark, lake):
    lake.merge_upsert(rows(spark, (1, "a", 1)), "silver.r", keys=["id"])
    change = rows(spark, (1, "a", 2))
    lake.merge_upsert(change, "silver.r", keys=["id"], txn=Txn("silver:test", 7))
    version_after_first = lake.version("silver.r")
    lake.merge_upsert(rows(spark, (1, "zzz", 9)), "silver.r", keys=["id"],
                      txn=Txn("silver:test", 7))
    assert lake.version("silver.r") == version_after_first
    assert lake.read("silver.r").collect() == [Row(id=1, name="a", updated=2)]


def test_delete_removes_matching_rows(spark, lake):
    lake.overwrite(rows(spark, (1, "a", 1), (2, "b", 1)), "gold.d")
    lake.delete("gold.d", "id = 1")
    assert_df_equality(lake.read("gold.d"), rows(spark, (2, "b", 1)))


def test_list_tables_reports_version_rows_and_operation(spark, lake):
    lake.overwrite(rows(spark, (1, "a", 1)), "gold.x")
    lake.append(rows(spark, (2, "b", 1)), "gold.x")
    infos = {i.name: i for i in lake.list_tables()}
    assert (infos["gold.x"].version, infos["gold.x"].rows) == (1, 2)
    assert infos["gold.x"].last_operation == "WRITE"


def test_row_counts_come_from_file_statistics_and_count_deletion_vectors(spark, lake):
    from crm_spark.tables import Lake

    dv_lake = Lake(spark, lake.root, {"delta.enableDeletionVectors": "true"})
    dv_lake.overwrite(rows(spark, *[(i, "a", 1) for i in range(10)]).repartition(3), "silver.dv")
    dv_lake.append(rows(spark, (10, "b", 1), (11, "b", 1)), "silver.dv")
    dv_lake.delete("silver.dv", "id IN (0, 5, 10)")   # marks rows in place: the files keep 12 records
    lake.overwrite(rows(spark, (1, "a", 1)), "gold.one")
    lake.delete("gold.one", "id = 1")                  # every row gone: no file left

    counts = lake.row_counts(["silver.dv", "gold.one"])

    assert counts == {"silver.dv": 9, "gold.one": 0}
    assert lake.read("silver.dv").count() == 9


def test_files_without_statistics_make_the_row_count_unknown(spark, lake):
    lake.overwrite(rows(spark, (1, "a", 1), (2, "b", 1)), "gold.counted")
    lake.overwrite(rows(spark, (1, "a", 1)), "gold.unknown")
    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:
        lake.append(rows(spark, (2, "b", 1)), "gold.unknown")
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")

    infos = {i.name: i for i in lake.list_tables(["gold"])}

    assert (infos["gold.counted"].rows, infos["gold.unknown"].rows) == (2, None)
    assert (infos["gold.unknown"].version, infos["gold.unknown"].last_operation) == (1, "WRITE")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", infos["gold.unknown"].last_write)


def test_constraints_work_on_a_lake_root_given_as_a_relative_path(spark, tmp_path):
    import os

    from crm_spark.errors import DataQualityError
    from crm_spark.tables import Lake

    # `make run` uses lake.root = "lake", relative to the working directory
    relative = Lake(spark, os.path.relpath(tmp_path / "lake", os.getcwd()))
    relative.append(spark.createDataFrame([("a",)], "k STRING"), "silver.t")

    relative.ensure_not_null("silver.t", ["k"])

    with pytest.raises(DataQualityError, match="silver.t"):
        relative.append(spark.createDataFrame([(None,)], "k STRING"), "silver.t")
    assert [r.k for r in relative.read("silver.t").collect()] == ["a"]
    relative.merge_upsert(spark.createDataFrame([("b",)], "k STRING"), "silver.new", ["k"], not_null=["k"])
    with pytest.raises(DataQualityError, match="silver.new"):
        relative.append(spark.createDataFrame([(None,)], "k STRING"), "silver.new")
