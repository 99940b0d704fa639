"""The report: one self-contained HTML dashboard of the gold tables at one ``as_of``.

Each section reads its tables, aggregates them in Spark and brings only small results to the
driver (per month, per segment, a top-N); a missing or empty table gives that section a note
naming the table and the command that fills it, and the rest of the report still renders.
The page embeds plotly.js once, so it opens offline.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crm_spark.concurrency import run_all
from crm_spark.errors import CrmSparkError
from crm_spark.report import marketing, operations, sections, voice
from crm_spark.report.base import EmptySection, ReportData, Section
from crm_spark.report.page import render_page
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

DEFAULT_CURRENCY = "currency units"
SECTIONS: tuple[tuple[str, str, Callable[[ReportData], Section]], ...] = (
    ("kpis", "Key figures", sections.kpi_tiles),
    ("trends", "Revenue and active customers by channel", sections.trends),
    ("cohorts", "Cohort retention", sections.cohorts),
    ("rfm", "RFM segments: size and value", sections.rfm_segments),
    ("segments", "Behavioural segment profiles", sections.behavioural_segments),
    ("churn", "Churn risk", sections.churn_risk),
    ("clv", "Customer lifetime value", sections.clv_deciles),
    ("attribution", "Attribution models by channel", marketing.attribution),
    ("funnel", "Funnel conversion", marketing.funnel),
    ("affinity", "Top product affinities", marketing.affinity),
    ("voice", voice.TITLE, voice.voice_of_customer),
    ("identity", "Identity resolution", operations.identity),
    ("quality", "Data quality: quarantined rows", operations.data_quality),
)


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`build_report` wrote: the section ids with charts, those with an empty-state
    note, the file's size and the ``as_of`` shown (None: each table's latest snapshot)."""

    path: str
    as_of: dt.date | None
    sections: tuple[str, ...]
    empty_sections: tuple[str, ...]
    bytes: int
    seconds: float


def latest_as_of(lake: Lake) -> dt.date | None:
    """The newest snapshot of gold.kpi_monthly that the data reaches (a snapshot forced past the
    latest data is shown only with ``--as-of``), or None when the table is missing or empty."""
    from crm_spark.as_of import latest_snapshot

    return latest_snapshot(lake, "gold.kpi_monthly")


def main_currency(lake: Lake) -> str:
    """The most common currency code of silver.orders (revenue is summed as it is)."""
    if not lake.exists("silver.orders"):
        return DEFAULT_CURRENCY
    top = (lake.read("silver.orders").filter(F.col("currency").isNotNull()).groupBy("currency").count()
           .orderBy(F.desc("count"), "currency").limit(1).collect())
    return top[0]["currency"] if top else DEFAULT_CURRENCY


def build_section(data: ReportData, section_id: str) -> Section:
    """One section by its id in ``SECTIONS`` (the notebooks show them one by one), or its
    empty-state note when its tables have nothing to show.

    Raises:
        CrmSparkError: unknown ``section_id``.
    """
    known = {sid: (title, build) for sid, title, build in SECTIONS}
    if section_id not in known:
        raise CrmSparkError(f"unknown report section '{section_id}' (known: {', '.join(known)})")
    title, build = known[section_id]
    start = time.perf_counter()
    try:
        section = build(data)
    except EmptySection as e:
        section = Section(section_id, title, empty_note=str(e))
    log.info("report: %s %s in %.1f s", section_id, "empty" if section.is_empty else "rendered",
             time.perf_counter() - start)
    return section


def build_sections(data: ReportData, concurrency: int = 1) -> list[Section]:
    """Every section in report order, an empty-state one where its tables have nothing to show;
    ``concurrency`` sections are read side by side (D91)."""
    tasks = {section_id: functools.partial(build_section, data, section_id) for section_id, _, _ in SECTIONS}
    return list(run_all(tasks, concurrency).values())


def build_report(spark: SparkSession, lake_root: str, out_path: str, as_of: dt.date | None = None,
                 currency: str | None = None, concurrency: int = 1) -> ReportSummary:
    """Write the HTML dashboard of the lake at ``lake_root`` to ``out_path``.

    Args:
        spark: a session with Delta enabled.
        lake_root: the lake's root (``<root>/<layer>/<table>``).
        out_path: the HTML file to write (its folder is created; replaced atomically).
        as_of: the snapshot to show; default :func:`latest_as_of`.
        currency: the unit of money amounts; default the most common currency of silver.orders.
        concurrency: sections read side by side (``spark.concurrency``).

    Returns:
        A :class:`ReportSummary`.
    """
    start = time.perf_counter()
    lake = Lake(spark, lake_root)
    as_of = as_of or latest_as_of(lake)
    data = ReportData(lake, as_of, currency or main_currency(lake))
    log.info("report: lake %s, as_of %s", lake_root, as_of or "latest per table")
    built = build_sections(data, concurrency)
    page = render_page(built, as_of, lake_root).encode("utf-8")
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(page)
    os.replace(partial, target)
    summary = ReportSummary(
        path=str(target), as_of=as_of, sections=tuple(s.id for s in built if not s.is_empty),
        empty_sections=tuple(s.id for s in built if s.is_empty), bytes=len(page),
        seconds=time.perf_counter() - start)
    log.info("report: %s written (%d bytes, %d sections, %d empty) in %.1f s", target, summary.bytes,
             len(summary.sections), len(summary.empty_sections), summary.seconds)
    return summary
