"""Data quality: the expectations declared per table in ``conf/quality.yml``, evaluated after
each stage on the tables it wrote (and on demand), recorded in ``quality.results``.

A failing expectation with policy ``fail`` raises :class:`DataQualityError` once every result is
recorded, so the run stops before the next stage and no downstream table changes; ``warn`` only
records and logs. Each table is read at one pinned Delta version, which the result names.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.concurrency import run_all
from crm_spark.config import Config, ExpectationConfig
from crm_spark.context import RunContext
from crm_spark.errors import ConfigError, CrmSparkError, DataQualityError, TableNotFoundError
from crm_spark.quality import expectations as ex
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

RESULTS = "quality.results"
RESULT_COLUMNS = (
    "run_id STRING, stage STRING, table STRING, table_version BIGINT, expectation STRING, "
    "kind STRING, policy STRING, passed BOOLEAN, failing_rows BIGINT, rows_checked BIGINT, "
    "observed STRING, sample STRING, evaluated_at TIMESTAMP"
)
ON_DEMAND = "check"


@dataclass(frozen=True)
class Result:
    """One expectation evaluated on one version of a table."""

    table: str
    table_version: int
    expectation: ExpectationConfig
    check: ex.Check

    @property
    def failed_hard(self) -> bool:
        return not self.check.passed and self.expectation.policy == "fail"


def evaluate_stage(spark: SparkSession, cfg: Config, ctx: RunContext, stage: str,
                   tables: Mapping[str, int | None]) -> list[Result]:
    """Evaluate the expectations declared on the tables a stage wrote and record them.

    Args:
        stage: the stage's name, recorded with each result.
        tables: each table the stage wrote, with its version before the stage (None: new), the
            baseline of row_count_change.

    Returns:
        The results (empty when quality is disabled or no written table has expectations).

    Raises:
        DataQualityError: naming table, expectation and failing rows of the first failing
            ``fail`` expectation, after every result is recorded.
        ConfigError: an expectation names a column the table does not have.
    """
    declared = {t: cfg.quality.tables[t] for t in sorted(tables) if t in cfg.quality.tables}
    if not cfg.quality.enabled or not declared:
        return []
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    checks = {table: functools.partial(evaluate_table, lake, table, exps, ctx, tables[table],
                                       cfg.quality.sample_rows) for table, exps in declared.items()}
    # tables checked side by side (D91), results in table order
    results = [r for table_results in run_all(checks, cfg.spark.concurrency).values() for r in table_results]
    record(lake, ctx, stage, results)
    raise_on_failure(results)
    return results


def evaluate_declared(spark: SparkSession, cfg: Config, ctx: RunContext,
                      only: str | None = None) -> list[Result]:
    """Evaluate the declared expectations on the current version of every table that exists
    (or of ``only``), record them under stage ``check`` and return them; raises nothing for
    failing expectations (the caller decides).

    Raises:
        CrmSparkError: ``only`` is not a table name, has no expectations or does not exist.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    declared = dict(cfg.quality.tables)
    if only is not None:
        lake.path(only)  # refuses anything but layer.table
        if only not in declared:
            raise CrmSparkError(f"{only}: no expectations declared in quality.tables "
                                f"(declared: {', '.join(sorted(declared)) or 'none'})")
        if not lake.exists(only):
            raise TableNotFoundError(f"{only} does not exist at {lake.path(only)}; "
                                     "run the stage that writes it")
        declared = {only: declared[only]}
    results = []
    for table, exps in sorted(declared.items()):
        version = lake.log_version(table)
        if version is None:
            log.info("%s: not created yet; its expectations are skipped", table)
            continue
        baseline = version - 1 if version > 0 else None
        results += evaluate_table(lake, table, exps, ctx, baseline, cfg.quality.sample_rows)
    record(lake, ctx, ON_DEMAND, results)
    return results


