"""The stages of the flow, in order, and a runner that reports what each one wrote.

Each stage is a function ``build(spark, cfg, ctx) -> dict[table, rows written]``; stages talk
only through Delta tables, so any stage can be re-run alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from crm_spark import fs
from crm_spark.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What a run passes down instead of reading clocks: its id, its as-of date, its start."""

    run_id: str
    started_at: dt.datetime
    as_of: dt.date | None = None
    # an as_of after the latest data is refused unless this is set (--force-as-of)
    force_as_of: bool = False
    # Lineage timestamps (``_ingested_at``) come from here; the CLI passes the wall clock.
    clock: Callable[[], dt.datetime] | None = None

    def now(self) -> dt.datetime:
        return self.clock() if self.clock else self.started_at


StageFn = Callable[[SparkSession, Config, RunContext], dict[str, int]]


@dataclass(frozen=True)
class Stage:
    """A step of the flow; ``reads`` and ``writes`` name the lake layers it reads and writes,
    whose table versions ``ops.runs`` records as its inputs and outputs."""

    name: str
    build: StageFn
    summary: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    # tables the stage cannot run without, each with what gives it; `run` skips the stage with
    # one line naming what is missing (a user's sources may feed only part of the flow)
    needs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StageReport:
    name: str
    seconds: float
    tables: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None   # why the stage did not run


def stages() -> list[Stage]:
    """The stages that exist so far, in flow order (imported lazily: each pulls in Spark code)."""
    from crm_spark import bronze, gold, identity, scoring, silver
    from crm_spark.models import train

    contacts = ("silver.contacts", "a contact source (entity: contact)")
    customers = ("silver.customers", "the resolve stage, which needs " + contacts[1])
    orders = ("silver.orders", "an order source (entity: order or pos_transaction)")
    return [
        # ingest reads landing files and JDBC sources, which have no Delta versions
        Stage("ingest", bronze.build, "landing files and JDBC sources -> bronze", (), ("bronze",)),
        Stage("silver", silver.build, "bronze -> standardised, deduplicated silver tables",
              ("bronze",), ("silver",)),
        Stage("resolve", identity.build, "contacts -> customers, golden record, facts keyed",
              ("silver",), ("silver",), (contacts,)),
        Stage("gold", gold.build, "silver -> customer 360, RFM, cohorts, KPIs, attribution, journeys",
              ("silver",), ("gold",), (orders, customers)),
        Stage("features", train.build_features, "point-in-time customer features",
              ("silver",), ("features",), (orders, customers)),
        Stage("train", train.train_all, "churn, CLV and recommendation models -> MLflow registry",
              ("silver", "features"), ("features",), (orders, customers)),
        Stage("score", scoring.build, "champion models -> churn and CLV scores, recommendations",
              ("silver", "features", "gold"), ("gold",), (orders, customers)),
    ]


def generate_demo(spark: SparkSession, cfg: Config) -> dict[str, int]:
    """Write the demo data set to the landing folder with the configured size and seed."""
    from crm_spark.generate import generate

    return generate(spark, cfg.generate, cfg.lake.landing, cfg.lake.truth)


def landing_is_empty(spark: SparkSession, cfg: Config) -> bool:
    return not fs.has_files(spark, cfg.lake.landing)


def run_stages(spark: SparkSession, cfg: Config, ctx: RunContext,
               selected: Sequence[Stage], skip_without_input: bool = False) -> list[StageReport]:
    """Run stages in order, timing each. After a stage, the expectations declared on the tables
    it wrote are evaluated (``quality.results``) and the stage's record is appended to
    ``ops.runs``. A failing stage, or a failing ``fail`` expectation, is recorded as failed and
    its error propagates: the run stops before the next stage. With ``skip_without_input``, a
    stage a table of whose ``needs`` does not exist is skipped: one log line names what it would
    need, and ``ops.runs`` records it as skipped with that reason (D68).

    Raises:
        DataQualityError: a ``fail`` expectation on a table the stage wrote does not hold.
    """
    from crm_spark import ops, quality
    from crm_spark.sql.catalog import register_lake
    from crm_spark.tables import Lake

    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    reports = []
    for stage in selected:
        missing = [what for table, what in stage.needs if not lake.exists(table)]
        if skip_without_input and missing:
            reason = f"needs {' and '.join(missing)}"
            log.info("stage %s skipped: it %s", stage.name, reason)
            skipped = ops.StageRun(stage.name, ops.SKIPPED, ctx.now(), 0.0, error=reason)
            ops.record_run(lake, cfg, ctx, skipped)
            reports.append(StageReport(stage.name, 0.0, skipped=reason))
            continue
        log.info("stage %s: %s", stage.name, stage.summary)
        before = lake.log_versions(dict.fromkeys((*stage.reads, *stage.writes)))
        inputs = {t: v for t, v in before.items() if t.split(".")[0] in stage.reads}
        started_at, start = ctx.now(), time.perf_counter()
        tables: dict[str, int] = {}
        try:
            tables = dict(stage.build(spark, cfg, ctx) or {})
            written = ops.changed_versions(before, lake.log_versions(stage.writes))
            quality.evaluate_stage(spark, cfg, ctx, stage.name, {t: before.get(t) for t in written})
        except Exception as error:
            failed = ops.StageRun(stage.name, ops.FAILED, started_at, time.perf_counter() - start, inputs,
                                  ops.changed_versions(before, lake.log_versions(stage.writes)), tables,
                                  ops.one_line(error))
            _record_failure(lake, cfg, ctx, failed)
            raise
        seconds = time.perf_counter() - start
        ops.record_run(lake, cfg, ctx, ops.StageRun(stage.name, ops.SUCCEEDED, started_at, seconds,
                                                    inputs, written, tables))
        log.info("stage %s done in %.1f s", stage.name, seconds)
        reports.append(StageReport(stage.name, seconds, tables))
    register_lake(spark, cfg.lake.root)   # the tables these stages created, for SQL (D79)
    return reports


def _record_failure(lake, cfg: Config, ctx: RunContext, run) -> None:
    """Record a failed stage without hiding its error behind a failure to record it."""
    from crm_spark import ops

    try:
        ops.record_run(lake, cfg, ctx, run)
    except Exception as e:  # the stage's own error is the one to report
        log.warning("could not record the failed stage %s in %s: %s", run.stage, ops.RUNS, e)


def format_summary(reports: Sequence[StageReport]) -> str:
    """A short table: stage, table, rows written, seconds."""
    lines = [f"{'stage':<10} {'table':<34} {'rows':>12} {'seconds':>8}"]
    for report in reports:
        if report.skipped:
            lines.append(f"{report.name:<10} {'(skipped: ' + report.skipped + ')'}")
        elif not report.tables:
            lines.append(f"{report.name:<10} {'(nothing new)':<34} {'':>12} {report.seconds:>8.1f}")
        for i, (table, rows) in enumerate(sorted(report.tables.items())):
            seconds = f"{report.seconds:.1f}" if i == 0 else ""
            lines.append(f"{report.name:<10} {table:<34} {rows:>12,} {seconds:>8}")
    total = sum(r.seconds for r in reports)
    lines.append(f"{'total':<10} {'':<34} {'':>12} {total:>8.1f}")
    return "\n".join(lines)
