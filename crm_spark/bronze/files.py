"""File sources (csv, json, parquet) ingested with Structured Streaming's file source.

One query per source, with its own checkpoint: ``trigger(availableNow=True)`` ingests every
file not seen before and stops (batch runs); a processing-time trigger keeps it running
(``--continuous``). Each micro-batch goes through :func:`process_batch`.
"""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import StructField, StructType, _parse_datatype_string

from crm_spark.bronze import parse
from crm_spark.bronze.batch import BatchResult, write_batch
from crm_spark.config import Config
from crm_spark.pipeline import RunContext
from crm_spark.privacy import suppression
from crm_spark.sources.registry import Source
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


def start_query(spark: SparkSession, lake: Lake, cfg: Config, source: Source, ctx: RunContext,
                checkpoint: str, results: list[BatchResult], continuous_seconds: int | None = None,
                max_files: int = 0) -> StreamingQuery:
    """Start the streaming query of one file source; each batch appends to ``results``."""
    reader = spark.readStream
    if max_files:
        reader = reader.option("maxFilesPerTrigger", max_files)
    if source.spec.format == "parquet":
        schema = StructType([StructField(c.name, _parse_datatype_string(c.type.lower()))
                             for c in source.columns])
        stream = reader.format("parquet").schema(schema).load(source.path)
    else:
        stream = reader.format("text").load(source.path)
    stream = stream.withColumn("_source_file", F.col("_metadata.file_path"))

    def handle(batch_df: DataFrame, batch_id: int) -> None:
        result = process_batch(lake, cfg, source, ctx, batch_df, batch_id)
        if result is not None:
            results.append(result)

    writer = (stream.writeStream.foreachBatch(handle).queryName(f"ingest_{source.name}")
              .option("checkpointLocation", checkpoint))
    if continuous_seconds:
        writer = writer.trigger(processingTime=f"{continuous_seconds} seconds")
    else:
        writer = writer.trigger(availableNow=True)
    return writer.start()


def process_batch(lake: Lake, cfg: Config, source: Source, ctx: RunContext, batch_df: DataFrame,
                  batch_id: int) -> BatchResult | None:
    """Parse one micro-batch of a file source and write it exactly once.

    The batch is read twice: once for per-file facts (headers, new JSON keys, the number of
    rows read), once to parse and write. Rows read are thus counted apart from the parse and
    reconciled against what it kept and quarantined.
    """
    lines = batch_df.withColumn("_source", F.lit(source.name))
    if source.spec.format != "parquet":
        lines = lines.withColumnRenamed("value", "line")
    started = time.perf_counter()
    stats = _file_stats(lines, source)
    if not stats:
        return None
    log.info("bronze.%s batch %d: %d file(s) scanned in %.1f s", source.name, batch_id,
             len(stats), time.perf_counter() - started)
    rows_read = sum(r["rows"] for r in stats)
    if source.spec.format == "parquet":
        parsed, error, extra = _parquet_rows(lines, source)
    elif source.spec.format == "csv":
        parsed, error, extra = _csv_rows(lines, source, stats)
    else:
        parsed, error, extra = _json_rows(lines, source, stats)
    if extra:
        action = "added to bronze" if source.spec.allow_evolution else \
            "ignored (set allow_evolution: true to add them)"
        log.warning("schema drift in %s: new column(s) %s %s", source.name, ", ".join(extra), action)
    kept_extra = extra if source.spec.allow_evolution else []
    checked = parse.check_rows(parsed, source, error, extra=kept_extra)
    suppressor = suppression.suppressor(lake, source, cfg)
    result = write_batch(lake, source.name, checked, batch_id, rows_read, len(stats), ctx.now(),
                         ctx.run_id, new_columns=tuple(extra), merge_schema=bool(kept_extra),
                         suppressor=suppressor)
    suppression.recheck_batch(lake, cfg, source, suppressor, batch_id)
    return result


def _file_stats(lines: DataFrame, source: Source) -> list:
    """One row per file: ``rows`` (data lines), its CSV ``header``, its undeclared JSON ``keys``."""
    if source.spec.format == "parquet":
        return lines.groupBy("_source_file").agg(F.count(F.lit(1)).alias("rows")).collect()
    is_data = F.trim("line") != ""
    aggregates = []
    if source.spec.format == "csv":
        is_header = parse.csv_header_filter(source)
        is_data = is_data & ~is_header
        aggregates.append(F.max(F.when(is_header, F.col("line"))).alias("header"))
    else:
        declared = F.array(*[F.lit(c) for c in source.column_names])
        new_keys = F.array_except(F.coalesce(F.json_object_keys("line"), F.array()), declared)
        aggregates.append(F.array_distinct(F.flatten(F.collect_set(new_keys))).alias("keys"))
    return lines.groupBy("_source_file").agg(
        F.count(F.when(is_data, 1)).alias("rows"), *aggregates).collect()


def _csv_rows(lines: DataFrame, source: Source, stats: list):
    has_header = source.spec.options.get("header", "true").lower() == "true"
    data = lines.where(F.trim("line") != "")
    declared = source.column_names
    delimiter = source.spec.options.get("delimiter", ",")
    header_of = {}
    if has_header:
        data = data.where(~parse.csv_header_filter(source))
        header_of = {r["_source_file"]: tuple(h.strip().strip('"') for h in r["header"].split(delimiter))
                     for r in stats if r["header"] is not None}
    headerless = [r["_source_file"] for r in stats if r["_source_file"] not in header_of]
    extra: list[str] = []
    parts = []
    groups = {h: [f for f, fh in header_of.items() if fh == h] for h in set(header_of.values())}
    if headerless:  # no header line: the declared columns in order
        groups.setdefault(tuple(declared), []).extend(headerless)
    for header, files in groups.items():
        group = data.where(F.col("_source_file").isin(files)) if len(groups) > 1 else data
        parsed = parse.parse_csv(group, source, list(header))
        extra += [h for h in header if h not in declared and h not in extra]
        missing = [F.lit(None).cast("string").alias(c) for c in declared if c not in header]
        parts.append(parsed.select("line", "_source", "_source_file", "_field_count",
                                   *[c for c in header if c in declared or c in extra],
                                   *missing).withColumn("_expected", F.lit(len(header))))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.unionByName(part, allowMissingColumns=True)
    for column in extra:
        if column not in combined.columns:
            combined = combined.withColumn(column, F.lit(None).cast("string"))
    error = F.when(F.col("_field_count") != F.col("_expected"), F.concat(
        F.lit("expected "), F.col("_expected").cast("string"), F.lit(" fields, found "),
        F.col("_field_count").cast("string")))
    return combined, error, extra


def _json_rows(lines: DataFrame, source: Source, stats: list):
    data = lines.where(F.trim("line") != "")
    parsed = parse.parse_json(data, source.column_names)
    extra = sorted({k for r in stats for k in (r["keys"] or [])})
    for column in extra:
        parsed = parsed.withColumn(column, F.get_json_object("line", f"$.{column}"))
    error = F.when(F.col("_is_malformed"), F.lit("malformed JSON"))
    return parsed, error, extra


def _parquet_rows(rows: DataFrame, source: Source):
    as_text = rows.select(
        F.to_json(F.struct(*source.column_names)).alias("line"), "_source", "_source_file",
        *[F.col(c).cast("string").alias(c) for c in source.column_names])
    return as_text, F.lit(None).cast("string"), []
