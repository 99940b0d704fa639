"""The report as one self-contained HTML page: the plotly.js bundle inlined once in the head,
each chart a ``<div class="chart">`` that draws itself with it, every text escaped."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

import plotly.io as pio
from plotly.offline import get_plotlyjs

from crm_spark.report.base import Section, Table

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       background: #f4f5f7; }
header { background: #1f3b57; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: 0.85; }
nav { padding: 10px 32px; background: #fff; border-bottom: 1px solid #ddd; font-size: 14px; }
nav a { margin-right: 14px; color: #1f3b57; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 48px; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 18px 0; padding: 14px 20px; }
section h2 { margin: 4px 0 6px; font-size: 19px; }
.reading { margin: 0 0 8px; font-size: 15px; }
.empty-note { background: #f7f7f7; border: 1px dashed #bbb; padding: 14px; color: #555; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 10px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: right; }
th:nth-child(2), td:nth-child(2) { text-align: left; font-family: monospace; }
th.text, td.text { text-align: left; font-family: inherit; max-width: 520px; }
"""


def chart_html(fig, div_id: str) -> str:
    """A chart's div and drawing script; plotly.js itself comes from the page head."""
    height = fig.layout.height or 420
    inner = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG,
                        default_height=f"{height}px", default_width="100%")
    return f'<div class="chart" style="min-height:{height}px">{inner}</div>'


def text_html(text: str) -> str:
    """Escaped text where `backticked` spans (commands) become <code>."""
    parts = html.escape(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays as it is
        return html.escape(text)
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def table_html(table: Table) -> str:
    esc = html.escape

    def cell(tag: str, i: int, text: str) -> str:
        kind = ' class="text"' if i in table.text_columns else ""
        return f"<{tag}{kind}>{esc(text)}</{tag}>"

    head = "".join(cell("th", i, text) for i, text in enumerate(table.header))
    body = "".join("<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
                   for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section_html(section: Section) -> str:
    esc = html.escape
    parts = [f'<section id="{esc(section.id)}" data-section="{esc(section.id)}">',
             f"<h2>{esc(section.title)}</h2>"]
    if section.is_empty:
        parts.append(f'<p class="empty-note">{text_html(section.empty_note)}</p>')
    else:
        if section.reading:
            parts.append(f'<p class="reading">{text_html(section.reading)}</p>')
        parts += [f'<p class="reading">{text_html(paragraph)}</p>' for paragraph in section.paragraphs]
        parts += [chart_html(fig, f"chart-{section.id}-{i}")
                  for i, fig in enumerate(section.figures, start=1)]
        if section.table is not None and section.table.rows:
            parts.append(table_html(section.table))
    parts.append("</section>")
    return "\n".join(parts)


def render_page(sections: Sequence[Section], as_of: dt.date | None, lake_root: str,
                title: str = "CRM report") -> str:
    """The whole page; the same sections always give the same bytes (no clock, fixed div ids)."""
    esc = html.escape
    snapshot = f"as of {as_of.isoformat()}" if as_of else "latest snapshot of each table"
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)} ({esc(snapshot)})</title>",
        f"<style>{CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<header><h1>{esc(title)}</h1><p>{esc(snapshot)} \u00b7 lake {esc(lake_root)}</p></header>",
        f"<nav>{nav}</nav>",
        "<main>",
        *[section_html(s) for s in sections],
        "</main></body></html>",
    ])
