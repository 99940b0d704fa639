"""Lines as a source system would export them, with a planted rate of malformed lines, written
to deterministic file names so one seed gives byte-identical files."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import GenerateConfig
from crm_spark.generate import draws

log = logging.getLogger(__name__)

PERSONS_PER_FILE = 25_000


@dataclass(frozen=True)
class Dataset:
    """An export: its columns (name -> 'string' | 'number' | 'bool'), the column that keys a
    line, and the column a wrong-type corruption hits."""

    name: str
    fmt: str  # csv | json
    columns: dict[str, str]
    key: str
    typed_column: str
    files: int = 0  # 0 = one file per PERSONS_PER_FILE persons


def write_dataset(spark: SparkSession, df: DataFrame, ds: Dataset, gen: GenerateConfig,
                  out_dir: str, tmp_dir: str) -> tuple[int, DataFrame]:
    """Write ``df`` as ``out_dir/<name>/<name>-<k>.<ext>`` files.

    Returns:
        (data lines written, malformed lines: source, key, kind, line)
    """
    start = time.perf_counter()
    files = ds.files or gen.partitions or max(1, -(-gen.persons // PERSONS_PER_FILE))
    seed = gen.seed
    key = F.col(ds.key).cast("string")
    u = draws.uniform(seed, "malformed:" + ds.name, key)
    kind = F.when(u < gen.malformed_rate, F.when(
        draws.chance(0.5, seed, "malformed_kind:" + ds.name, key), "wrong_type")
        .otherwise("truncated" if ds.fmt == "csv" else "broken_json"))
    lines = df.select(
        key.alias("key"),
        F.pmod(F.xxhash64(F.lit(seed), F.lit("file"), key), F.lit(files)).alias("part"),
        F.xxhash64(F.lit(seed), F.lit("order"), key).alias("sort"),
        kind.alias("kind"),
        _line(ds, {}).alias("clean"),
        _line(ds, {ds.typed_column: F.lit("n/a")}).alias("wrong"),
    ).select(
        "key", "part", "sort", "kind",
        F.when(F.col("kind") == "wrong_type", F.col("wrong"))
        .when(F.col("kind").isNotNull(),
              F.expr("substring(clean, 1, cast(length(clean) * 0.6 as int))"))
        .otherwise(F.col("clean")).alias("line"),
    )
    lines = lines.persist(StorageLevel.DISK_ONLY)
    to_write = lines.select("part", "sort", "line")
    if ds.fmt == "csv":
        header = spark.range(files).select(
            F.col("id").cast("int").alias("part"), F.lit(None).cast("long").alias("sort"),
            F.lit(",".join(ds.columns)).alias("line"))
        to_write = to_write.unionByName(header)
    staging = f"{tmp_dir}/{ds.name}"
    (to_write.repartition(files, "part").sortWithinPartitions("part", F.col("sort").asc_nulls_first())
     .select("part", "line").write.mode("overwrite").partitionBy("part").text(staging))
    _rename_parts(spark, staging, f"{out_dir}/{ds.name}", ds.name, "csv" if ds.fmt == "csv" else "jsonl")
    rows = lines.count()
    malformed = lines.where(F.col("kind").isNotNull()).select(
        F.lit(ds.name).alias("source"), "key", "kind", "line")
    log.info("wrote %s: %d lines in %d file(s) in %.1f s", ds.name, rows, files,
             time.perf_counter() - start)
    return rows, malformed


def _line(ds: Dataset, replaced: dict[str, Column]) -> Column:
    values = {name: replaced.get(name, F.col(name)) for name in ds.columns}
    if ds.fmt == "json":
        return F.to_json(F.struct(*[v.alias(n) for n, v in values.items()]))
    return F.concat_ws(",", *[_csv_field(v.cast("string")) for v in values.values()])


def _csv_field(value: Column) -> Column:
    """RFC 4180: quote a field holding a comma, quote or line break; null is empty."""
    quoted = F.concat(F.lit('"'), F.regexp_replace(value, '"', '""'), F.lit('"'))
    return F.coalesce(F.when(value.rlike('[,"\r\n]'), quoted).otherwise(value), F.lit(""))


def _rename_parts(spark: SparkSession, staging: str, target: str, name: str, ext: str) -> None:
    """``staging/part=K/part-*`` -> ``target/<name>-K.<ext>`` (one file per part)."""
    for folder, is_dir in fs.list_dir(spark, staging):
        part = folder.rstrip("/").rsplit("/", 1)[-1]
        if not (is_dir and part.startswith("part=")):
            continue
        number = int(part.split("=", 1)[1])
        files = [f for f, d in fs.list_dir(spark, folder) if not d and "/part-" in f]
        for i, file in enumerate(sorted(files)):
            suffix = f"-{i}" if i else ""
            fs.rename(spark, file, f"{target}/{name}-{number:03d}{suffix}.{ext}")
    fs.delete(spark, staging)


def write_truth(spark: SparkSession, df: DataFrame, out_dir: str, name: str) -> None:
    """Ground truth as ``out_dir/<name>/<name>.csv`` with a header (one file per table)."""
    staging = f"{out_dir}/_staging_{name}"
    (df.orderBy(*df.columns[:2]).coalesce(1).write.mode("overwrite").option("header", True)
     .option("escape", '"').csv(staging))  # RFC 4180 quoting, as every CSV reader expects
    fs.delete(spark, f"{out_dir}/{name}")
    for file, is_dir in fs.list_dir(spark, staging):
        if not is_dir and file.rsplit("/", 1)[-1].startswith("part-"):
            fs.rename(spark, file, f"{out_dir}/{name}/{name}.csv")
    fs.delete(spark, staging)
