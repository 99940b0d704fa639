"""The gold tables in build order: each step takes the silver inputs and the gold tables built
before it, and returns one table (``as_of`` included)."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame

from crm_spark.config import Config
from crm_spark.errors import DataQualityError
from crm_spark.gold import (
    affinity,
    attribution,
    audiences,
    cohorts,
    customer360,
    journeys,
    kpis,
    rfm,
    sales,
    segments,
    tickets,
)
from crm_spark.privacy import pii
from crm_spark.privacy.hashing import hash_key
from crm_spark.quality.exclusions import excluded

log = logging.getLogger(__name__)


def sales_step(inputs, cfg: Config) -> DataFrame:
    from pyspark.sql import functions as F

    return sales.order_revenue(inputs["orders"], inputs["order_lines"], inputs.as_of).withColumn(
        "as_of", F.lit(inputs.as_of))


def rfm_step(inputs, cfg: Config) -> DataFrame:
    """gold.rfm; says how many orders (guests) and customers (no purchase) the customer tables
    leave out."""
    segment_map = dict(cfg.gold.rfm_segments) or rfm.DEFAULT_SEGMENTS
    guest_orders, no_purchase = sales.customer_exclusions(inputs["sales"], inputs.as_of)
    inputs.excluded |= excluded("gold.rfm", sales.GUEST_ORDERS, guest_orders, sales.GUEST_ORDERS_WHY
                                + "; they count in gold.sales and the KPIs' revenue, not in RFM, cohorts "
                                "or customer 360")
    inputs.excluded |= excluded("gold.rfm", sales.NO_PURCHASE, no_purchase, sales.NO_PURCHASE_WHY)
    return rfm.rfm(inputs["sales"], inputs.as_of, segment_map)


def cohorts_step(inputs, cfg: Config) -> DataFrame:
    return cohorts.cohort_retention(inputs["sales"], inputs.as_of)


def kpi_daily_step(inputs, cfg: Config) -> DataFrame:
    return kpis.kpi_daily(inputs["sales"], inputs.as_of, cfg.gold.churn_window_days, inputs["campaigns"])


def kpi_monthly_step(inputs, cfg: Config) -> DataFrame:
    return kpis.kpi_monthly(inputs["sales"], inputs.as_of, cfg.gold.churn_window_days, inputs["campaigns"])


def note_unfed(inputs, table: str, sources: tuple[str, ...], needs: str) -> None:
    """One line when no source feeds any of ``sources`` (silver tables): ``table`` is written
    empty, so its readers keep its columns, and the line says what would fill it (D68)."""
    if all(name in inputs.missing for name in sources):
        log.info("%s written empty: it needs %s", table, needs)


WEB_OR_EMAIL = ("web_events", "email_events")
NEEDS_EVENTS = "web or e-mail events (a web_event or email_event source)"


def attribution_step(inputs, cfg: Config) -> DataFrame:
    note_unfed(inputs, "gold.attribution", WEB_OR_EMAIL, NEEDS_EVENTS)
    touches = attribution.touchpoints_of(inputs["web_events"], inputs["email_events"], inputs["campaigns"])
    conversions = attribution.conversions_of(inputs["orders"], inputs["order_lines"], inputs.as_of)
    settings = attribution.AttributionConfig(lookback_days=cfg.gold.attribution_lookback_days,
                                             half_life_days=cfg.gold.attribution_half_life_days)
    return attribution.attribution_of(touches, conversions, inputs.as_of, settings)


def campaign_performance_step(inputs, cfg: Config) -> DataFrame:
    note_unfed(inputs, "gold.campaign_performance", ("campaigns",), "campaigns (a campaign source)")
    return attribution.campaign_performance(inputs["campaigns"], inputs["email_events"], inputs["web_events"],
                                            inputs["attribution"], inputs.as_of)


def journeys_step(inputs, cfg: Config) -> DataFrame:
    note_unfed(inputs, "gold.journeys", WEB_OR_EMAIL, NEEDS_EVENTS)
    return journeys.journeys(inputs["web_events"], inputs["email_events"], inputs["sales"], inputs.as_of,
                             cfg.gold.attribution_lookback_days, cfg.gold.journey_max_steps)


def funnel_step(inputs, cfg: Config) -> DataFrame:
    note_unfed(inputs, "gold.funnel", ("web_events",), "web events (a web_event source)")
    rfm_segments = inputs["rfm"].select("customer_id", "segment")
    return journeys.funnel(inputs["web_events"], inputs["sales"], inputs.as_of, rfm_segments)


def affinity_step(inputs, cfg: Config) -> DataFrame | None:
    """gold.product_affinity; skipped, in one line, when no source feeds order lines."""
    if "order_lines" in inputs.missing:
        log.info("gold.product_affinity skipped: affinity needs order lines (an order_line or "
                 "pos_transaction source); no source feeds silver.order_lines")
        return None
    oversized = affinity.oversized_baskets(inputs["order_lines"], inputs["orders"], inputs.as_of,
                                           affinity.MAX_ITEMS_PER_BASKET)
    rule = f"baskets of more than {affinity.MAX_ITEMS_PER_BASKET} products"
    inputs.excluded |= excluded("gold.product_affinity", rule, oversized,
                                "bulk orders say little about what sells together")
    return affinity.product_affinity(
        inputs["order_lines"], inputs["orders"], inputs["products"], inputs.as_of,
        cfg.gold.affinity_min_support, cfg.gold.affinity_min_confidence,
        affinity.MAX_ITEMS_PER_BASKET, min_baskets=cfg.gold.affinity_min_baskets)


def segments_step(inputs, cfg: Config) -> DataFrame | None:
    """gold.segments; keeps the profiles for the next step. Too few customers to cluster: no
    segments this run (logged), rather than a failed gold build."""
    features = segments.segment_features(inputs["rfm"], inputs["web_events"], inputs["email_events"],
                                         inputs.as_of)
    try:
        assignments, profiles, k, silhouettes = segments.behavioural_segments(
            features, cfg.gold.segments_k_min, cfg.gold.segments_k_max, cfg.gold.seed)
    except DataQualityError as e:
        log.warning("gold.segments not computed: %s", e)
        return None
    log.info("gold.segments: k=%d chosen by silhouette %s", k,
             ", ".join(f"k={key}: {value:.3f}" for key, value in sorted(silhouettes.items())))
    inputs.tables["_segment_profiles"] = profiles
    return assignments


def segment_profiles_step(inputs, cfg: Config) -> DataFrame | None:
    return inputs.tables.pop("_segment_profiles", None)


def customer_360_step(inputs, cfg: Config) -> DataFrame:
    profile_df = customer360.customer_360(
        inputs["customers"], inputs["sales"], inputs["web_events"], inputs["email_events"],
        inputs["support_tickets"], inputs["consent"], inputs["rfm"], inputs.as_of, cfg.gold.profile_fields,
        inputs.tables.get("scores"), inputs.tables.get("ticket_insights"))
    if not cfg.privacy.pseudonymise:
        return profile_df
    key = hash_key(cfg.privacy.hash_key_env)
    return pii.with_pseudonyms(profile_df, inputs["customers"], cfg.privacy.pseudonymise, key)


def audiences_step(inputs, cfg: Config) -> DataFrame:
    return audiences.audiences(inputs["rfm"], inputs.tables.get("segments"), inputs["consent"], inputs.as_of)


def ticket_insights_step(inputs, cfg: Config) -> DataFrame | None:
    """gold.ticket_insights with each ticket's theme (``themes_of``); skipped, in one line, on a
    silver.support_tickets written before its text columns existed (a merge does not add
    columns). Keeps the day's theme catalogue for the ``themes`` step."""
    note_unfed(inputs, "gold.ticket_insights", ("support_tickets",), "support tickets (a ticket source)")
    lacking = [c for c in tickets.TEXT_COLUMNS if c not in inputs["support_tickets"].columns]
    if lacking:
        log.warning("gold.ticket_insights skipped: silver.support_tickets predates its text columns "
                    "(%s); run `crm-spark silver --rebuild` once to add them", ", ".join(lacking))
        return None
    insights_df = tickets.ticket_insights(inputs["support_tickets"], inputs.as_of)
    themed_df, inputs.tables["_themes"] = themes_of(inputs, cfg, insights_df)
    return themed_df


