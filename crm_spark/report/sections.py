"""Report sections about sales and customers: KPI tiles, trends, cohorts, RFM, behavioural
segments, churn risk and lifetime value.

Each section takes :class:`ReportData`, aggregates in Spark, brings a bounded result to the driver
(per month, per segment, per decile, a top-N) and returns a :class:`Section`; a missing or empty
input table raises :class:`EmptySection`, which the report shows as a note.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from pyspark.sql import Row, Window
from pyspark.sql import functions as F

from crm_spark.report.base import (
    EmptySection,
    ReportData,
    Section,
    Table,
    fmt_change,
    fmt_int,
    fmt_money,
    fmt_pct,
    month_end,
    month_label,
    plot_text,
    styled,
)

ALL = "all"
MAX_MONTHS = 36
MAX_COHORTS = 24
MAX_SEGMENTS = 50
TOP_AT_RISK = 20
HIGH_RISK = 0.5
# column, tile title, kind, whether a rise is good news
KPI_TILES = (
    ("revenue", "Revenue", "money", True),
    ("orders", "Orders", "count", True),
    ("active_customers", "Active customers", "count", True),
    ("new_customers", "New customers", "count", True),
    ("average_order_value", "Average order value", "money", True),
    ("repeat_purchase_rate", "Repeat purchase rate", "rate", True),
    ("churn_rate", "Churn rate", "rate", False),
    ("cac", "Acquisition cost (CAC)", "money", False),
)
GOOD, BAD = "#1a9850", "#d73027"
PALETTE = qualitative.Plotly
PROFILE_FEATURES = (
    ("mean_recency_days", "Recency (days)"), ("mean_frequency", "Purchases"),
    ("mean_monetary", "Spend"), ("mean_web_sessions_90d", "Web sessions 90d"),
    ("mean_email_opens_90d", "E-mail opens 90d"), ("mean_email_clicks_90d", "E-mail clicks 90d"),
)


def reporting_month(rows_desc: list[Row]) -> tuple[Row, Row | None, bool]:
    """The month to report from rows of one channel, newest first: the latest month that ended
    by ``as_of``, else the latest (partial) one; with the month before it and whether it is
    partial. A partial month against a full one would read as a fall."""
    index = 0
    if month_end(rows_desc[0]["month"]) > rows_desc[0]["as_of"] and len(rows_desc) > 1:
        index = 1
    current = rows_desc[index]
    previous = rows_desc[index + 1] if len(rows_desc) > index + 1 else None
    return current, previous, month_end(current["month"]) > current["as_of"]


def _period_label(row: Row, partial: bool) -> str:
    label = month_label(row["month"])
    return f"{label} (to {row['as_of']:%d %b})" if partial else label


def _versus(current: Row, previous: Row | None, column: str) -> str:
    """' (−20% vs Oct 2024)', or '' without a previous month or a non-zero previous value."""
    if previous is None:
        return ""
    change = fmt_change(current[column], previous[column])
    return "" if change == "n/a" else f" ({change} vs {month_label(previous['month'])})"


def _monthly_all(data: ReportData, columns: list[str]) -> list[Row]:
    rows = (data.snapshot("gold.kpi_monthly").filter(F.col("channel") == ALL)
            .select("month", "as_of", *columns).orderBy(F.desc("month")).limit(3).collect())
    if not rows:
        raise EmptySection("gold.kpi_monthly has no rows for channel 'all': run `crm-spark gold`.")
    return rows


def kpi_tiles(data: ReportData) -> Section:
    """The headline KPIs of the reporting month with their change against the month before."""
    rows = _monthly_all(data, [column for column, *_ in KPI_TILES])
    current, previous, partial = reporting_month(rows)
    tiles = [tile for tile in KPI_TILES if current[tile[0]] is not None]
    columns = 4
    fig = go.Figure()
    for i, (column, title, kind, rise_is_good) in enumerate(tiles):
        value = float(current[column]) * (100 if kind == "rate" else 1)
        unit = {"money": data.unit, "count": "count", "rate": "%"}[kind]
        number = {"valueformat": ",.1f" if kind == "rate" else ",.0f"}
        if kind == "money" and abs(value) < 100:
            number["valueformat"] = ",.2f"
        reference = previous[column] if previous is not None else None
        delta = None
        if reference is not None:
            good, bad = {"color": GOOD}, {"color": BAD}
            delta = {"reference": float(reference) * (100 if kind == "rate" else 1),
                     "relative": kind != "rate", "valueformat": ".1%" if kind != "rate" else ".1f",
                     "suffix": " pts" if kind == "rate" else "",
                     "increasing": good if rise_is_good else bad,
                     "decreasing": bad if rise_is_good else good}
        fig.add_trace(go.Indicator(
            mode="number+delta" if delta else "number", value=value, number=number, delta=delta,
            title={"text": f"{title}<br><span style='font-size:0.75em;color:#666'>{unit}</span>"},
            domain={"row": i // columns, "column": i % columns}))
    grid_rows = (len(tiles) + columns - 1) // columns
    styled(fig, height=210 * grid_rows, margin={"l": 20, "r": 20, "t": 70, "b": 10},
           grid={"rows": grid_rows, "columns": columns, "pattern": "independent", "ygap": 0.45})
    period = _period_label(current, partial)
    reading = (f"In {period}, {fmt_int(current['active_customers'] or 0)} customers bought"
               f"{_versus(current, previous, 'active_customers')}, {fmt_int(current['new_customers'] or 0)} "
               f"of them for the first time, and revenue was "
               f"{fmt_money(current['revenue'] or 0, data.currency)}.")
    title = f"Key figures, {period}" + (f" vs {month_label(previous['month'])}" if previous else "")
    return Section("kpis", title, reading, (fig,))


def trends(data: ReportData) -> Section:
    """Monthly revenue and active customers by sales channel over the last ``MAX_MONTHS`` months."""
    monthly_df = data.snapshot("gold.kpi_monthly")
    latest = monthly_df.agg(F.max("month")).collect()[0][0]
    rows = (monthly_df.filter(F.col("month") > F.add_months(F.lit(latest), -MAX_MONTHS))
            .select("month", "channel", "revenue", "active_customers", "as_of")
            .orderBy("month", "channel").limit(MAX_MONTHS * 10).collect())
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Revenue", "Active customers"))
    channels = sorted({r["channel"] for r in rows}, key=lambda c: (c != ALL, c))
    for i, channel in enumerate(channels):
        points = [r for r in rows if r["channel"] == channel]
        # One colour per channel in both panels (plotly would give each trace the next colour).
        style = {"color": "#333", "width": 3} if channel == ALL else {"color": PALETTE[i % len(PALETTE)]}
        months = [r["month"] for r in points]
        fig.add_trace(go.Scatter(x=months, y=[float(r["revenue"] or 0) for r in points], mode="lines+markers",
                                 name=plot_text(channel), legendgroup=channel, line=style), row=1, col=1)
        fig.add_trace(go.Scatter(x=months, y=[r["active_customers"] for r in points], mode="lines+markers",
                                 name=plot_text(channel), legendgroup=channel, showlegend=False, line=style),
                      row=2, col=1)
    fig.update_yaxes(title_text=f"Revenue ({data.unit})", row=1, col=1)
    fig.update_yaxes(title_text="Active customers (count)", row=2, col=1)
    month_count = len({r["month"] for r in rows})
    # Month ticks, at most about twelve of them, instead of plotly's weekly ones on short spans.
    fig.update_xaxes(tickformat="%b %Y", dtick=f"M{max(1, -(-month_count // 12))}")
    fig.update_xaxes(title_text="Month", row=2, col=1)
    styled(fig, height=560, legend_title_text="Sales channel")

    all_desc = sorted((r for r in rows if r["channel"] == ALL), key=lambda r: r["month"], reverse=True)
    if not all_desc:
        return Section("trends", "Revenue and active customers by channel", "", (fig,))
    current, previous, partial = reporting_month(all_desc)
    revenue = float(current["revenue"] or 0)
    reading = (f"Revenue in {_period_label(current, partial)} was {fmt_money(revenue, data.currency)}"
               f"{_versus(current, previous, 'revenue')}")
    shares = [(float(r["revenue"]), r["channel"]) for r in rows
              if r["month"] == current["month"] and r["channel"] != ALL and r["revenue"] is not None]
    if shares and revenue > 0:
        top_revenue, top_channel = max(shares)
        reading += f"; {top_channel} brought {fmt_pct(top_revenue / revenue)} of it"
    return Section("trends", "Revenue and active customers by channel", reading + ".", (fig,))


def cohorts(data: ReportData) -> Section:
    """Heat map of the share of each monthly cohort that buys again, month by month."""
    cohort_df = data.snapshot("gold.cohort_retention")
    latest = cohort_df.agg(F.max("cohort_month")).collect()[0][0]
    rows = (cohort_df.filter(F.col("cohort_month") > F.add_months(F.lit(latest), -MAX_COHORTS))
            .select("cohort_month", "months_since", "cohort_size", "active_customers", "retention_rate")
            .orderBy("cohort_month", "months_since").limit(MAX_COHORTS * (MAX_COHORTS + 1)).collect())
    cohort_months = sorted({r["cohort_month"] for r in rows})
    width = max(r["months_since"] for r in rows) + 1
    cell = {(r["cohort_month"], r["months_since"]): r for r in rows}
    z = [[(cell[(c, m)]["retention_rate"] or 0.0) * 100 if (c, m) in cell else None for m in range(width)]
         for c in cohort_months]
    sizes = {r["cohort_month"]: r["cohort_size"] for r in rows}
    # Month 0 is always 100%: the colours span the later months so that their differences show.
    later = [(r["retention_rate"] or 0.0) * 100 for r in rows if r["months_since"] > 0]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(width)), y=[f"{c:%Y-%m} (n={sizes[c]:,})" for c in cohort_months],
        colorscale="Blues", zmin=0, zmax=max(later, default=100) or 100, texttemplate="%{z:.0f}",
        hoverongaps=False,
        colorbar={"title": {"text": "Bought again (%)"}},
        hovertemplate="Cohort %{y}<br>Month %{x}: %{z:.1f}%<extra></extra>"))
    styled(fig, height=max(320, 28 * len(cohort_months) + 140),
           xaxis_title="Months since first purchase", yaxis_title="Cohort (first purchase month)",
           yaxis_autorange="reversed", xaxis_dtick=1, margin={"l": 150})
    month_one = [r for r in rows if r["months_since"] == 1 and r["cohort_size"]]
    if month_one:
        active = sum(r["active_customers"] for r in month_one)
        size = sum(r["cohort_size"] for r in month_one)
        best = max(month_one, key=lambda r: (r["retention_rate"] or 0.0, r["cohort_month"]))
        reading = (f"Across {len(month_one)} cohorts, {fmt_pct(active / size)} of new customers bought again "
                   f"in the month after their first purchase (best: {month_label(best['cohort_month'])} "
                   f"at {fmt_pct(best['retention_rate'] or 0.0)}).")
    else:
        reading = (f"{len(cohort_months)} cohort(s) so far, none a month old yet: "
                   f"{fmt_int(sum(sizes.values()))} customers in their first month.")
    return Section("cohorts", "Cohort retention", reading, (fig,))


def rfm_segments(data: ReportData) -> Section:
    """Customers and revenue per RFM segment."""
    rows = (data.snapshot("gold.rfm").groupBy("segment")
            .agg(F.count(F.lit(1)).alias("customers"), F.sum("monetary").alias("monetary"))
            .orderBy(F.desc("monetary"), "segment").limit(MAX_SEGMENTS).collect())
    names = [plot_text(r["segment"] or "unscored") for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Customers", "Revenue"), horizontal_spacing=0.2)
    fig.add_trace(go.Bar(x=[r["customers"] for r in rows], y=names, orientation="h", name="Customers",
                         marker_color="#4575b4"), row=1, col=1)
    fig.add_trace(go.Bar(x=[float(r["monetary"] or 0) for r in rows], y=names, orientation="h",
                         name="Revenue", marker_color="#91bfdb"), row=1, col=2)
    fig.update_xaxes(title_text="Customers (count)", row=1, col=1)
    fig.update_xaxes(title_text=f"Revenue to date ({data.unit})", row=1, col=2)
    fig.update_yaxes(title_text="RFM segment", autorange="reversed", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    styled(fig, height=max(320, 36 * len(rows) + 140), showlegend=False)
    customers = sum(r["customers"] for r in rows)
    revenue = sum(float(r["monetary"] or 0) for r in rows)
    top = rows[0]
    top_share = fmt_pct(float(top["monetary"] or 0) / revenue) if revenue else "n/a"
    reading = (f"{top['segment']} are {fmt_pct(top['customers'] / customers)} of {fmt_int(customers)} "
               f"customers and hold {top_share} of their revenue "
               f"({fmt_money(top['monetary'] or 0, data.currency)}).")
    return Section("rfm", "RFM segments: size and value", reading, (fig,))


def behavioural_segments(data: ReportData) -> Section:
    """The behavioural segments' means, each as an index against the average customer."""
    rows = (data.snapshot("gold.segment_profiles").orderBy("segment_id").limit(MAX_SEGMENTS).collect())
    total = sum(r["customers"] for r in rows)
    average = {column: sum((r[column] or 0.0) * r["customers"] for r in rows) / total
               for column, _ in PROFILE_FEATURES}
    z = [[100 * (r[column] or 0.0) / average[column] if average[column] else None
          for column, _ in PROFILE_FEATURES] for r in rows]
    text = [[f"{r[column]:,.1f}" if r[column] is not None else "" for column, _ in PROFILE_FEATURES]
            for r in rows]
    labels = [plot_text(f"{r['segment_label']} ({fmt_pct(r['share'])})") for r in rows]
    features = [f"{name} ({data.unit})" if column == "mean_monetary" else name
                for column, name in PROFILE_FEATURES]
    fig = go.Figure(go.Heatmap(
        z=z, x=features, y=labels, text=text, texttemplate="%{text}", colorscale="RdBu",
        zmin=0, zmid=100, zmax=200, colorbar={"title": {"text": "Index (100 = average, capped at 200)"}},
        hovertemplate="%{y}<br>%{x}: mean %{text} (index %{z:.0f})<extra></extra>"))
    styled(fig, height=max(320, 48 * len(rows) + 160), xaxis_title="Feature (cell: segment mean)",
           yaxis_title="Segment (share of customers)", yaxis_autorange="reversed")
    largest = max(rows, key=lambda r: (r["customers"], -r["segment_id"]))
    reading = (f"{len(rows)} behavioural segments; the largest, '{largest['segment_label']}', holds "
               f"{fmt_pct(largest['customers'] / total)} of customers with a mean spend of "
               f"{fmt_money(largest['mean_monetary'] or 0, data.currency)}.")
    return Section("segments", "Behavioural segment profiles", reading, (fig,))


