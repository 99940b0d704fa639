"""Write one ingest batch exactly once: bronze rows, quarantined rows and the ingest-log entry.

Each of the three appends carries Delta's ``txnAppId``/``txnVersion`` (``<table>:<source>``,
batch id). A batch replayed after a crash — Structured Streaming re-runs the last uncommitted
batch with the same id — is skipped by every table that already holds it, so nothing is
written twice and nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.bronze import parse
from crm_spark.errors import DataQualityError
from crm_spark.privacy.suppression import Suppressor
from crm_spark.tables import Lake, Txn

log = logging.getLogger(__name__)

QUARANTINE = "bronze._quarantine"
INGEST_LOG = "bronze._ingest_log"
LINEAGE = ("_source", "_source_file", "_ingested_at", "_batch_id")
INGEST_LOG_SCHEMA = (
    "source STRING, batch_id BIGINT, run_id STRING, files INT, rows_read BIGINT, "
    "rows_bronze BIGINT, rows_quarantined BIGINT, new_columns STRING, ingested_at TIMESTAMP, "
    "seconds DOUBLE, rows_suppressed BIGINT"
)


@dataclass(frozen=True)
class BatchResult:
    source: str
    batch_id: int
    files: int
    rows_read: int
    rows_bronze: int
    rows_quarantined: int
    new_columns: tuple[str, ...] = ()
    rows_suppressed: int = 0


def write_batch(lake: Lake, source: str, checked_df: DataFrame, batch_id: int, rows_read: int,
                files: int, ingested_at: dt.datetime, run_id: str,
                new_columns: tuple[str, ...] = (), merge_schema: bool = False,
                suppressor: Suppressor | None = None) -> BatchResult:
    """Append a batch to ``bronze.<source>``, ``bronze._quarantine`` and ``bronze._ingest_log``.

    Rows of erased people (``suppressor``) are counted as suppressed and written nowhere.

    Args:
        checked_df: the output of :func:`crm_spark.bronze.parse.check_rows`; it is computed
            once and both the kept and the quarantined rows are taken from it.
        rows_read: lines read from the source for this batch (headers excluded), counted
            independently of the parse.

    Raises:
        DataQualityError: when rows read != rows kept + quarantined + suppressed (nothing is
            written).
    """
    start = time.perf_counter()
    stamp = F.lit(ingested_at).cast("timestamp")
    checked_df = checked_df.withColumns({
        "_ingested_at": stamp, "_batch_id": F.lit(batch_id).cast("bigint")})
    parsed_df = checked_df.persist(StorageLevel.MEMORY_AND_DISK)
    checked_df = (suppressor.flag(parsed_df) if suppressor is not None
                  else parsed_df.withColumn("_suppressed", F.lit(False)))
    try:
        status = (F.when(F.col("_suppressed"), "suppressed")
                  .when(F.col("reason") == "", "kept").otherwise("quarantined"))
        counts = {r["status"]: r["count"] for r in
                  checked_df.groupBy(status.alias("status")).count().collect()}
        kept, quarantined = counts.get("kept", 0), counts.get("quarantined", 0)
        suppressed = counts.get("suppressed", 0)
        parsed_seconds = time.perf_counter() - start
        if kept + quarantined + suppressed != rows_read:
            raise DataQualityError(
                f"bronze.{source} batch {batch_id}: {rows_read} rows read but {kept} kept + "
                f"{quarantined} quarantined + {suppressed} suppressed; nothing written")
        table = f"bronze.{source}"
        unsuppressed_df = checked_df.where(~F.col("_suppressed")).drop("_suppressed")
        valid_df = parse.valid_rows(unsuppressed_df).withColumn("_ingest_date", F.to_date(stamp))
        lake.append(valid_df, table, partition_by=["_ingest_date"],
                    txn=Txn(f"{table}", batch_id), merge_schema=merge_schema)
        if quarantined:
            rejected_df = parse.rejected_rows(unsuppressed_df).select(
                "_source", "_source_file", stamp.alias("_ingested_at"),
                F.lit(batch_id).cast("bigint").alias("_batch_id"), "raw", "reason")
            lake.append(rejected_df, QUARANTINE, txn=Txn(f"{QUARANTINE}:{source}", batch_id))
        result = BatchResult(source, batch_id, files, rows_read, kept, quarantined,
                             tuple(new_columns), suppressed)
        entry = lake.spark.createDataFrame([(
            source, batch_id, run_id, files, rows_read, kept, quarantined,
            ",".join(new_columns), ingested_at, round(time.perf_counter() - start, 3), suppressed,
        )], INGEST_LOG_SCHEMA)
        # merge_schema: ingest logs written before rows_suppressed existed gain the column
        lake.append(entry, INGEST_LOG, txn=Txn(f"{INGEST_LOG}:{source}", batch_id), merge_schema=True)
    finally:
        parsed_df.unpersist()
    log.info("bronze.%s batch %d: %d files, %d rows read = %d bronze + %d quarantined + %d suppressed "
             "(parse %.1f s, writes %.1f s)", source, batch_id, files, rows_read, kept, quarantined,
             suppressed, parsed_seconds, time.perf_counter() - start - parsed_seconds)
    return result
