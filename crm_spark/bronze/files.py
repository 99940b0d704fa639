"""File sources (csv, json, parquet) ingested with Structured Streaming's file source.

One query per source, with its own checkpoint: ``trigger(availableNow=True)`` ingests every
file not seen before and stops (batch runs); a processing-time trigger keeps it running
(``--continuous``). Each micro-batch goes through :func:`process_batch`.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from urllib.parse import unquote

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import StructField, StructType, _parse_datatype_string

from crm_spark import fs
from crm_spark.bronze import bad_files, checkpoints, parse, text
from crm_spark.bronze.batch import BatchInput, BatchResult, write_batch
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.privacy import suppression
from crm_spark.sources.registry import Source
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


def start_query(spark: SparkSession, lake: Lake, cfg: Config, source: Source, ctx: RunContext,  # noqa: PLR0913 (the run's handles travel apart until one lake handle is passed, issue 23)
                checkpoint: str, results: list[BatchResult], continuous_seconds: int | None = None,
                max_files: int = 0) -> StreamingQuery:
    """Start the streaming query of one file source; each batch appends to ``results``.

    A checkpoint that still names the source's folder before the lake moved is first pointed
    at its folder now (D53).
    """
    checkpoints.follow_source_folder(spark, checkpoint, source.path)
    reader = spark.readStream
    if max_files:
        reader = reader.option("maxFilesPerTrigger", max_files)
    if source.spec.format == "parquet":
        stream = reader.format("parquet").schema(_parquet_schema(source)).load(source.path)
    else:
        stream = reader.format("text").load(source.path)
    stream = stream.withColumn("_source_file", F.col("_metadata.file_path"))

    def handle(batch_df: DataFrame, batch_id: int) -> None:
        result = process_batch(lake, cfg, source, ctx, batch_df, batch_id, checkpoint)
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
                  batch_id: int, checkpoint: str) -> BatchResult | None:
    """Parse one micro-batch of a file source and write it exactly once.

    The batch's files come from the query's own log and a CSV file's header from its first
    line, so the batch's data is read once, by the bronze append (D30); the lines read are
    counted on that read, before the parse, and reconciled against what it kept and
    quarantined. The quarantine reads again only the lines the append marked (D31). A file
    that cannot be read is set aside in ``bronze._bad_files`` and the batch is written
    without it (D56).
    """
    spark = batch_df.sparkSession
    batch_files = _batch_files(spark, checkpoint, batch_id)
    if batch_files is None:  # the query's log is unreadable: ask the data
        batch_files = [r[0] for r in batch_df.select("_source_file").distinct().collect()]
    if not batch_files:
        return None
    bad: dict[str, str] = {}
    while True:
        readable = [f for f in batch_files if f not in bad]
        files_df = batch_df if not bad else _read_files(spark, source, readable)
        try:
            result = _write_files(lake, cfg, source, ctx, _lines(files_df, source), readable,
                                  batch_id) if readable else None
            break
        except bad_files.UnreadableFile as error:
            bad[error.path] = error.reason
        except (Py4JJavaError, PySparkException) as error:
            path = bad_files.named_file(error, readable)
            if path is None:
                raise
            bad[path] = bad_files.reason_of(error)
    bad_files.record(lake, source.name, batch_id, bad, ctx.now(), ctx.run_id)
    return result


def _lines(files_df: DataFrame, source: Source) -> DataFrame:
    """The rows of a batch's files (``value`` or the parquet columns, ``_source_file``) with
    ``_source``; a text line decoded in the source's encoding as ``line``."""
    lines = files_df.withColumn("_source", F.lit(source.name))
    if source.spec.format == "parquet":
        return lines
    return text.with_decoded_lines(lines.withColumnRenamed("value", "line"), source.spec.encoding)


def read_lines(spark: SparkSession, source: Source, paths: list[str]) -> DataFrame:
    """The lines (parquet: rows) of ``paths`` as a batch of the source's query holds them."""
    return _lines(_read_files(spark, source, paths), source)