def evaluate_table(lake: Lake, table: str, exps: Sequence[ExpectationConfig], ctx: RunContext,
                   baseline: int | None, sample_rows: int) -> list[Result]:
    """Evaluate ``exps`` on the table's current version; ``baseline`` is the version
    row_count_change compares with."""
    version = lake.log_version(table)
    if version is None:
        raise TableNotFoundError(f"{table} does not exist; its expectations cannot be evaluated")
    table_df = lake.read(table, version=version)
    for exp in exps:
        missing = [c for c in exp.keys if c not in table_df.columns]
        if missing:
            raise ConfigError(f"quality.tables.{table}: {exp.name}: {table} has no column "
                              f"{', '.join(missing)}")
    row_level = [e for e in exps if e.kind in ex.ROW_KINDS]
    checks = dict(zip([e.name for e in row_level], ex.row_checks(table_df, row_level, sample_rows),
                      strict=True))
    for exp in exps:
        if exp.kind not in ex.ROW_KINDS:
            checks[exp.name] = table_check(lake, table, table_df, exp, ctx, baseline, sample_rows)
    results = [Result(table, version, exp, checks[exp.name]) for exp in exps]
    for result in results:
        level = logging.INFO if result.check.passed else logging.WARNING
        log.log(level, "%s v%d: %s (%s, %s): %s: %s", table, version, result.expectation.name,
                result.expectation.kind, result.expectation.policy,
                "passed" if result.check.passed else "FAILED", result.check.observed)
    return results


def table_check(lake: Lake, table: str, table_df: DataFrame, exp: ExpectationConfig,
                ctx: RunContext, baseline: int | None, sample_rows: int) -> ex.Check:
    """Evaluate one expectation that is not row-level (unique, referential, freshness,
    row_count_change)."""
    if exp.kind == "unique":
        return ex.unique(table_df, exp, sample_rows)
    if exp.kind == "referential":
        assert exp.ref_table is not None  # required of a referential expectation at load time
        ref_df = lake.read(exp.ref_table) if lake.exists(exp.ref_table) else None
        ref_column = exp.ref_column or exp.column
        if ref_df is not None and ref_column not in ref_df.columns:
            raise ConfigError(f"quality.tables: {exp.name}: {exp.ref_table} has no column {ref_column}")
        return ex.referential(table_df, ref_df, exp, sample_rows)
    if exp.kind == "freshness":
        return ex.freshness(table_df, exp, reference_date(ctx))
    if exp.kind == "row_count_change":
        return ex.row_count_change(table_df.count(), previous_rows(lake, table, baseline), exp)
    raise ValueError(f"unknown expectation kind {exp.kind}")


def reference_date(ctx: RunContext) -> dt.date:
    """Freshness is judged against the run's as-of date, or the day the run started."""
    return ctx.as_of or ctx.started_at.date()


def previous_rows(lake: Lake, table: str, baseline: int | None) -> int | None:
    """Rows of the table at ``baseline``; None when there is none or it is no longer readable
    (files vacuumed), so row_count_change has nothing to compare."""
    if baseline is None:
        return None
    try:
        return lake.read(table, version=baseline).count()
    except (CrmSparkError, PySparkException) as e:
        log.warning("%s: version %d is not readable (%s); row_count_change has nothing to compare",
                    table, baseline, (str(e).splitlines() or [type(e).__name__])[0])
        return None


def record(lake: Lake, ctx: RunContext, stage: str, results: Iterable[Result]) -> None:
    """Append the results to ``quality.results`` (one commit for all of them)."""
    rows = [(ctx.run_id, stage, r.table, r.table_version, r.expectation.name, r.expectation.kind,
             r.expectation.policy, r.check.passed, r.check.failing_rows, r.check.rows_checked,
             r.check.observed, r.check.sample, ctx.now()) for r in results]
    if rows:
        lake.append(lake.spark.createDataFrame(rows, RESULT_COLUMNS), RESULTS)


def raise_on_failure(results: Sequence[Result]) -> None:
    """Raise DataQualityError for the first failing ``fail`` expectation (one line)."""
    failed = [r for r in results if r.failed_hard]
    if not failed:
        return
    first = failed[0]
    what = (f"{first.check.failing_rows:,} failing rows of {first.check.rows_checked:,}"
            if first.check.failing_rows is not None else first.check.observed)
    more = f" (and {len(failed) - 1} more failing expectations)" if len(failed) > 1 else ""
    raise DataQualityError(f"{first.table}: expectation {first.expectation.name} "
                           f"({first.expectation.kind}) failed: {what}{more}; see {RESULTS}")


def latest_results(lake: Lake, only: str | None = None) -> DataFrame:
    """The most recent result of each (table, expectation) in ``quality.results``."""
    results_df = lake.read(RESULTS)
    if only is not None:
        results_df = results_df.filter(F.col("table") == only)
    latest = F.max_by(F.struct(*results_df.columns), F.struct("evaluated_at", "table_version"))
    return (results_df.groupBy("table", "expectation").agg(latest.alias("r"))
            .select("r.*").orderBy("table", "expectation"))
