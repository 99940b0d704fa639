"""``crm-spark check-config``: the first rows of each source's files checked exactly as ingest
checks them (:func:`crm_spark.bronze.files.batch_checker`), with nothing written anywhere.

Each source reports how many sample rows ingest would keep, how many it would quarantine and
why (the reasons ingest writes to ``bronze._quarantine``), with the first rows of each reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.bronze import files, parse
from crm_spark.bronze.bad_files import UnreadableFile
from crm_spark.config import Config
from crm_spark.sources.registry import Source, load_sources

log = logging.getLogger(__name__)

DEFAULT_ROWS = 10_000      # sample rows per file
DEFAULT_FILES = 3          # sampled files per source
EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Rejected:
    reason: str
    count: int
    examples: tuple[str, ...]     # raw lines (CSV, JSON) or the row as JSON (parquet)


@dataclass
class SourceCheck:
    source: str
    entity: str
    format: str
    files: list[str] = field(default_factory=list)
    files_found: int = 0
    rows: int = 0
    rows_quarantined: int = 0
    values_quarantined: int = 0     # values nulled in kept rows (each a quarantine row)
    rows_with_values: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    undeclared_columns: list[str] = field(default_factory=list)
    problem: str | None = None      # the source could not be checked
    not_sampled: str | None = None  # why the source is not sampled here (jdbc)

    @property
    def share_hit(self) -> float:
        return (self.rows_quarantined + self.rows_with_values) / self.rows if self.rows else 0.0


def check_config(spark: SparkSession, cfg: Config, rows: int = DEFAULT_ROWS,
                 max_files: int = DEFAULT_FILES, only: str | None = None) -> list[SourceCheck]:
    """Check the first ``rows`` rows of up to ``max_files`` files of every enabled source.

    Raises:
        ConfigError: the sources do not validate (before any file is read).
    """
    samples: dict[tuple, DataFrame] = {}   # sources over the same files read them once
    return [_check_source(spark, source, rows, max_files, samples) for source in load_sources(cfg, only)]


def _check_source(spark: SparkSession, source: Source, rows: int, max_files: int,
                  samples: dict[tuple, DataFrame]) -> SourceCheck:
    result = SourceCheck(source.name, source.spec.entity, source.spec.format)
    if source.spec.format == "jdbc":
        result.not_sampled = "a jdbc source is checked by its first ingest (its query is not sampled)"
        return result
    if fs.is_file(spark, source.path):
        result.problem = (f"location {source.path} is a file: ingest reads a folder (every file in it); "
                          "point location at the folder that holds the export")
        return result
    found = _data_files(spark, source.path)
    result.files_found = len(found)
    if not found:
        result.problem = f"no files at {source.path}"
        return result
    result.files = found[:max_files]
    try:
        sample_df = _sample(spark, source, result.files, rows, samples)
        batch_files = [r[0] for r in sample_df.select("_source_file").distinct().collect()]
        batch, check, extra = files.batch_checker(source, sample_df, batch_files)
        _count(check(batch.unobserved), result)
    except UnreadableFile as e:
        result.problem = f"{e.path}: {e.reason}"
        return result
    except (PySparkException, Py4JJavaError) as e:
        result.problem = f"cannot be read as {source.spec.format}: {str(e).splitlines()[0]}"
        return result
    result.undeclared_columns = list(extra)
    return result


def _sample(spark: SparkSession, source: Source, paths: list[str], rows: int,
            samples: dict[tuple, DataFrame]) -> DataFrame:
    """The first ``rows`` lines (parquet: rows) of each of ``paths``, as the source reads them."""
    spec = source.spec
    key = (tuple(paths), spec.format, spec.encoding, spec.schema if spec.format == "parquet" else None)
    if key not in samples:
        parts = [files.read_lines(spark, source, [path]).limit(rows) for path in paths]
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        samples[key] = union.localCheckpoint()
    return samples[key].withColumn("_source", F.lit(source.name))


def _data_files(spark: SparkSession, location: str) -> list[str]:
    """The files ingest reads at ``location`` (a folder's visible files, or the file itself)."""
    entries = fs.list_dir(spark, location)
    return [path for path, is_dir in entries
            if not is_dir and not path.rsplit("/", 1)[-1].startswith((".", "_"))]


def _count(checked_df: DataFrame, result: SourceCheck) -> None:
    """The counts of ``checked_df`` into ``result``; the reasons and examples only when a row or
    value is quarantined (the sample is small: checking it again costs less than keeping it)."""
    valid = F.col("reason") == ""
    totals = checked_df.agg(
        F.count(F.lit(1)).alias("rows"), F.count(F.when(~valid, 1)).alias("quarantined"),
        F.coalesce(F.sum(F.when(valid, F.size("value_problems"))), F.lit(0)).alias("values"),
        F.count(F.when(valid & (F.size("value_problems") > 0), 1)).alias("rows_with_values")).collect()[0]
    result.rows, result.rows_quarantined = totals["rows"], totals["quarantined"]
    result.values_quarantined, result.rows_with_values = totals["values"], totals["rows_with_values"]
    if not result.rows_quarantined and not result.values_quarantined:
        return
    rejected_df = parse.rejected_rows(checked_df)
    counts = rejected_df.groupBy("reason").count().orderBy(F.desc("count"), "reason").collect()
    examples: dict[str, list[str]] = {}
    for row in rejected_df.select("reason", "raw").limit(2_000).collect():
        found = examples.setdefault(row["reason"], [])
        if len(found) < EXAMPLES_PER_REASON:
            found.append(row["raw"])
    result.rejected = [Rejected(r["reason"], r["count"], tuple(examples.get(r["reason"], ())))
                       for r in counts]


def format_checks(checks: list[SourceCheck], warn_share: float, width: int = 160) -> list[str]:
    """The report ``check-config`` prints."""
    lines = []
    for c in checks:
        head = f"{c.source} ({c.entity}, {c.format})"
        if c.not_sampled:
            lines.append(f"{head}: not sampled: {c.not_sampled}")
            continue
        if c.problem:
            lines.append(f"{head}: NOT CHECKED: {c.problem}")
            continue
        sampled = f"{len(c.files)} of {c.files_found} file(s)" if c.files_found > len(c.files) \
            else f"{len(c.files)} file(s)"
        lines.append(f"{head}: {c.rows:,} sample rows of {sampled}: {c.rows - c.rows_quarantined:,} "
                     f"kept, {c.rows_quarantined:,} would be quarantined, {c.values_quarantined:,} "
                     "values of kept rows would be quarantined (and nulled)")
        if c.share_hit > warn_share:
            lines.append(f"  WARNING: {c.share_hit:.0%} of the sample rows lose the row or a value "
                         "(ingest.warn_quarantine_share "
                         f"{warn_share:.0%}): is a declared type, format or delimiter wrong?")
        for rejected in c.rejected:
            lines.append(f"  {rejected.count:>8,}  {rejected.reason}")
            lines += [f"            {_cut(raw, width)}" for raw in rejected.examples]
        if c.undeclared_columns:
            lines.append(f"  columns not declared (not ingested): {', '.join(c.undeclared_columns)}")
    return lines


def _cut(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[:width - 3] + "..."
