"""Bronze ingestion of file sources: typing, quarantine, reconciliation, exactly-once."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F

from crm_spark import bronze
from crm_spark.bronze import files, rejects
from crm_spark.sources.registry import load_sources
from tests.bronze.conftest import ORDERS_HEADER, ORDERS_SOURCE

JSON_SOURCE = """
sources:
  t_events:
    channel: test
    entity: web_event
    format: json
    location: t_events
    schema: event_id STRING, event_ts TIMESTAMP, clicks INT
    formats: {event_ts: "yyyy-MM-dd'T'HH:mm:ssX"}
    required: [event_id]
    allow_evolution: {evolve}
    mapping: {event_id: event_id, event_ts: event_ts}
"""

DECLARED = ["order_id", "customer", "ordered_at", "total"]


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize("recheck", ["marked lines", "every line"])
def test_csv_rows_are_typed_and_bad_rows_quarantined_with_reasons(orders, recheck, monkeypatch):
    """The quarantine checks again only the lines the bronze append marked as rejected (D31),
    or every line when too many are marked: the same rows either way."""
    if recheck == "every line":
        monkeypatch.setattr(rejects, "MAX_SLOTS", -1)
    orders.drop("a.csv", ORDERS_HEADER +
                 'A1,c1,01/02/2024 10:30,12.50\n'
                 'A2,"Smith, J",02/02/2024 11:00,\n'
                 "A3,c3,31/02/2024 09:00,5.00\n"
                 "A4,c4,03/02/2024 09:00,abc\n"
                 "A5,c5\n"
                 ",c6,04/02/2024 09:00,1.00\n"
                 "A7,c7,05/02/2024 09:00,1.00,9\n"
                 'A8,"c8,06/02/2024 09:00,1.00\n')
    written = orders.ingest()
    lake = orders.lake
    kept = lake.read("bronze.t_orders").select(*DECLARED)
    expected = lake.spark.createDataFrame(
        [("A1", "c1", ts("2024-02-01 10:30:00"), Decimal("12.50")),
         ("A2", "Smith, J", ts("2024-02-02 11:00:00"), None),
         ("A4", "c4", ts("2024-02-03 09:00:00"), None)], kept.schema)   # total is not required
    assert_df_equality(kept, expected, ignore_row_order=True)
    reasons = {r["raw"]: r["reason"] for r in lake.read("bronze._quarantine").collect()}
    assert reasons == {
        "A3,c3,31/02/2024 09:00,5.00":
            "ordered_at: does not convert to TIMESTAMP (dd/MM/yyyy HH:mm)",
        "A4,c4,03/02/2024 09:00,abc": "total: does not convert to DECIMAL(10,2)",
        "A5,c5": "expected 4 fields, found 2; ordered_at: required value missing",
        ",c6,04/02/2024 09:00,1.00": "order_id: required value missing",
        "A7,c7,05/02/2024 09:00,1.00,9": "expected 4 fields, found 5",
        'A8,"c8,06/02/2024 09:00,1.00': "malformed CSV (a quote does not close); "
                                        "ordered_at: required value missing",
    }
    log = lake.read("bronze._ingest_log").collect()
    assert [(r.rows_read, r.rows_bronze, r.rows_quarantined, r.values_quarantined, r.files)
            for r in log] == [(8, 3, 5, 1, 1)]
    assert written == {"bronze.t_orders": 3, "bronze._quarantine": 6, "bronze._ingest_log": 1}


def test_lineage_columns_name_source_file_batch_and_time(orders):
    path = orders.drop("a.csv", ORDERS_HEADER +
                        "A1,c1,01/02/2024 10:30,1.00\n")
    orders.ingest()
    row = orders.lake.read("bronze.t_orders").first()
    assert row["_source"] == "t_orders"
    assert row["_source_file"].endswith(str(path))
    assert (row["_batch_id"], row["_ingest_date"]) == (0, dt.date(2025, 1, 2))
    assert row["_ingested_at"] == dt.datetime(2025, 1, 2, 3, 4, 5)


def test_rerun_ingests_nothing_and_a_new_file_is_picked_up(orders):
    orders.drop("a.csv", ORDERS_HEADER + "A1,c1,01/02/2024 10:30,1.00\n")
    lake = orders.lake
    assert orders.ingest()["bronze.t_orders"] == 1
    version = lake.version("bronze.t_orders")
    assert orders.ingest() == {}
    assert lake.version("bronze.t_orders") == version
    orders.drop("b.csv", ORDERS_HEADER + "B1,c2,02/02/2024 10:30,2.00\n"
                 "B2,c3,02/02/2024 11:30,3.00\n")
    assert orders.ingest()["bronze.t_orders"] == 2
    ids = sorted(r.order_id for r in lake.read("bronze.t_orders").collect())
    assert ids == ["A1", "B1", "B2"]


def test_csv_header_with_new_column_is_reported_and_positions_follow_the_header(orders):
    orders.drop("a.csv", "order_id,channel,customer,ordered_at,total\n"
                 "A1,web,c1,01/02/2024 10:30,1.00\n")
    orders.ingest()
    lake = orders.lake
    assert lake.read("bronze.t_orders").select("order_id", "customer").collect() == [
        Row(order_id="A1", customer="c1")]
    assert "channel" not in lake.read("bronze.t_orders").columns
    assert lake.read("bronze._ingest_log").first()["new_columns"] == "channel"


def test_files_of_one_batch_are_each_parsed_by_their_own_header(orders):
    orders.drop("a.csv", ORDERS_HEADER +
                 "A1,c1,01/02/2024 10:30,1.00\n")
    orders.drop("b file.csv", "order_id,total,customer,ordered_at\n"
                 "B1,2.00,c2,02/02/2024 10:30\n"
                 "B2,3.00,c3\n")
    orders.drop("c.csv", "C1,c4,03/02/2024 10:30,4.00\n")  # no header line
    orders.ingest()
    lake = orders.lake
    kept = sorted(tuple(r) for r in lake.read("bronze.t_orders").select(*DECLARED).collect())
    assert kept == [("A1", "c1", ts("2024-02-01 10:30:00"), Decimal("1.00")),
                    ("B1", "c2", ts("2024-02-02 10:30:00"), Decimal("2.00")),
                    ("C1", "c4", ts("2024-02-03 10:30:00"), Decimal("4.00"))]
    assert [r.reason for r in lake.read("bronze._quarantine").collect()] == [
        "expected 4 fields, found 3; ordered_at: required value missing"]
    log = lake.read("bronze._ingest_log").first()
    assert (log.files, log.rows_read, log.rows_bronze, log.rows_quarantined) == (3, 4, 3, 1)


def test_a_replayed_batch_writes_nothing_and_is_counted_again(orders, landing, ctx):
    orders.drop("a.csv", ORDERS_HEADER +
                 "A1,c1,01/02/2024 10:30,1.00\nA2,c2,bad date,2.00\n")
    cfg = orders.config()
    first = orders.ingest(cfg)
    lake = orders.lake
    tables = ["bronze.t_orders", "bronze._quarantine", "bronze._ingest_log"]
    versions = [lake.version(t) for t in tables]
    source = load_sources(cfg, "t_orders")[0]
    # the batch as Structured Streaming hands it over again after a crash before its commit
    batch_df = (landing.spark.read.text(source.path)
                .withColumn("_source_file", F.col("_metadata.file_path")))
    replayed = files.process_batch(lake, cfg, source, ctx, batch_df, 0,
                                   bronze.checkpoint_of(cfg, source))
    assert (replayed.rows_read, replayed.rows_bronze, replayed.rows_quarantined) == (2, 1, 1)
    # without the query's log the batch's files are asked of the data; the outcome is the same
    without_log = files.process_batch(lake, cfg, source, ctx, batch_df, 0,
                                      str(landing.root / "no-checkpoint"))
    assert (without_log.files, without_log.rows_read, without_log.rows_bronze,
            without_log.rows_quarantined) == (1, 2, 1, 1)
    assert first == {"bronze.t_orders": 1, "bronze._quarantine": 1, "bronze._ingest_log": 1}
    assert [lake.version(t) for t in tables] == versions
    assert lake.read("bronze.t_orders").count() == 1


@pytest.mark.parametrize("evolve", [False, True])
def test_json_malformed_wrong_type_and_drift(source, evolve):
    events = source("t_events", JSON_SOURCE.replace("{evolve}", str(evolve).lower()))
    events.drop("e.jsonl",
                 '{"event_id":"e1","event_ts":"2024-03-01T10:00:00Z","clicks":3}\n'
                 '{"event_id":"e2","event_ts":"2024-03-01T11:00:00Z","clicks":"many"}\n'
                 '{"event_id":"e3","event_ts":"2024-03-01T12:00:00Z","clicks":1,"device":"ios"}\n'
                 '{"event_id":"e4","event_ts":"2024-03-0\n'
                 "\n")
    events.ingest()
    lake = events.lake
    kept = {r.event_id: r for r in lake.read("bronze.t_events").collect()}
    assert sorted(kept) == ["e1", "e2", "e3"]        # e2 kept: clicks is not required
    assert kept["e2"].clicks is None
    assert kept["e1"].event_ts == ts("2024-03-01 10:00:00") and kept["e1"].clicks == 3
    if evolve:
        assert (kept["e3"].device, kept["e1"].device) == ("ios", None)
    else:
        assert "device" not in lake.read("bronze.t_events").columns
    reasons = sorted(r.reason for r in lake.read("bronze._quarantine").collect())
    assert reasons == ["clicks: does not convert to INT",
                       "malformed JSON; event_id: required value missing"]
    log = lake.read("bronze._ingest_log").first()
    assert (log.rows_read, log.rows_bronze, log.rows_quarantined, log.values_quarantined) == (4, 3, 1, 1)
    assert log.new_columns == "device"


def test_parquet_source_keeps_declared_types(landing, source):
    spark = landing.spark
    folder = landing.root / "landing" / "t_products"
    spark.createDataFrame([("S1", "Mug", 3.5), ("S2", None, 1.25)],
                          "sku STRING, name STRING, price DOUBLE").coalesce(1) \
        .write.parquet(str(folder))
    products = source("t_products", """
