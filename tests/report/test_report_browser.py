"""The report opened in a real browser (headless Chromium): no JavaScript error, every section
draws its chart or says it is empty, and a screenshot is kept in test-artifacts/ to look at."""

from __future__ import annotations

import pytest

from crm_spark.report import build_report
from tests.conftest import PROJECT
from tests.support.browser import render, screenshot, section_states

pytestmark = pytest.mark.integration
ARTIFACTS = PROJECT / "test-artifacts" / "report"
SECTIONS_THE_ISSUE_LISTS = 12


def test_the_demo_report_renders_every_section_without_a_script_error(demo_lake, spark, tmp_path):
    cfg, _, _ = demo_lake
    out = tmp_path / "crm-report.html"

    summary = build_report(spark, cfg.lake.root, str(out))

    assert out.stat().st_size == summary.bytes < 10_000_000
    assert len(summary.sections) + len(summary.empty_sections) >= SECTIONS_THE_ISSUE_LISTS
    rendered = render(out)
    assert rendered.console == (), [m.message for m in rendered.console][:5]
    states = section_states(rendered.dom)
    assert set(states) == set(summary.sections) | set(summary.empty_sections)
    not_drawn = {s: sorted(v) for s, v in states.items() if not v}
    assert not_drawn == {}, f"sections showing neither a chart nor an empty note: {not_drawn}"
    assert all("chart" in states[s] for s in summary.sections)
    assert all("empty" in states[s] for s in summary.empty_sections)
    png = screenshot(out, ARTIFACTS / "demo-report.png")
    assert png.stat().st_size > 50_000


def test_a_lake_without_gold_tables_gives_a_report_of_empty_notes(spark, tmp_path):
    out = tmp_path / "empty.html"

    summary = build_report(spark, str(tmp_path / "no-lake"), str(out))

    assert summary.sections == ()
    rendered = render(out)
    assert [m for m in rendered.console if m.is_uncaught_error] == []
    states = section_states(rendered.dom)
    assert states and all(v == {"empty"} for v in states.values()), states
    screenshot(out, ARTIFACTS / "empty-report.png")
