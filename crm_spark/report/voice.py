"""The report's "Voice of the customer" section (issue 26): weekly ticket volume per theme, sentiment
per RFM segment, the emerging themes and a table of every theme with its representative ticket
(same contract as :mod:`crm_spark.report.sections`).

The charts cover the last ``WEEKS`` weeks up to ``as_of`` (the last week may be partial); the
theme table describes each theme over all its tickets, as gold.themes counts them (D106).
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from crm_spark.report.base import ReportData, Section, Table, fmt_int, fmt_pct, plot_text, styled

WEEKS = 26
MAX_THEMES = 12
MAX_SEGMENTS = 50
EXAMPLE_CHARS = 200
HOVER_WEEK = "week of %{x|%d %b %Y}: %{y:,} tickets<extra>%{fullData.name}</extra>"
OTHER_THEMES = "other themes"
NO_THEMES = ("No ticket has a theme at this as_of: there were too few ticket texts to fit the theme "
             "model, or no ticket source is configured (`crm-spark gold` logs which).")
NONE_EMERGING = ("No theme is emerging: no theme's share of the recent tickets grew markedly against "
                 "the weeks before.")
TITLE = "Voice of the customer"


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _short(text: str | None) -> str:
    if not text:
        return "(no text)"
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "\u2026"


def _label(theme: tuple[int, str], emerging: set[int]) -> str:
    return f"{theme[1]} (emerging)" if theme[0] in emerging else theme[1]


def _weekly_volumes(window_df: DataFrame, weeks: list[dt.date], emerging: set[int]) -> tuple[go.Figure, list]:
    """Stacked weekly tickets per theme, the ``MAX_THEMES`` largest of the window apart; and the
    themes in stack order as (label, total)."""
    rows = (window_df.groupBy("week", "theme_id", "theme").agg(F.sum("tickets").alias("tickets"))
            .orderBy("week", "theme_id").limit(WEEKS * 1000).collect())
    totals: dict[tuple[int, str], int] = {}
    for r in rows:
        totals[(r["theme_id"], r["theme"])] = totals.get((r["theme_id"], r["theme"]), 0) + r["tickets"]
    ranked = sorted(totals, key=lambda t: (-totals[t], t[0]))
    shown = ranked[:MAX_THEMES]
    # the largest theme at the bottom of the stack, "other themes" on top
    series: dict[str, dict[dt.date, int]] = {_label(t, emerging): {} for t in shown}
    for r in rows:
        key = (r["theme_id"], r["theme"])
        label = _label(key, emerging) if key in shown else OTHER_THEMES
        by_week = series.setdefault(label, {})
        by_week[r["week"]] = by_week.get(r["week"], 0) + r["tickets"]
    fig = go.Figure()
    palette = qualitative.Plotly
    for i, (label, by_week) in enumerate(series.items()):
        fig.add_trace(go.Bar(name=plot_text(label), x=weeks, y=[by_week.get(w, 0) for w in weeks],
                             marker_color="#bbbbbb" if label == OTHER_THEMES else palette[i % len(palette)],
                             hovertemplate=HOVER_WEEK))
    return fig, [(label, sum(by_week.values())) for label, by_week in series.items()]


def _by_segment(window_df: DataFrame) -> list[Row]:
    """Per RFM segment: tickets, negative ones, and the mean sentiment of its groups weighted by
    their tickets (groups whose texts have no sentiment, e.g. not English, left out; D106)."""
    has_sentiment = F.col("mean_sentiment").isNotNull()
    return (window_df.groupBy("segment")
            .agg(F.sum("tickets").alias("tickets"), F.sum("negative_tickets").alias("negative"),
                 (F.sum(F.when(has_sentiment, F.col("mean_sentiment") * F.col("tickets")))
                  / F.sum(F.when(has_sentiment, F.col("tickets")))).alias("sentiment"))
            .orderBy(F.desc("tickets"), "segment").limit(MAX_SEGMENTS).collect())


def _segment_figure(segments: list[Row]) -> go.Figure:
    ordered = sorted(segments, key=lambda r: (r["negative"] / r["tickets"], r["segment"]), reverse=True)
    labels = [plot_text(f"{r['segment']} (n={r['tickets']:,})") for r in ordered]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.22,
                        subplot_titles=("Mean sentiment", "Negative tickets"))
    colours = ["#d73027" if (r["sentiment"] or 0) < 0 else "#4575b4" for r in ordered]
    fig.add_trace(go.Bar(x=[r["sentiment"] for r in ordered], y=labels, orientation="h", marker_color=colours,
                         hovertemplate="%{y}: %{x:.2f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=[100 * r["negative"] / r["tickets"] for r in ordered], y=labels, orientation="h",
                         marker_color="#fc8d59", hovertemplate="%{y}: %{x:.1f}%<extra></extra>"),
                  row=1, col=2)
    fig.update_xaxes(title_text="Mean sentiment (\u22121 to 1)", range=[-1, 1], row=1, col=1)
    fig.update_xaxes(title_text="Negative tickets (%)", range=[0, 100], row=1, col=2)
    fig.update_yaxes(title_text="RFM segment (tickets)", autorange="reversed", row=1, col=1)
    fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=2)
    return styled(fig, height=max(320, 36 * len(ordered) + 140), showlegend=False, margin={"l": 200})


def _theme_profiles(trends_df: DataFrame) -> dict[int, Row]:
    """Per theme over all its weeks: negative share and the mean of its ratings."""
    rows = (trends_df.groupBy("theme_id")
            .agg(F.sum("tickets").alias("tickets"), F.sum("negative_tickets").alias("negative"),
                 F.sum("rated_tickets").alias("rated"),
                 (F.sum(F.col("mean_satisfaction") * F.col("rated_tickets"))
                  / F.sum("rated_tickets")).alias("satisfaction"))
            .limit(MAX_THEMES * 100).collect())
    return {r["theme_id"]: r for r in rows}


def _themes(data: ReportData, themes_df: DataFrame) -> list[Row]:
    """gold.themes with the representative ticket's redacted text and the first day of the
    tickets flagged emerging."""
    insights_df = data.snapshot("gold.ticket_insights")
    texts_df = insights_df.select(F.col("ticket_id").alias("example_ticket_id"), "body_redacted")
    flagged_df = (insights_df.filter(F.col("theme_emerging")).groupBy("theme_id")
                  .agg(F.to_date(F.min("created_at")).alias("recent_from")))
    return (themes_df.alias("t").join(texts_df.alias("x"), on="example_ticket_id", how="left")
            .join(flagged_df.alias("f"), on="theme_id", how="left")
            .select("theme_id", "theme", "terms", "tickets", "recent_tickets", "emerging", "body_redacted",
                    "recent_from")
            .orderBy(F.desc("tickets"), "theme_id").limit(MAX_THEMES * 100).collect())


def _emerging_paragraphs(themes: list[Row]) -> tuple[str, ...]:
    emerging = [t for t in themes if t["emerging"]]
    if not emerging:
        return (NONE_EMERGING,)
    return tuple(
        f"Emerging theme: \u201c{t['theme']}\u201d (terms: {', '.join(t['terms'] or [])}): "
        f"{fmt_int(t['recent_tickets'])} of its {fmt_int(t['tickets'])} tickets are recent"
        + (f" (the first on {t['recent_from']:%d %b %Y})" if t["recent_from"] else "")
        + f". Its representative ticket: \u201c{_short(t['body_redacted'])}\u201d"
        for t in emerging)


def _theme_table(themes: list[Row], profiles: dict[int, Row]) -> Table:
    rows = []
    for t in themes:
        profile = profiles.get(t["theme_id"])
        negative = fmt_pct(profile["negative"] / profile["tickets"]) if profile else "n/a"
        satisfaction = "n/a" if profile is None or profile["satisfaction"] is None else (
            f"{profile['satisfaction']:.2f}")
        rows.append((t["theme"] + (" (emerging)" if t["emerging"] else ""), fmt_int(t["tickets"]), negative,
                     satisfaction, _short(t["body_redacted"])))
    return Table(("Theme", "Tickets", "Negative", "Mean satisfaction (1\u20135)", "Representative ticket"),
                 tuple(rows), text_columns=(0, 4))


def _weeks_shown(trends_df: DataFrame) -> tuple[list[dt.date], dt.date]:
    """The ``WEEKS`` Mondays up to the week of ``as_of``, or up to the latest week with tickets
    when none came in that span (a chart of zeros says nothing); and ``as_of``."""
    bounds = trends_df.agg(F.max("as_of").alias("as_of"), F.max("week").alias("week")).collect()[0]
    last_week = _week_start(bounds["as_of"])
    if bounds["week"] <= last_week - dt.timedelta(weeks=WEEKS):
        last_week = bounds["week"]
    return [last_week - dt.timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)], bounds["as_of"]


def _reading(weeks: list[dt.date], stacked: list, segments: list[Row]) -> str:
    tickets = sum(total for _, total in stacked)
    reading = f"{fmt_int(tickets)} tickets with a theme in the {WEEKS} weeks from {weeks[0]:%d %b %Y}"
    label, total = max(stacked, key=lambda s: (s[1], s[0] != OTHER_THEMES))
    worst = max(segments, key=lambda r: (r["negative"] / r["tickets"], r["segment"]))
    return (f"{reading}; the largest theme, \u201c{label}\u201d, had {fmt_pct(total / tickets)} of them. "
            f"The most negative tickets came from {worst['segment']}: "
            f"{fmt_pct(worst['negative'] / worst['tickets'])} of their {fmt_int(worst['tickets'])} "
            "were negative.")


def voice_of_customer(data: ReportData) -> Section:
    """Themes over the last ``WEEKS`` weeks, sentiment by RFM segment, the emerging themes and
    every theme with its representative (redacted) ticket and mean satisfaction."""
    trends_df = data.snapshot("gold.theme_trends", no_rows_means=NO_THEMES)
    themes = _themes(data, data.snapshot("gold.themes", no_rows_means=NO_THEMES))
    weeks, as_of = _weeks_shown(trends_df)
    window_df = trends_df.filter(F.col("week").between(F.lit(weeks[0]), F.lit(weeks[-1])))
    volume_fig, stacked = _weekly_volumes(window_df, weeks, {t["theme_id"] for t in themes if t["emerging"]})
    partial = ("" if weeks[-1] + dt.timedelta(days=6) <= as_of
               else f"; the last holds only {as_of:%d %b %Y}" if weeks[-1] == as_of
               else f"; the last runs from {weeks[-1]:%d %b} to {as_of:%d %b %Y}")
    styled(volume_fig, height=440, barmode="stack", legend_title_text="Theme",
           xaxis_title=f"Week (starting Monday{partial})", yaxis_title="Tickets (count)")
    segments = _by_segment(window_df)
    figures = (volume_fig, _segment_figure(segments))
    return Section("voice", TITLE, _reading(weeks, stacked, segments), figures,
                   _theme_table(themes, _theme_profiles(trends_df)), paragraphs=_emerging_paragraphs(themes))