def _read_files(spark: SparkSession, source: Source, batch_files: list[str]) -> DataFrame:
    """The batch's ``batch_files`` read again as the file source reads them, for a batch that
    sets files aside: a filter on the file name does not keep Spark from opening a file."""
    paths = [unquote(f) for f in batch_files]
    if source.spec.format == "parquet":
        files_df = spark.read.format("parquet").schema(_parquet_schema(source)).load(paths)
    else:
        files_df = spark.read.format("text").load(paths)
    return files_df.withColumn("_source_file", F.col("_metadata.file_path"))


def _parquet_schema(source: Source) -> StructType:
    return StructType([StructField(c.name, _parse_datatype_string(c.type.lower())) for c in source.columns])


def _write_files(lake: Lake, cfg: Config, source: Source, ctx: RunContext, lines: DataFrame,
                 batch_files: list[str], batch_id: int) -> BatchResult:
    """Write the lines of ``batch_files`` (:func:`crm_spark.bronze.batch.write_batch`).

    Raises:
        UnreadableFile: a CSV file's first lines cannot be read.
    """
    batch, check, extra = batch_checker(source, lines, batch_files)
    log.info("bronze.%s batch %d: %d file(s)", source.name, batch_id, len(batch_files))
    kept_extra = extra if source.spec.allow_evolution else []

    suppressor = suppression.suppressor(lake, source, cfg)
    result = write_batch(lake, source.name, check, batch_id, batch, len(batch_files), ctx.now(),
                         ctx.run_id, new_columns=tuple(extra), merge_schema=bool(kept_extra),
                         suppressor=suppressor, warn_share=cfg.ingest.warn_quarantine_share)
    suppression.recheck_batch(lake, cfg, source, suppressor, batch_id)
    return result


def batch_checker(source: Source, lines: DataFrame, batch_files: list[str]):
    """How ingest checks the lines of ``batch_files``: the batch's input, the function that
    types its lines and gives each its reason (:func:`crm_spark.bronze.parse.check_rows`), and
    the undeclared columns found before the parse. ``crm-spark check-config`` checks sample
    lines with the same function.

    Raises:
        UnreadableFile: a CSV file's first lines cannot be read.
    """
    spark = lines.sparkSession
    if source.spec.format == "parquet":
        batch, extra, rows_of = BatchInput(lines, F.lit(True)), [], _parquet_rows
    elif source.spec.format == "csv":
        layouts = _csv_layouts(spark, source, batch_files)
        extra = _csv_extra(source, layouts)
        batch = BatchInput(lines, _csv_record(source, {header[0] for header in layouts}))
        rows_of = partial(_csv_rows, layouts=layouts, extra=extra)
    else:
        batch, extra = _json_input(lines, source)
        rows_of = partial(_json_rows, extra=extra)
    kept_extra = extra if source.spec.allow_evolution else []

    def check(lines_df: DataFrame) -> DataFrame:
        parsed, error = rows_of(lines_df, source)
        if source.spec.format == "parquet":
            return parse.check_rows(parsed, source, error, extra=kept_extra)
        error = text.with_undecodable_reason(error, source.spec.encoding)
        checked = parse.check_rows(parsed, source, error, extra=kept_extra)
        return text.only_undecodable_reason(checked, source.spec.encoding)

    return batch, check, extra


def _batch_files(spark: SparkSession, checkpoint: str, batch_id: int) -> list[str] | None:
    """The files of batch ``batch_id`` from the file source's log in the checkpoint (a ``v1``
    line, then one JSON object per file; every tenth batch a ``.compact`` file holding all
    earlier batches too). None when the log cannot be read."""
    folder = f"{checkpoint.rstrip('/')}/sources/0"
    for name in (str(batch_id), f"{batch_id}.compact"):
        content = fs.read_text(spark, f"{folder}/{name}")
        if content is None:
            continue
        header, *entries = content.splitlines()
        if header != "v1":
            return None
        try:
            files = [json.loads(e) for e in entries if e.strip()]
            paths = [f["path"] for f in files if f.get("batchId", batch_id) == batch_id]
        except (ValueError, KeyError, TypeError):
            return None
        return paths
    return None


