"""``ops.runs``: one record per stage run — status, timing, the Delta versions of the tables it
read and wrote, and rows written — so any gold number can be traced to the input versions
that produced it (docs/quality.md has the lineage query).

Versions come from the newest commit file name in each table's ``_delta_log``
(:meth:`Lake.log_versions`), a file listing per table, so recording costs no Spark job.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

RUNS = "ops.runs"
RUN_COLUMNS = (
    "run_id STRING, stage STRING, status STRING, error STRING, started_at TIMESTAMP, "
    "seconds DOUBLE, as_of DATE, config_digest STRING, input_versions MAP<STRING, BIGINT>, "
    "output_versions MAP<STRING, BIGINT>, rows_written MAP<STRING, BIGINT>"
)
SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"   # skipped: error says why
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class StageRun:
    """What one stage run read, wrote and how it ended."""

    stage: str
    status: str
    started_at: dt.datetime
    seconds: float
    input_versions: Mapping[str, int] = field(default_factory=dict)
    output_versions: Mapping[str, int] = field(default_factory=dict)
    rows_written: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


def changed_versions(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The tables whose version moved (or that appeared) between two listings, at their new
    version."""
    return {table: version for table, version in sorted(after.items()) if before.get(table) != version}


def one_line(error: BaseException) -> str:
    """A failure as one line: our own messages as they are, others prefixed by their type."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, CrmSparkError):
        text = f"{type(error).__name__}: {text}"
    return text[:MAX_ERROR_CHARS]


def record_run(lake: Lake, cfg: Config, ctx: RunContext, run: StageRun) -> None:
    """Append one row to ``ops.runs``."""
    row = (ctx.run_id, run.stage, run.status, run.error, run.started_at, float(run.seconds), ctx.as_of,
           cfg.digest, dict(run.input_versions), dict(run.output_versions),
           {k: int(v) for k, v in run.rows_written.items()})
    lake.append(lake.spark.createDataFrame([row], RUN_COLUMNS), RUNS)
    log.info("%s: stage %s %s (%d inputs, %d outputs)", RUNS, run.stage, run.status,
             len(run.input_versions), len(run.output_versions))