def churn_risk(data: ReportData) -> Section:
    """The distribution of churn probability and the customers with the most revenue at risk.

    A customer's revenue at risk is churn probability x revenue to date (gold.customer_360); without
    gold.customer_360 the list ranks by probability alone.
    """
    scores_df = data.snapshot("gold.churn_scores").select("customer_id", "churn_probability")
    bucket = F.least(F.floor(F.col("churn_probability") * 10), F.lit(9)).cast("int")
    buckets = {r["bucket"]: r["customers"] for r in scores_df.groupBy(bucket.alias("bucket"))
               .agg(F.count(F.lit(1)).alias("customers")).collect()}
    try:
        revenue_df = data.snapshot("gold.customer_360").select("customer_id", F.col("revenue").cast("double"))
        scored_df = scores_df.alias("s").join(revenue_df.alias("c"), on="customer_id", how="left")
    except EmptySection:
        scored_df = scores_df.withColumn("revenue", F.lit(None).cast("double"))
    at_risk = F.col("churn_probability") * F.coalesce(F.col("revenue"), F.lit(0.0))
    top = (scored_df.select("customer_id", "churn_probability", "revenue", at_risk.alias("at_risk"))
           .orderBy(F.desc("at_risk"), F.desc("churn_probability"), "customer_id")
           .limit(TOP_AT_RISK).collect())
    high = scored_df.filter(F.col("churn_probability") >= HIGH_RISK).agg(
        F.count(F.lit(1)).alias("customers"), F.sum("revenue").alias("revenue")).collect()[0]

    labels = [f"{b / 10:.1f}\u2013{(b + 1) / 10:.1f}" for b in range(10)]
    fig = go.Figure(go.Bar(x=labels, y=[buckets.get(b, 0) for b in range(10)], marker_color=[
        BAD if b >= HIGH_RISK * 10 else "#4575b4" for b in range(10)]))
    styled(fig, height=360, xaxis_title="Churn probability", yaxis_title="Customers (count)")
    table = Table(("Rank", "Customer id", "Churn probability", f"Revenue to date ({data.currency})",
                   f"Revenue at risk ({data.currency})"),
                  tuple((str(i), r["customer_id"], f"{r['churn_probability']:.2f}",
                         "" if r["revenue"] is None else f"{r['revenue']:,.2f}", f"{r['at_risk']:,.2f}")
                        for i, r in enumerate(top, start=1)))
    scored = sum(buckets.values())
    reading = (f"{fmt_int(high['customers'])} of {fmt_int(scored)} scored customers "
               f"({fmt_pct(high['customers'] / scored)}) have a churn probability of {HIGH_RISK} or more"
               + (f", holding {fmt_money(high['revenue'], data.currency)} of revenue to date."
                  if high["revenue"] is not None else "."))
    return Section("churn", "Churn risk", reading, (fig,), table)