sources:
  t_products:
    channel: test
    entity: product
    format: parquet
    location: t_products
    schema: sku STRING, name STRING, price DOUBLE
    required: [sku, name]
    mapping: {sku: sku, name: name, price: price}
""")
    products.ingest()
    lake = products.lake
    assert [tuple(r) for r in lake.read("bronze.t_products").select("sku", "name", "price")
            .collect()] == [("S1", "Mug", 3.5)]
    assert lake.read("bronze._quarantine").first()["reason"] == "name: required value missing"


def test_unreadable_file_is_set_aside_and_writes_nothing(orders, source):
    """(D56; tests/bronze/test_bad_input.py covers bad files among good ones.)"""
    orders.drop("broken.csv.gz", b"\x1f\x8b\x08\x00this is not gzip data" * 20)
    good = gzip.compress(b'{"event_id":"e1","event_ts":"2024-03-01T10:00:00Z","clicks":3}\n')
    both = source("t_events", ORDERS_SOURCE + JSON_SOURCE.replace("sources:\n", "").replace(
        "{evolve}", "false"))
    both.drop("e.jsonl.gz", good)
    both.ingest()
    lake = both.lake
    assert not lake.exists("bronze.t_orders")
    assert [r.path.rsplit("/", 1)[1] for r in lake.read("bronze._bad_files").collect()] == ["broken.csv.gz"]
    assert [r.event_id for r in lake.read("bronze.t_events").collect()] == ["e1"]
    assert [r.source for r in lake.read("bronze._ingest_log").collect()] == ["t_events"]
