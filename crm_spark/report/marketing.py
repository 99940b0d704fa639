"""Report sections about marketing and baskets: attribution models, the web funnel and product
affinities (same contract as :mod:`crm_spark.report.sections`)."""

from __future__ import annotations

import plotly.graph_objects as go
from pyspark.sql import functions as F

from crm_spark.report.base import ReportData, Section, fmt_int, fmt_pct, plot_text, styled

MODEL_ORDER = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")
MAX_CHANNELS = 8
DIRECT = "direct"
TOP_RULES = 15
RULE_LABEL_CHARS = 70
NO_RULES = ("No association rule cleared the thresholds: no two products were bought together in "
            "enough baskets (gold.affinity_min_support, or gold.affinity_min_baskets at scale) "
            "with enough confidence (gold.affinity_min_confidence).")


def attribution(data: ReportData) -> Section:
    """Revenue credited to each marketing channel, one bar per attribution model."""
    rows = (data.snapshot("gold.attribution").groupBy("model", "channel")
            .agg(F.sum("conversions_credited").alias("conversions"),
                 F.sum("revenue_credited").cast("double").alias("revenue"))
            .orderBy("model", "channel").limit(200).collect())
    models = sorted({r["model"] for r in rows},
                    key=lambda m: (MODEL_ORDER.index(m) if m in MODEL_ORDER else len(MODEL_ORDER), m))
    totals = {m: sum(r["revenue"] or 0.0 for r in rows if r["model"] == m) for m in models}
    share = {(r["model"], r["channel"]): (r["revenue"] or 0.0) / totals[r["model"]]
             for r in rows if totals[r["model"]]}
    # Channels ordered by their mean share over the models.
    mean_share = {r["channel"]: sum(share.get((m, r["channel"]), 0.0) for m in models) / len(models)
                  for r in rows}
    channels = sorted(mean_share, key=lambda c: (-mean_share[c], c))[:MAX_CHANNELS]
    fig = go.Figure()
    for model in models:
        fig.add_trace(go.Bar(
            name=plot_text(model), x=[plot_text(c) for c in channels],
            y=[next((r["revenue"] for r in rows if r["model"] == model and r["channel"] == c), 0.0)
               for c in channels],
            customdata=[[100 * share.get((model, c), 0.0)] for c in channels],
            hovertemplate="%{x}: %{y:,.0f} (%{customdata[0]:.1f}% of the model's revenue)<extra></extra>"))
    styled(fig, height=420, barmode="group", legend_title_text="Model", xaxis_title="Marketing channel",
           yaxis_title=f"Revenue credited ({data.unit})")
    # Purchases without a touch go to 'direct' alike in every model: the models differ on the rest.
    marketing = [c for c in channels if c != DIRECT]
    if not marketing:
        reading = f"No purchase had a marketing touch: every model gives all credit to {DIRECT}."
        return Section("attribution", "Attribution models by channel", reading, (fig,))
    top = marketing[0]
    low = min(models, key=lambda m: (share.get((m, top), 0.0), m))
    high = max(models, key=lambda m: (share.get((m, top), 0.0), m))
    reading = (f"{top} earns the most credit of the marketing channels: from "
               f"{fmt_pct(share.get((low, top), 0.0), 1)} of attributed revenue under {low} to "
               f"{fmt_pct(share.get((high, top), 0.0), 1)} under {high}.")
    if DIRECT in mean_share:
        reading = (f"Purchases without a marketing touch ({DIRECT}) take {fmt_pct(mean_share[DIRECT], 1)} of "
                   f"attributed revenue; {reading}")
    return Section("attribution", "Attribution models by channel", reading, (fig,))


def funnel(data: ReportData) -> Section:
    """Share of web sessions reaching each funnel step, for all channels and the largest ones."""
    rows = (data.snapshot("gold.funnel").groupBy("channel", "step_order", "step")
            .agg(F.sum("sessions_reaching").alias("sessions"))
            .orderBy("channel", "step_order").limit(500).collect())
    steps = sorted({(r["step_order"], r["step"]) for r in rows})
    visits = {r["channel"]: r["sessions"] for r in rows if r["step_order"] == 1}
    channels = sorted(visits, key=lambda c: (-visits[c], c))[:MAX_CHANNELS]
    total = {order: sum(r["sessions"] for r in rows if r["step_order"] == order) for order, _ in steps}
    first = steps[0][0]
    fig = go.Figure()
    series = [("all channels", total)] + [
        (c, {r["step_order"]: r["sessions"] for r in rows if r["channel"] == c}) for c in channels]
    for name, reached in series:
        base = reached.get(first) or 0
        fig.add_trace(go.Bar(
            name=plot_text(name), x=[plot_text(step) for _, step in steps],
            y=[100 * reached.get(order, 0) / base if base else 0.0 for order, _ in steps],
            customdata=[[reached.get(order, 0)] for order, _ in steps],
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]:,} sessions)<extra></extra>"))
    styled(fig, height=420, barmode="group", legend_title_text="Channel", xaxis_title="Funnel step",
           yaxis_title="Sessions reaching the step (% of visits)")
    base = total[first]
    later = ", ".join(f"{fmt_pct(total[order] / base, 1)} reached {step}"
                      for order, step in steps[1:]) if base else ""
    reading = f"Of {fmt_int(base)} web sessions, {later}." if later else f"{fmt_int(base)} web sessions."
    return Section("funnel", "Funnel conversion", reading, (fig,))


def _items(names, skus) -> str:
    """Product names of a rule side, the sku where a product has no name."""
    names = list(names or []) + [None] * len(skus)
    return " + ".join(name or sku for name, sku in zip(names, skus, strict=False))


def _rule_label(names, skus, consequent_name, consequent) -> str:
    label = f"{_items(names, skus)} \u2192 {consequent_name or consequent}"
    return label if len(label) <= RULE_LABEL_CHARS else label[:RULE_LABEL_CHARS - 1] + "\u2026"


def affinity(data: ReportData) -> Section:
    """The product association rules with the highest lift."""
    rows = (data.snapshot("gold.product_affinity", no_rows_means=NO_RULES)
            .select("antecedent", "consequent", "support", "confidence", "lift", "antecedent_names",
                    "consequent_name")
            .orderBy(F.desc("lift"), F.desc("confidence"), F.desc("support"), "consequent")
            .limit(TOP_RULES).collect())
    labels = [_rule_label(r["antecedent_names"], r["antecedent"], r["consequent_name"], r["consequent"])
              for r in rows]
    fig = go.Figure(go.Bar(
        x=[r["lift"] for r in rows], y=[plot_text(label) for label in labels], orientation="h",
        marker_color="#4575b4", customdata=[[100 * r["confidence"], 100 * r["support"]] for r in rows],
        hovertemplate="%{y}<br>lift %{x:.2f}, confidence %{customdata[0]:.1f}%, "
                      "support %{customdata[1]:.2f}%<extra></extra>"))
    styled(fig, height=max(320, 30 * len(rows) + 140), xaxis_title="Lift (\u00d7 as likely as in any basket)",
           yaxis_title="Rule (bought \u2192 also bought)", yaxis_autorange="reversed", margin={"l": 360})
    best = rows[0]
    reading = (f"Baskets with {_items(best['antecedent_names'], best['antecedent'])} are "
               f"{best['lift']:.1f}\u00d7 as likely as any basket to hold "
               f"{best['consequent_name'] or best['consequent']} "
               f"(confidence {fmt_pct(best['confidence'])}, in {fmt_pct(best['support'], 1)} of baskets).")
    return Section("affinity", "Top product affinities", reading, (fig,))
