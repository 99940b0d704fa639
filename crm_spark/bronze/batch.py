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

from crm_spark.errors import DataQualityError
from crm_spark.tables import Lake, Txn

log = logging.getLogger(__name__)

QUARANTINE = "bronze._quarantine"
INGEST_LOG = "bronze._ingest_log"
LINEAGE = ("_source", "_source_file", "_ingested_at", "_batch_id")
INGEST_LOG_SCHEMA = (
    "source STRING, batch_id BIGINT, run_id STRING, files INT, rows_read BIGINT, "
    "rows_bronze BIGINT, rows_quarantined BIGINT, new_columns STRING, ingested_at TIMESTAMP, "
    "seconds DOUBLE"
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


def write_batch(lake: Lake, source: str, valid_df: DataFrame, rejected_df: DataFrame,
                batch_id: int, rows_read: int, files: int, ingested_at: dt.datetime,
                run_id: str, new_columns: tuple[str, ...] = (),
                merge_schema: bool = False) -> BatchResult:
    """Append a batch to ``bronze.<source>``, ``bronze._quarantine`` and ``bronze._ingest_log``.

    Args:
        valid_df: the declared columns plus ``_source`` and ``_source_file``.
        rejected_df: ``_source``, ``_source_file``, ``raw``, ``reason``.
        rows_read: lines read from the source for this batch (headers excluded).

    Raises:
        DataQualityError: when rows read != rows kept + rows quarantined (nothing is written).
    """
    start = time.perf_counter()
    stamp = F.lit(ingested_at).cast("timestamp")
    valid_df = valid_df.withColumns({
        "_ingested_at": stamp, "_batch_id": F.lit(batch_id).cast("bigint"),
        "_ingest_date": F.to_date(stamp)}).persist(StorageLevel.MEMORY_AND_DISK)
    rejected_df = rejected_df.select(
        "_source", "_source_file", stamp.alias("_ingested_at"),
        F.lit(batch_id).cast("bigint").alias("_batch_id"), "raw", "reason",
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        kept, quarantined = valid_df.count(), rejected_df.count()
        if kept + quarantined != rows_read:
            raise DataQualityError(
                f"bronze.{source} batch {batch_id}: {rows_read} rows read but {kept} kept + "
                f"{quarantined} quarantined; nothing written")
        table = f"bronze.{source}"
        lake.append(valid_df, table, partition_by=["_ingest_date"],
                    txn=Txn(f"{table}", batch_id), merge_schema=merge_schema)
        if quarantined:
            lake.append(rejected_df, QUARANTINE, txn=Txn(f"{QUARANTINE}:{source}", batch_id))
        result = BatchResult(source, batch_id, files, rows_read, kept, quarantined,
                             tuple(new_columns))
        entry = lake.spark.createDataFrame([(
            source, batch_id, run_id, files, rows_read, kept, quarantined,
            ",".join(new_columns), ingested_at, round(time.perf_counter() - start, 3),
        )], INGEST_LOG_SCHEMA)
        lake.append(entry, INGEST_LOG, txn=Txn(f"{INGEST_LOG}:{source}", batch_id))
    finally:
        valid_df.unpersist()
        rejected_df.unpersist()
    log.info("bronze.%s batch %d: %d files, %d rows read = %d bronze + %d quarantined (%.1f s)",
             source, batch_id, files, rows_read, kept, quarantined, time.perf_counter() - start)
    return result