def _has_header(source: Source) -> bool:
    return source.spec.options.get("header", "true").lower() == "true"


def _csv_record(source: Source, first_names: set[str]) -> Column:
    """True for a line that holds a record: not blank, not a header (``first_names``: the first
    names of the batch's headers)."""
    not_blank = F.trim("line") != ""
    return not_blank & ~parse.csv_header_filter(source, first_names) if _has_header(source) else not_blank


def _csv_layouts(spark: SparkSession, source: Source,
                 batch_files: list[str]) -> dict[tuple[str, ...], list[str]]:
    """Header -> the files that have it; files without a header line follow the declared
    columns. A file's header is its first non-blank line, if that is a header."""
    delimiter = source.spec.options.get("delimiter", ",")
    layouts: dict[tuple[str, ...], list[str]] = {}
    for path in batch_files:
        header = tuple(source.column_names)
        if _has_header(source):
            try:
                head = fs.head_lines(spark, path, 100)
            except Py4JJavaError as error:
                raise bad_files.UnreadableFile(path, bad_files.reason_of(error)) from error
            first = next((line for line in head if line.strip()), None)
            if first is not None and parse.is_csv_header(first, source):
                header = tuple(h.strip().strip('"') for h in first.split(delimiter))
        layouts.setdefault(header, []).append(path)
    return layouts


def _csv_extra(source: Source, layouts: dict[tuple[str, ...], list[str]]) -> list[str]:
    """The columns of the files' headers that the source does not declare."""
    declared = source.column_names
    return list(dict.fromkeys(h for header in layouts for h in header if h not in declared))


def _csv_rows(lines: DataFrame, source: Source, layouts: dict[tuple[str, ...], list[str]],
              extra: list[str]):
    parsed = parse.parse_csv(lines.where("_is_record"), source, layouts, [*source.column_names, *extra])
    error = (F.when(~F.col("_malformed"), None)
             .when(F.col("_field_count") != F.col("_expected"), F.concat(
                 F.lit("expected "), F.col("_expected").cast("string"), F.lit(" fields, found "),
                 F.col("_field_count").cast("string")))
             .otherwise("malformed CSV (a quote does not close)"))
    return parsed, error


def _json_input(lines: DataFrame, source: Source) -> tuple[BatchInput, list[str]]:
    """The batch's lines and its undeclared keys: found before the parse when the source may
    evolve (the columns must exist when bronze is written), else counted with the lines and
    reported after the write."""
    is_record = F.trim("line") != ""
    declared = F.array(*[F.lit(c) for c in source.column_names])
    new_keys = F.array_except(F.coalesce(F.json_object_keys("line"), F.array()), declared)
    if not source.spec.allow_evolution:
        batch = BatchInput(lines, is_record, {
            "new_keys": F.array_sort(F.array_distinct(F.flatten(F.collect_set(new_keys))))})
        return batch, []
    found = lines.select(F.explode(new_keys).alias("key")).distinct().collect()
    return BatchInput(lines, is_record), sorted(r.key for r in found)


def _json_rows(lines: DataFrame, source: Source, extra: list[str]):
    parsed = parse.parse_json(lines.where("_is_record"), source.column_names)
    for column in extra:
        parsed = parsed.withColumn(column, F.get_json_object("line", f"$.{column}"))
    error = F.when(F.col("_is_malformed"), F.lit("malformed JSON"))
    return parsed, error


def _parquet_rows(rows: DataFrame, source: Source):
    as_text = rows.select(
        F.to_json(F.struct(*source.column_names)).alias("line"), "_source", "_source_file",
        *[F.col(c).cast("string").alias(c) for c in source.column_names])
    return as_text, F.lit(None).cast("string")