def clv_deciles(data: ReportData) -> Section:
    """Predicted customer lifetime value by decile of customers (1 = the most valuable tenth)."""
    clv_df = (data.snapshot("gold.clv_scores").filter(F.col("clv").isNotNull())
              .select("customer_id", F.col("clv").cast("double").alias("clv")))
    # ntile needs one ordered window over all scored customers: exact deciles, one per customer
    # base (not per order), which a single partition sorts comfortably.
    ranked = clv_df.withColumn("decile", F.ntile(10).over(Window.orderBy(F.desc("clv"), "customer_id")))
    rows = (ranked.groupBy("decile").agg(F.count(F.lit(1)).alias("customers"), F.sum("clv").alias("clv"),
                                         F.min("clv").alias("low"), F.max("clv").alias("high"))
            .orderBy("decile").collect())
    if not rows:
        raise EmptySection("gold.clv_scores has no CLV values (all null): check `crm-spark score`.")
    total = sum(r["clv"] for r in rows)
    customers = sum(r["customers"] for r in rows)
    cumulative, shares = 0.0, []
    for r in rows:
        cumulative += r["clv"]
        shares.append(100 * cumulative / total if total else 0.0)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(
        x=[r["decile"] for r in rows], y=[r["clv"] for r in rows], name="Predicted CLV",
        marker_color="#4575b4",
        customdata=[[r["customers"], r["low"], r["high"]] for r in rows],
        hovertemplate="Decile %{x}: %{y:,.0f} (%{customdata[0]} customers, "
                      "%{customdata[1]:,.0f}\u2013%{customdata[2]:,.0f} each)<extra></extra>"))
    fig.add_trace(go.Scatter(x=[r["decile"] for r in rows], y=shares, name="Cumulative share",
                             mode="lines+markers", line={"color": "#d73027"}), secondary_y=True)
    fig.update_xaxes(title_text="Decile of customers by predicted CLV (1 = highest)", dtick=1)
    fig.update_yaxes(title_text=f"Predicted CLV ({data.unit})", secondary_y=False)
    fig.update_yaxes(title_text="Cumulative share of value (%)", range=[0, 105],
                     tickvals=[0, 20, 40, 60, 80, 100], showgrid=False, secondary_y=True)
    styled(fig, height=380)
    top_share = fmt_pct(rows[0]["clv"] / total) if total else "n/a"
    reading = (f"Total predicted value is {fmt_money(total, data.currency)} over {fmt_int(customers)} "
               f"customers; the top decile holds {top_share} of it.")
    return Section("clv", "Customer lifetime value", reading, (fig,))
