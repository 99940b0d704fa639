"""Report sections about the lake itself: identity resolution and data quality (same contract as
:mod:`crm_spark.report.sections`). These tables hold the current state, not ``as_of`` snapshots."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pyspark.sql import functions as F

from crm_spark.report.base import EmptySection, ReportData, Section, fmt_int, fmt_pct, plot_text, styled

MAX_SOURCES = 50
MAX_REASONS = 8
OTHER = "other"


def identity(data: ReportData) -> Section:
    """How source records resolve to customers: records per customer, the share of each source's
    records linked to a customer who also has records in another source, and the rule mix."""
    map_df = data.current("silver.identity_map").select("source", "customer_id", "rule")
    sources_df = map_df.filter(F.col("customer_id").isNotNull()).groupBy("customer_id").agg(
        F.count_distinct("source").alias("sources"))
    by_source = (
        map_df.alias("m").join(sources_df.alias("c"), on="customer_id", how="left")
        .groupBy("source")
        .agg(F.count(F.lit(1)).alias("records"),
             F.count(F.when(F.col("sources") > 1, F.lit(1))).alias("linked"))
        .orderBy(F.desc("records"), "source").limit(MAX_SOURCES).collect())
    rules = (map_df.groupBy(F.coalesce("rule", F.lit("none")).alias("rule"))
             .agg(F.count(F.lit(1)).alias("records")).orderBy(F.desc("records"), "rule")
             .limit(MAX_SOURCES).collect())
    totals = map_df.agg(F.count(F.lit(1)).alias("records"),
                        F.count_distinct("customer_id").alias("customers")).collect()[0]

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.15,
                        subplot_titles=("Records linked across sources", "Records by matching rule"))
    fig.add_trace(go.Bar(x=[plot_text(r["source"]) for r in by_source],
                         y=[100 * r["linked"] / r["records"] for r in by_source], marker_color="#4575b4",
                         customdata=[[r["linked"], r["records"]] for r in by_source],
                         hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]:,} of %{customdata[1]:,})"
                                       "<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=[plot_text(r["rule"]) for r in rules], y=[r["records"] for r in rules],
                         marker_color="#91bfdb"), row=1, col=2)
    fig.update_xaxes(title_text="Source", row=1, col=1)
    fig.update_yaxes(title_text="Records linked (%)", range=[0, 100], row=1, col=1)
    fig.update_xaxes(title_text="Rule", row=1, col=2)
    fig.update_yaxes(title_text="Records (count)", row=1, col=2)
    styled(fig, height=420, showlegend=False)

    records, customers = totals["records"], totals["customers"]
    linked = sum(r["linked"] for r in by_source)
    reading = (f"{fmt_int(records)} source records resolve to {fmt_int(customers)} customers "
               f"({records / customers:.2f} records per customer); {fmt_pct(linked / records)} of records "
               f"belong to a customer seen in more than one source.") if customers else (
        f"{fmt_int(records)} source records, none linked to a customer yet.")
    return Section("identity", "Identity resolution", reading, (fig,))


def _reason_kind():
    """A quarantine reason without its values: the first problem, quoted text as '…' and
    numbers as N, so "changed_at: 'n/a' is not TIMESTAMP" and "... '2024-13-01' ..." group."""
    first = F.split(F.col("reason"), "; ")[0]
    return F.regexp_replace(F.regexp_replace(first, "'[^']*'", "'\u2026'"), r"\b[0-9]+\b", "N")


def data_quality(data: ReportData) -> Section:
    """Quarantined bronze rows by source and kind of reason, against the rows read (ingest log)."""
    read = None
    try:
        log_df = data.current("bronze._ingest_log")
        read = log_df.agg(F.sum("rows_read").alias("rows"),
                          F.count_distinct("source").alias("sources")).collect()[0]
    except EmptySection:
        pass
    try:
        quarantine_df = data.current("bronze._quarantine")
    except EmptySection as e:
        if read is None or not read["rows"]:
            raise
        raise EmptySection(f"No row was quarantined: all {fmt_int(read['rows'])} rows read from "
                           f"{read['sources']} sources passed their checks.") from e
    kinds_df = quarantine_df.select(F.col("_source").alias("source"), _reason_kind().alias("kind"))
    top_kinds = [r["kind"] for r in kinds_df.groupBy("kind").agg(F.count(F.lit(1)).alias("rows"))
                 .orderBy(F.desc("rows"), "kind").limit(MAX_REASONS).collect()]
    kind = F.when(F.col("kind").isin(top_kinds), F.col("kind")).otherwise(F.lit(OTHER))
    rows = (kinds_df.groupBy("source", kind.alias("kind")).agg(F.count(F.lit(1)).alias("rows"))
            .orderBy("source", "kind").limit(MAX_SOURCES * (MAX_REASONS + 1)).collect())
    sources = sorted({r["source"] for r in rows})
    fig = go.Figure()
    for name in [*top_kinds, OTHER]:
        counts = {r["source"]: r["rows"] for r in rows if r["kind"] == name}
        if counts:
            fig.add_trace(go.Bar(name=plot_text(name), y=[plot_text(s) for s in sources],
                                 x=[counts.get(s, 0) for s in sources], orientation="h"))
    styled(fig, height=max(340, 34 * len(sources) + 200), barmode="stack",
           xaxis_title="Quarantined rows (count)", yaxis_title="Source",
           legend={"orientation": "h", "y": -0.25, "title": {"text": "Reason"}})
    quarantined = sum(r["rows"] for r in rows)
    of_read = f" ({fmt_pct(quarantined / read['rows'], 1)} of {fmt_int(read['rows'])} read)" if (
        read is not None and read["rows"]) else ""
    reading = (f"{fmt_int(quarantined)} rows were quarantined{of_read}, most often for "
               f"\u201c{top_kinds[0]}\u201d.")
    return Section("quality", "Data quality: quarantined rows", reading, (fig,))
