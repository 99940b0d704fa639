"""Write one ingest batch exactly once: bronze rows, quarantined rows and the ingest-log entry.

Each of the three appends carries Delta's ``txnAppId``/``txnVersion`` (``<table>:<source>``,
batch id). A batch replayed after a crash — Structured Streaming re-runs the last uncommitted
batch with the same id — is skipped by every table that already holds it, so nothing is
written twice and nothing is lost.

A batch is parsed once: the bronze append counts as it writes (``DataFrame.observe``) the
lines read and the rows kept, quarantined and suppressed, and the quarantine is written by a
second pass only when the first one rejected rows (D30).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation
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


class BatchInput:
    """The lines of one batch, counted by whichever write reads them first.

    Parse :attr:`lines`: the write that reads them fills in ``rows_read`` (lines that hold a
    record) and any ``extra`` metric, counted before the parse so that they are independent
    of it. A write Delta skips (a replayed batch) reads nothing; :meth:`counts` then reads the
    lines again.
    """

    def __init__(self, lines_df: DataFrame, is_record: Column, extra: dict[str, Column] | None = None):
        self._metrics = [F.count(F.when(is_record, 1)).alias("rows_read"),
                         *[metric.alias(name) for name, metric in (extra or {}).items()]]
        self._unobserved = lines_df
        self._observation = Observation()
        self.lines = lines_df.observe(self._observation, *self._metrics)

    def counts(self, observed: bool) -> dict:
        if observed:
            return dict(self._observation.get)
        return self._unobserved.agg(*self._metrics).first().asDict()


def write_batch(lake: Lake, source: str, checked_df: DataFrame, batch_id: int, batch: BatchInput,
                files: int, ingested_at: dt.datetime, run_id: str,
                new_columns: tuple[str, ...] = (), merge_schema: bool = False,
                suppressor: Suppressor | None = None) -> BatchResult:
    """Append a batch to ``bronze.<source>``, ``bronze._quarantine`` and ``bronze._ingest_log``.

    Rows of erased people (``suppressor``) are counted as suppressed and written nowhere.

    Args:
        checked_df: the output of :func:`crm_spark.bronze.parse.check_rows` over ``batch.lines``.
        new_columns: undeclared columns found before the parse; ``batch`` may add more
            (its ``new_keys`` metric).

    Raises:
        DataQualityError: when rows read != rows kept + quarantined + suppressed. With a
            suppressor nothing is written; otherwise the bronze rows are, and the quarantine
            and the ingest-log entry are not, so the batch stays unfinished and is retried.
    """
    start = time.perf_counter()
    stamp = F.lit(ingested_at).cast("timestamp")
    checked_df = checked_df.withColumns({
        "_ingested_at": stamp, "_batch_id": F.lit(batch_id).cast("bigint")})
    table = f"bronze.{source}"
    txn = Txn(table, batch_id)
    cached = None
    if suppressor is None:
        flagged = checked_df.withColumn("_suppressed", F.lit(False))
        observation = Observation()
        before = lake.log_version(table)
        _append_valid(lake, flagged.observe(observation, *_status_metrics()), table, txn,
                      stamp, merge_schema)
        observed = lake.log_version(table) != before
        log.info("%s batch %d: bronze append %s in %.1f s", table, batch_id,
                 "written" if observed else "already committed (a replay)",
                 time.perf_counter() - start)
        counts = dict(observation.get) if observed else _status_counts(flagged)
        read = batch.counts(observed)
    else:
        # Flagging reads the rows twice (a self-join): parse them once into a cache, and
        # reconcile the counts before anything is written.
        cached = checked_df.persist(StorageLevel.MEMORY_AND_DISK)
        flagged = suppressor.flag(cached)
        counts, read = _status_counts(flagged), batch.counts(observed=False)
    try:
        kept, quarantined, suppressed = counts["kept"], counts["quarantined"], counts["suppressed"]
        rows_read = read["rows_read"]
        if kept + quarantined + suppressed != rows_read:
            raise DataQualityError(
                f"{table} batch {batch_id}: {rows_read} rows read but {kept} kept + "
                f"{quarantined} quarantined + {suppressed} suppressed; the batch is not finished")
        if cached is not None:
            _append_valid(lake, flagged, table, txn, stamp, merge_schema)
        if quarantined:
            unsuppressed_df = flagged.where(~F.col("_suppressed")).drop("_suppressed")
            rejected_df = parse.rejected_rows(unsuppressed_df).select(
                "_source", "_source_file", stamp.alias("_ingested_at"),
                F.lit(batch_id).cast("bigint").alias("_batch_id"), "raw", "reason")
            lake.append(rejected_df, QUARANTINE, txn=Txn(f"{QUARANTINE}:{source}", batch_id))
    finally:
        if cached is not None:
            cached.unpersist()
    drift = tuple(dict.fromkeys([*new_columns, *(read.get("new_keys") or [])]))
    if drift:
        action = "added to bronze" if merge_schema else \
            "ignored (set allow_evolution: true to add them)"
        log.warning("schema drift in %s: new column(s) %s %s", source, ", ".join(drift), action)
    seconds = round(time.perf_counter() - start, 3)
    entry = lake.spark.createDataFrame([(
        source, batch_id, run_id, files, rows_read, kept, quarantined, ",".join(drift),
        ingested_at, seconds, suppressed,
    )], INGEST_LOG_SCHEMA)
    # merge_schema: ingest logs written before rows_suppressed existed gain the column
    lake.append(entry, INGEST_LOG, txn=Txn(f"{INGEST_LOG}:{source}", batch_id), merge_schema=True)
    log.info("%s batch %d: %d files, %d rows read = %d bronze + %d quarantined + %d suppressed "
             "in %.1f s", table, batch_id, files, rows_read, kept, quarantined, suppressed, seconds)
    return BatchResult(source, batch_id, files, rows_read, kept, quarantined, drift, suppressed)


def _append_valid(lake: Lake, flagged_df: DataFrame, table: str, txn: Txn, stamp: Column,
                  merge_schema: bool) -> None:
    unsuppressed_df = flagged_df.where(~F.col("_suppressed")).drop("_suppressed")
    valid_df = parse.valid_rows(unsuppressed_df).withColumn("_ingest_date", F.to_date(stamp))
    lake.append(valid_df, table, partition_by=["_ingest_date"], txn=txn, merge_schema=merge_schema)


def _status_metrics() -> list[Column]:
    valid = F.col("reason") == ""
    return [F.count(F.when(F.col("_suppressed"), 1)).alias("suppressed"),
            F.count(F.when(~F.col("_suppressed") & valid, 1)).alias("kept"),
            F.count(F.when(~F.col("_suppressed") & ~valid, 1)).alias("quarantined")]


def _status_counts(flagged_df: DataFrame) -> dict:
    return flagged_df.agg(*_status_metrics()).first().asDict()
