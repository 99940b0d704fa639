"""Bronze: every declared source ingested exactly once into ``bronze.<source>``, bad rows into
``bronze._quarantine``, and per-batch counts into ``bronze._ingest_log``."""

from __future__ import annotations

import logging
import re
import signal
import threading
from typing import Any

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from crm_spark import errors, fs
from crm_spark.bronze import files, jdbc
from crm_spark.bronze.batch import INGEST_LOG, QUARANTINE, BatchResult
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.sources.registry import Source, load_sources
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


def build(spark: SparkSession, cfg: Config, ctx: RunContext, only: str | None = None) -> dict[str, int]:
    """Ingest what is new in every source (or only ``only``) and stop.

    Returns:
        Rows written per table in this run.

    Raises:
        CrmSparkError: after all other sources ran, naming every source that failed.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    results: list[BatchResult] = []
    failures = []
    for source in load_sources(cfg, only):
        try:
            results += ingest_source(spark, lake, cfg, ctx, source)
        except CrmSparkError as e:
            failures.append(f"{source.name}: {e}")
            log.error("source %s failed: %s", source.name, e)
    if failures:
        raise CrmSparkError(f"{len(failures)} source(s) failed, the others were ingested: "
                            + " | ".join(failures))
    return summarise(results)


def ingest_source(spark: SparkSession, lake: Lake, cfg: Config, ctx: RunContext,
                  source: Source) -> list[BatchResult]:
    """Ingest one source until no new input is left."""
    if source.spec.format == "jdbc":
        result = jdbc.ingest_increment(spark, lake, cfg, ctx, source)
        return [result] if result else []
    if not fs.exists(spark, source.path):
        log.info("bronze.%s: %s does not exist yet; nothing to ingest", source.name, source.path)
        return []
    results: list[BatchResult] = []
    _quiet_query_failures(spark)
    query = files.start_query(spark, lake, cfg, source, ctx, checkpoint_of(cfg, source), results,
                              max_files=cfg.ingest.max_files_per_trigger)
    try:
        query.awaitTermination()
    except PySparkException as e:
        raise _query_error(e, source.name) from e
    if not results:
        log.info("bronze.%s: no new files", source.name)
    return results


def run_continuous(spark: SparkSession, cfg: Config, ctx: RunContext,
                   only: str | None = None, stop: threading.Event | None = None) -> dict[str, int]:
    """Keep every file source's query running with a processing-time trigger until SIGINT or
    SIGTERM (or ``stop`` is set), then stop the queries cleanly."""
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    results: list[BatchResult] = []
    queries = []
    for source in load_sources(cfg, only):
        if source.spec.format == "jdbc":
            log.warning("%s: jdbc sources are read in batch runs only", source.name)
            continue
        queries.append(files.start_query(spark, lake, cfg, source, ctx, checkpoint_of(cfg, source),
                                         results, continuous_seconds=cfg.ingest.trigger_seconds,
                                         max_files=cfg.ingest.max_files_per_trigger))
    log.info("ingesting continuously every %d s from %d source(s); stop with Ctrl-C",
             cfg.ingest.trigger_seconds, len(queries))
    try:
        while not stop.wait(1.0):
            for query in queries:
                if (error := query.exception()) is not None:
                    name = query.name.removeprefix("ingest_")
                    raise CrmSparkError(f"{name}: {_query_error(error, name)}")
    finally:
        for query in queries:
            query.stop()
        log.info("stopped %d streaming queries", len(queries))
    return summarise(results)


def checkpoint_of(cfg: Config, source: Source) -> str:
    return f"{cfg.lake.checkpoints.rstrip('/')}/bronze/{source.name}"


def summarise(results: list[BatchResult]) -> dict[str, int]:
    written: dict[str, int] = {}
    for r in results:
        written[f"bronze.{r.source}"] = written.get(f"bronze.{r.source}", 0) + r.rows_bronze
        if r.rows_quarantined or r.values_quarantined:
            written[QUARANTINE] = written.get(QUARANTINE, 0) + r.rows_quarantined + r.values_quarantined
        written[INGEST_LOG] = written.get(INGEST_LOG, 0) + 1
    return written


def _quiet_query_failures(spark: SparkSession) -> None:
    """Keep Spark's own log of a failed query (the whole Java and Python trace) out of stderr
    unless debug logging (-v) is on: the failure is raised again as one line (D50)."""
    if log.isEnabledFor(logging.DEBUG):
        return
    jvm: Any = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.execution.streaming", jvm.org.apache.logging.log4j.Level.OFF)


def _query_error(error: Exception, source: str) -> CrmSparkError:
    """The one-line error of a failed ingest query: the crm_spark error a batch raised (the query
    reports it inside a Python traceback), or a known Spark failure, else the first line."""
    raised = [m for m in map(_RAISED_IN_BATCH.match, str(error).splitlines()) if m]
    if raised:
        kind = getattr(errors, raised[-1]["kind"], None)
        message = raised[-1]["message"].strip()
        try:
            return kind(message) if isinstance(kind, type) and issubclass(kind, CrmSparkError) \
                else CrmSparkError(message)
        except TypeError:  # an error class built from other arguments
            return CrmSparkError(message)
    if errors.is_concurrent_write(error):
        # two queries on one checkpoint: the loser fails when it writes the batch's offsets or commit
        return errors.ConcurrentRunError(f"another ingest of source {source} is running; this one "
                                         "stopped and nothing is duplicated")
    return errors.known_failure(error) or CrmSparkError(_first_line(error))


_RAISED_IN_BATCH = re.compile(r"^\s*crm_spark\.errors\.(?P<kind>\w+): (?P<message>.+)$")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    for line in text.splitlines():
        if "Exception:" in line or "Error:" in line:
            return line.strip()[:400]
    return text.splitlines()[0][:400] if text else type(error).__name__
