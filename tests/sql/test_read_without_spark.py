"""Gold tables read without Spark, with delta-rs (`deltalake`) into pandas, its SQL engine and
DuckDB, as docs/sql.md shows; and which Delta features that reader refuses (issue 23, D81)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import DeltaProtocolError
from pyspark.sql import Row

from crm_spark.tables import Lake

RFM = [Row(customer_id="C1", as_of=dt.date(2024, 12, 31), monetary=120.5, segment="Champions"),
       Row(customer_id="C2", as_of=dt.date(2024, 12, 31), monetary=15.0, segment="Lost"),
       Row(customer_id="C3", as_of=dt.date(2024, 12, 31), monetary=80.0, segment="Champions"),
       Row(customer_id="C1", as_of=dt.date(2024, 11, 30), monetary=99.0, segment="Loyal")]


@pytest.fixture(scope="module")
def rfm_path(spark, tmp_path_factory) -> str:
    """gold.rfm as the gold stage writes it: partitioned by as_of, with a CHECK constraint."""
    lake = Lake(spark, str(tmp_path_factory.mktemp("readers") / "lake"))
    lake.append(spark.createDataFrame(RFM), "gold.rfm", partition_by=["as_of"])
    lake.ensure_not_null("gold.rfm", ["customer_id"])
    return lake.path("gold.rfm")


def test_pandas_reads_a_gold_snapshot_with_its_check_constraint(rfm_path):
    table = DeltaTable(rfm_path)
    assert table.protocol().min_writer_version == 3             # CHECK constraints
    latest = table.to_pandas(filters=[("as_of", "=", dt.date(2024, 12, 31))])
    assert sorted(latest[["customer_id", "segment"]].itertuples(index=False, name=None)) == [
        ("C1", "Champions"), ("C2", "Lost"), ("C3", "Champions")]


def test_sql_without_spark_by_deltalake_and_by_duckdb(rfm_path):
    table = DeltaTable(rfm_path)
    by_deltalake = QueryBuilder().register("rfm", table).execute(
        "SELECT segment, count(*) AS customers, sum(monetary) AS revenue FROM rfm "
        "WHERE as_of = DATE '2024-12-31' GROUP BY segment ORDER BY segment")
    assert pa.table(by_deltalake).to_pydict() == {"segment": ["Champions", "Lost"], "customers": [2, 1],
                                        "revenue": [200.5, 15.0]}
    rfm = table.to_pyarrow_dataset()    # noqa: F841  (DuckDB finds it by its variable name)
    by_duckdb = duckdb.sql("SELECT customer_id FROM rfm WHERE segment = 'Loyal'").fetchall()
    assert by_duckdb == [("C1",)]


def test_deletion_vectors_and_column_mapping_need_the_query_engine_not_to_pandas(spark, tmp_path):
    """Tables the lake's writer could get from lake.table_properties (none does by default)."""
    path = str(tmp_path / "gold" / "dv")
    (spark.createDataFrame([Row(id=i, amount=i * 2) for i in range(5)])
     .withColumnRenamed("amount", "amount eur")
     .write.format("delta").option("delta.enableDeletionVectors", "true")
     .option("delta.columnMapping.mode", "name").save(path))
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 2")
    table = DeltaTable(path)
    with pytest.raises(DeltaProtocolError, match="not yet supported"):
        table.to_pandas()
    rows = QueryBuilder().register("t", table).execute('SELECT id, "amount eur" FROM t ORDER BY id')
    assert pa.table(rows).to_pydict() == {"id": [2, 3, 4], "amount eur": [4, 6, 8]}
