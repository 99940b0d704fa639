"""JDBC sources read incrementally by a watermark column (e.g. ``updated_at``).

Each batch covers the watermark range (low, high]: ``low`` is the previous batch's ``high``,
``high`` is the column's maximum when the batch starts. The range is recorded in
``bronze._watermarks`` *before* the rows are written; if a run dies after that, the next run
re-reads exactly that range under the same batch id, and Delta's idempotent writes skip what
was already committed. Rows are then typed and quarantined like file rows.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.bronze import parse
from crm_spark.bronze.batch import INGEST_LOG, BatchInput, BatchResult, write_batch
from crm_spark.config import Config, resolve_secret
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.privacy import suppression
from crm_spark.sources.registry import Source
from crm_spark.tables import Lake, Txn

log = logging.getLogger(__name__)

WATERMARKS = "bronze._watermarks"
WATERMARK_SCHEMA = "source STRING, batch_id BIGINT, low STRING, high STRING"


def ingest_increment(spark: SparkSession, lake: Lake, cfg: Config, ctx: RunContext,
                     source: Source) -> BatchResult | None:
    """Ingest the rows changed since the last batch; None when nothing changed."""
    batch = _pending_batch(lake, source) or _next_batch(spark, lake, source)
    if batch is None:
        log.info("bronze.%s: no rows changed since the last run", source.name)
        return None
    batch_id, low, high = batch
    rows = _read_range(spark, source, low, high)
    as_text = rows.select(
        F.to_json(F.struct(*source.column_names)).alias("line"),
        F.lit(source.name).alias("_source"),
        F.lit(f"{source.spec.table} ({source.spec.watermark} in ({low}, {high}])")
        .alias("_source_file"),
        *[F.col(c).cast("string").alias(c) for c in source.column_names],
    ).cache()
    try:
        batch_input = BatchInput(as_text, F.lit(True))

        def check(lines_df):
            return parse.check_rows(lines_df, source, F.lit(None).cast("string"))

        suppressor = suppression.suppressor(lake, source, cfg)
        result = write_batch(lake, source.name, check, batch_id, batch_input, 1,
                             ctx.now(), ctx.run_id, suppressor=suppressor,
                             warn_share=cfg.ingest.warn_quarantine_share)
        suppression.recheck_batch(lake, cfg, source, suppressor, batch_id)
        return result
    finally:
        as_text.unpersist()


def _pending_batch(lake: Lake, source: Source) -> tuple[int, str | None, str] | None:
    """A batch whose range was recorded but whose rows never reached the ingest log."""
    last = _last_watermark(lake, source)
    if last is None:
        return None
    done = lake.exists(INGEST_LOG) and lake.read(INGEST_LOG).where(
        (F.col("source") == source.name) & (F.col("batch_id") == last["batch_id"])).count() > 0
    if done:
        return None
    log.warning("bronze.%s: batch %d was interrupted; reading its range again",
                source.name, last["batch_id"])
    return last["batch_id"], last["low"], last["high"]


def _next_batch(spark: SparkSession, lake: Lake, source: Source) -> tuple[int, str | None, str] | None:
    last = _last_watermark(lake, source)
    low = last["high"] if last else None
    wm = source.spec.watermark
    assert wm is not None  # validate_source requires it of a jdbc source
    high_row = _jdbc_reader(spark, source).option(
        "query", f"SELECT max({wm}) AS high FROM {source.spec.table}").load().first()
    high = high_row["high"] if high_row else None
    if high is None:
        return None
    high = _literal_text(high)
    numeric = source.type_of(wm) in ("INT", "BIGINT", "DOUBLE")
    if low is not None and (float(high) <= float(low) if numeric else high <= low):
        return None
    batch_id = (last["batch_id"] + 1) if last else 0
    entry = spark.createDataFrame([(source.name, batch_id, low, high)], WATERMARK_SCHEMA)
    lake.append(entry, WATERMARKS, txn=Txn(f"{WATERMARKS}:{source.name}", batch_id))
    return batch_id, low, high


def _last_watermark(lake: Lake, source: Source):
    if not lake.exists(WATERMARKS):
        return None
    return (lake.read(WATERMARKS).where(F.col("source") == source.name)
            .orderBy(F.col("batch_id").desc()).first())


def _read_range(spark: SparkSession, source: Source, low: str | None, high: str) -> DataFrame:
    wm = source.spec.watermark
    assert wm is not None  # validate_source requires it of a jdbc source
    quote = source.type_of(wm) not in ("INT", "BIGINT", "DOUBLE")
    lit = (lambda v: f"'{v}'") if quote else (lambda v: v)
    where = f"{wm} <= {lit(high)}" + (f" AND {wm} > {lit(low)}" if low is not None else "")
    columns = ", ".join(source.column_names)
    query = f"SELECT {columns} FROM {source.spec.table} WHERE {where}"
    log.info("bronze.%s: %s", source.name, query)
    try:
        return _jdbc_reader(spark, source).option("query", query).load()
    except Exception as e:  # the JDBC driver raises plain Java exceptions
        raise CrmSparkError(f"cannot read {source.spec.table} at {source.path}: "
                            f"{str(e).splitlines()[0][:300]}") from e


def _jdbc_reader(spark: SparkSession, source: Source):
    reader = spark.read.format("jdbc").option("url", source.path)
    if source.spec.driver:
        reader = reader.option("driver", source.spec.driver)
    if source.spec.user:
        reader = reader.option("user", source.spec.user)
    if source.spec.password_env:
        reader = reader.option("password", resolve_secret(
            source.spec.password_env, f"sources.{source.name}.password_env"))
    for key, value in source.spec.options.items():
        reader = reader.option(key, value)
    return reader


def _literal_text(value) -> str:
    """A watermark value as text that sorts like the value (ISO timestamps, plain numbers)."""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    return str(value)