def themes_of(inputs, cfg: Config, insights_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Fits the day's theme model on the tickets' redacted texts, logs it to MLflow
    (``crm_themes``) and flags the emerging themes; with too few texts, no themes this run
    (one line) rather than a failed gold build."""
    import datetime as dt

    from crm_spark.models.themes import log_themes
    from crm_spark.models.tracking import input_versions
    from crm_spark.tables import Lake
    from crm_spark.text import themes as text_themes

    recent_from = inputs.as_of + dt.timedelta(days=1 - cfg.gold.themes_recent_days)
    no_themes = (tickets.with_themes(insights_df, None, set(), recent_from),
                 tickets.empty_catalogue(inputs.spark))
    if "support_tickets" in inputs.missing:
        return no_themes
    gold = cfg.gold
    try:
        model = text_themes.fit_themes(insights_df, "body_redacted", "ticket_id", gold.themes_k_min,
                                       gold.themes_k_max, gold.seed, gold.themes_sample_size)
    except DataQualityError as e:
        log.warning("gold.ticket_insights without themes: %s", e)
        return no_themes
    texts_df = insights_df.select("ticket_id", "body_redacted", "created_at")
    assigned_df = text_themes.assign_themes(model, texts_df, "body_redacted")
    emerging = text_themes.emerging_themes(assigned_df, "created_at", inputs.as_of, gold.themes_recent_days,
                                           gold.themes_baseline_days)
    lake = Lake(inputs.spark, cfg.lake.root)
    version = log_themes(cfg, model, inputs.as_of, input_versions(lake, ["silver.support_tickets"]))
    log.info("themes (crm_themes version %d): %s; emerging: %s", version, "; ".join(model.names),
             ", ".join(model.names[i] for i in sorted(emerging)) or "none")
    themed_df = tickets.with_themes(insights_df, assigned_df, emerging, recent_from)
    catalogue = tickets.theme_catalogue(inputs.spark, themed_df, model.names, model.terms, model.examples,
                                        emerging, inputs.as_of, version)
    return themed_df, catalogue


def themes_step(inputs, cfg: Config) -> DataFrame | None:
    return inputs.tables.pop("_themes", None)


def theme_trends_step(inputs, cfg: Config) -> DataFrame | None:
    if "ticket_insights" not in inputs.tables:
        return None
    return tickets.theme_trends(inputs["ticket_insights"], inputs["rfm"])


# the gold tables each step reads (besides silver); steps run once these are written (D91)
NEEDS = {
    "rfm": ("sales",),
    "cohort_retention": ("sales",),
    "kpi_daily": ("sales",),
    "kpi_monthly": ("sales",),
    "campaign_performance": ("attribution",),
    "journeys": ("sales",),
    "funnel": ("sales", "rfm"),
    "segments": ("rfm",),
    "segment_profiles": ("segments",),
    "customer_360": ("sales", "rfm", "ticket_insights"),
    "audiences": ("rfm", "segments"),
    "ticket_insights": (),
    "themes": ("ticket_insights",),
    "theme_trends": ("ticket_insights", "rfm"),
}

STEPS = [
    ("sales", sales_step),
    ("rfm", rfm_step),
    ("cohort_retention", cohorts_step),
    ("kpi_daily", kpi_daily_step),
    ("kpi_monthly", kpi_monthly_step),
    ("attribution", attribution_step),
    ("campaign_performance", campaign_performance_step),
    ("journeys", journeys_step),
    ("funnel", funnel_step),
    ("product_affinity", affinity_step),
    ("segments", segments_step),
    ("segment_profiles", segment_profiles_step),
    ("customer_360", customer_360_step),
    ("audiences", audiences_step),
    ("ticket_insights", ticket_insights_step),
    ("themes", themes_step),
    ("theme_trends", theme_trends_step),
]
