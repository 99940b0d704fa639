"""Write one ingest batch exactly once: bronze rows, quarantined rows and the ingest-log entry.

Each of the three appends carries Delta's ``txnAppId``/``txnVersion`` (``<table>:<source>``,
batch id). A batch replayed after a crash — Structured Streaming re-runs the last uncommitted
batch with the same id — is skipped by every table that already holds it, so nothing is
written twice and nothing is lost.

A batch is parsed once: the bronze append counts as it writes (``DataFrame.observe``) the
lines read and the rows kept, quarantined and suppressed (D30). When it rejected rows, the
quarantine reads the batch again and checks only the lines the append marked as possibly
rejected (:mod:`crm_spark.bronze.rejects`, D31).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from crm_spark import errors
from crm_spark.bronze import parse, rejects
from crm_spark.errors import ConcurrentRunError, CrmSparkError, DataQualityError, TypeConflictError
from crm_spark.privacy.suppression import Suppressor
from crm_spark.tables import Lake, Txn

log = logging.getLogger(__name__)

QUARANTINE = "bronze._quarantine"
INGEST_LOG = "bronze._ingest_log"
LINEAGE = ("_source", "_source_file", "_ingested_at", "_batch_id")
INGEST_LOG_SCHEMA = (
    "source STRING, batch_id BIGINT, run_id STRING, files INT, rows_read BIGINT, "
    "rows_bronze BIGINT, rows_quarantined BIGINT, new_columns STRING, ingested_at TIMESTAMP, "
    "seconds DOUBLE, rows_suppressed BIGINT, values_quarantined BIGINT"
)
WARN_QUARANTINE_SHARE = 0.05    # ingest.warn_quarantine_share's default
TOP_REASONS = 3


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
    values_quarantined: int = 0     # values nulled in kept rows, each a quarantine row


class BatchInput:
    """The lines of one batch, counted by whichever write reads them first.

    Parse :attr:`lines`: the write that reads them fills in ``rows_read`` (lines that hold a
    record: ``_is_record``) and any ``extra`` metric, counted before the parse so that they
    are independent of it. A write Delta skips (a replayed batch) reads nothing; :meth:`counts`
    then reads the lines again.
    """

    def __init__(self, lines_df: DataFrame, is_record: Column, extra: dict[str, Column] | None = None):
        self._metrics = [F.count(F.when(F.col("_is_record"), 1)).alias("rows_read"),
                         *[metric.alias(name) for name, metric in (extra or {}).items()]]
        self.unobserved = lines_df.withColumn("_is_record", is_record)
        self._observation = Observation()
        self.lines = self.unobserved.observe(self._observation, *self._metrics)

    def counts(self, observed: bool) -> dict:
        if observed:
            return dict(self._observation.get)
        return self.unobserved.agg(*self._metrics).collect()[0].asDict()


def write_batch(lake: Lake, source: str, check: Callable[[DataFrame], DataFrame], batch_id: int,  # noqa: PLR0913 (two interleaved paths, to split: issue 23)
                batch: BatchInput, files: int, ingested_at: dt.datetime, run_id: str,
                new_columns: tuple[str, ...] = (), merge_schema: bool = False,
                suppressor: Suppressor | None = None,
                warn_share: float = WARN_QUARANTINE_SHARE) -> BatchResult:
    """Append a batch to ``bronze.<source>``, ``bronze._quarantine`` and ``bronze._ingest_log``.

    Rows of erased people (``suppressor``) are counted as suppressed and written nowhere.

    Args:
        check: lines -> checked rows (:func:`crm_spark.bronze.parse.check_rows`); called on
            ``batch.lines`` for bronze, and on some of ``batch.unobserved`` for the quarantine.
        new_columns: undeclared columns found before the parse; ``batch`` may add more
            (its ``new_keys`` metric).
        warn_share: above this share of the rows read with a row or value quarantined, a
            WARNING names the source, the share and the most frequent reasons.

    Raises:
        ConcurrentRunError: another ingest of the source committed this batch at the same time
            (Delta refused this one's commit); nothing is duplicated.
        TypeConflictError: a declared column type differs from the type bronze stores.
        DataQualityError: when rows read != rows kept + quarantined + suppressed, or the
            quarantine found another number of rows than the bronze append rejected. With a
            suppressor nothing is written; otherwise the bronze rows are, and the ingest-log
            entry is not, so the batch stays unfinished and is retried.
    """
    start = time.perf_counter()
    table = f"bronze.{source}"
    txn = Txn(table, batch_id)
    cached = None
    observed = False
    if suppressor is None:
        flagged = _stamped(check(batch.lines), ingested_at, batch_id).withColumn("_suppressed", F.lit(False))
        observation = Observation()
        metrics = [*_status_metrics(), *[m.alias(n) for n, m in rejects.metrics(F.col("raw")).items()]]
        with _one_ingest_at_a_time(source, batch_id, wrote=False):
            observed = _append_valid(lake, flagged.observe(observation, *metrics), table, txn, merge_schema)
        log.info("%s batch %d: bronze append %s in %.1f s", table, batch_id,
                 "written" if observed else "already committed (a replay)",
                 time.perf_counter() - start)
        counts = dict(observation.get) if observed else _status_counts(flagged)
        read = batch.counts(observed)
    else:
        # Flagging reads the rows twice (a self-join): parse them once into a cache, and
        # reconcile the counts before anything is written.
        cached = _stamped(check(batch.lines), ingested_at, batch_id).persist(StorageLevel.MEMORY_AND_DISK)
        flagged = suppressor.flag(cached)
        counts, read = _status_counts(flagged), batch.counts(observed=False)
    try:
        kept, quarantined, suppressed = counts["kept"], counts["quarantined"], counts["suppressed"]
        values = counts["values_quarantined"] or 0
        rows_read = read["rows_read"]
        if kept + quarantined + suppressed != rows_read:
            raise DataQualityError(
                f"{table} batch {batch_id}: {rows_read} rows read but {kept} kept + "
                f"{quarantined} quarantined + {suppressed} suppressed; the batch is not finished")
        # a quarantined value is not a lost row: its record is among the kept rows
        marked = None
        if cached is not None:
            with _one_ingest_at_a_time(source, batch_id, wrote=False):
                _append_valid(lake, flagged, table, txn, merge_schema)
            rechecked = flagged
        elif quarantined or values:
            slots = rejects.set_slots(counts) if observed else None
            lines, marked = rejects.candidates(batch.unobserved, slots)
            rechecked = _stamped(check(lines), ingested_at, batch_id).withColumn("_suppressed", F.lit(False))
        if quarantined or values:
            with _one_ingest_at_a_time(source, batch_id, wrote=True):
                wrote_quarantine = _append_quarantine(lake, rechecked, source, batch_id, quarantined + values)
            if wrote_quarantine and marked is not None:
                log.info("%s batch %d: the quarantine checked %d of %d lines again", table, batch_id,
                         marked.get["lines"], rows_read)
            _warn_if_mostly_quarantined(lake, source, batch_id, rows_read,
                                        quarantined + (counts.get("rows_with_values") or 0), warn_share)
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
        ingested_at, seconds, suppressed, values,
    )], INGEST_LOG_SCHEMA)
    # merge_schema: ingest logs written before rows_suppressed existed gain the column
    with _one_ingest_at_a_time(source, batch_id, wrote=True):
        lake.append(entry, INGEST_LOG, txn=Txn(f"{INGEST_LOG}:{source}", batch_id), merge_schema=True)
    log.info("%s batch %d: %d files, %d rows read = %d bronze + %d quarantined + %d suppressed "
             "in %.1f s; %d values of kept rows quarantined", table, batch_id, files, rows_read, kept,
             quarantined, suppressed, seconds, values)
    return BatchResult(source, batch_id, files, rows_read, kept, quarantined, drift, suppressed, values)


def _stamped(checked_df: DataFrame, ingested_at: dt.datetime, batch_id: int) -> DataFrame:
    return checked_df.withColumns({"_ingested_at": F.lit(ingested_at).cast("timestamp"),
                                   "_batch_id": F.lit(batch_id).cast("bigint")})


def _append_valid(lake: Lake, flagged_df: DataFrame, table: str, txn: Txn, merge_schema: bool) -> bool:
    """Append the kept rows; False when Delta skipped the append (the batch was committed)."""
    before = lake.log_version(table)
    unsuppressed_df = flagged_df.where(~F.col("_suppressed")).drop("_suppressed")
    valid_df = parse.valid_rows(unsuppressed_df).withColumn("_ingest_date", F.to_date("_ingested_at"))
    try:
        lake.append(valid_df, table, partition_by=["_ingest_date"], txn=txn, merge_schema=merge_schema)
    except CrmSparkError:
        raise
    except Exception as e:  # py4j and PySpark raise Delta's refusal as several exception types
        conflicts = _type_conflicts(valid_df, lake.read(table)) if before is not None and \
            errors.is_schema_conflict(e) else []
        if not conflicts:
            raise
        source = table.removeprefix("bronze.")
        raise TypeConflictError(
            f"source {source} declares {'; '.join(conflicts)}: bronze keeps the types it was "
            f"created with. Declare the stored type again (and convert the column in silver), "
            f"or ingest under a new source name to start a new bronze table with the new type "
            f"(docs/sources.md, 'Changing a column's type'); nothing of this batch was written") from e
    return lake.log_version(table) != before


def _type_conflicts(new_df: DataFrame, stored_df: DataFrame) -> list[str]:
    """``<column> <declared type> but <table> stores <stored type>`` for each column both have
    with another type (nullability aside)."""
    stored = {f.name: f.dataType for f in stored_df.schema}
    return [f"{f.name} {f.dataType.simpleString().upper()} but bronze stores {f.name} as "
            f"{stored[f.name].simpleString().upper()}"
            for f in new_df.schema if f.name in stored and stored[f.name] != f.dataType]


@contextlib.contextmanager
def _one_ingest_at_a_time(source: str, batch_id: int, wrote: bool):
    """Turn Delta's refusal of a commit that another ingest of the same batch made first
    (``ConcurrentTransactionException``: the same ``txnAppId`` and version) into one line."""
    try:
        yield
    except CrmSparkError:
        raise
    except Exception as e:
        if not errors.is_concurrent_write(e):
            raise
        done = ("this one stopped after its bronze append of batch "
                f"{batch_id}, which the other completes; nothing is duplicated") if wrote else \
            "nothing was written by this one"
        raise ConcurrentRunError(f"another ingest of source {source} is running; {done}") from e


def _warn_if_mostly_quarantined(lake: Lake, source: str, batch_id: int, rows_read: int,
                                rows_hit: int, warn_share: float) -> None:
    """A loud WARNING when more than ``warn_share`` of the rows read lost the row or a value to
    the quarantine: a declared type, format or delimiter is likely wrong. Reads the batch's
    quarantine rows only then."""
    if not rows_read or rows_hit / rows_read <= warn_share:
        return
    top = (lake.read(QUARANTINE).where((F.col("_source") == source) & (F.col("_batch_id") == batch_id))
           .groupBy("reason").count().orderBy(F.desc("count"), "reason").limit(TOP_REASONS).collect())
    reasons = "; ".join(f"{r['reason'][:120]} ({r['count']})" for r in top)
    log.warning("SOURCE %s: %.0f %% of batch %d quarantined (%d of %d rows lost the row or a value; "
                "ingest.warn_quarantine_share is %.0f %%): is a declared type or format wrong? "
                "Top reasons: %s", source, 100 * rows_hit / rows_read, batch_id, rows_hit, rows_read,
                100 * warn_share, reasons)


def _append_quarantine(lake: Lake, flagged_df: DataFrame, source: str, batch_id: int,
                       expected: int) -> bool:
    """Append the rejected rows and the values nulled in kept rows (:func:`parse.rejected_rows`)
    and check that the batch's quarantine holds ``expected`` rows
    (those just written, or those of an earlier attempt when Delta skipped the append: a
    replay). Returns whether it wrote them."""
    unsuppressed_df = flagged_df.where(~F.col("_suppressed")).drop("_suppressed")
    rejected_df = parse.rejected_rows(unsuppressed_df).select(*LINEAGE, "raw", "reason", "record_key",
                                                              "column_name")
    observation = Observation()
    before = lake.log_version(QUARANTINE)
    # merge_schema: a quarantine written before record_key and column_name existed gains them
    lake.append(rejected_df.observe(observation, F.count(F.lit(1)).alias("rows")), QUARANTINE,
                txn=Txn(f"{QUARANTINE}:{source}", batch_id), merge_schema=True)
    written = lake.log_version(QUARANTINE) != before
    found = observation.get["rows"] if written else lake.read(QUARANTINE).where(
        (F.col("_source") == source) & (F.col("_batch_id") == batch_id)).count()
    if found != expected:
        raise DataQualityError(
            f"bronze.{source} batch {batch_id}: the bronze append rejected {expected} rows but "
            f"the quarantine holds {found}; the batch is not finished")
    return written


def _status_metrics() -> list[Column]:
    valid = F.col("reason") == ""
    return [F.count(F.when(F.col("_suppressed"), 1)).alias("suppressed"),
            F.count(F.when(~F.col("_suppressed") & valid, 1)).alias("kept"),
            F.count(F.when(~F.col("_suppressed") & ~valid, 1)).alias("quarantined"),
            F.sum(F.when(~F.col("_suppressed") & valid, F.size("value_problems")))
            .alias("values_quarantined"),
            F.count(F.when(~F.col("_suppressed") & valid & (F.size("value_problems") > 0), 1))
            .alias("rows_with_values")]


def _status_counts(flagged_df: DataFrame) -> dict:
    return flagged_df.agg(*_status_metrics()).collect()[0].asDict()
