"""The gold tables in build order: each step takes the silver inputs and the gold tables built
before it, and returns one table (``as_of`` included)."""

from __future__ import annotations

from pyspark.sql import DataFrame

from crm_spark.config import Config
from crm_spark.gold import attribution, cohorts, customer360, kpis, rfm, sales


def sales_step(inputs, cfg: Config) -> DataFrame:
    from pyspark.sql import functions as F

    return sales.order_revenue(inputs["orders"], inputs["order_lines"], inputs.as_of).withColumn(
        "as_of", F.lit(inputs.as_of))


def rfm_step(inputs, cfg: Config) -> DataFrame:
    segment_map = dict(cfg.gold.rfm_segments) or rfm.DEFAULT_SEGMENTS
    return rfm.rfm(inputs["sales"], inputs.as_of, segment_map)


def cohorts_step(inputs, cfg: Config) -> DataFrame:
    return cohorts.cohort_retention(inputs["sales"], inputs.as_of)


def kpi_daily_step(inputs, cfg: Config) -> DataFrame:
    return kpis.kpi_daily(inputs["sales"], inputs.as_of, cfg.gold.churn_window_days, inputs["campaigns"])


def kpi_monthly_step(inputs, cfg: Config) -> DataFrame:
    return kpis.kpi_monthly(inputs["sales"], inputs.as_of, cfg.gold.churn_window_days, inputs["campaigns"])


def attribution_step(inputs, cfg: Config) -> DataFrame:
    touches = attribution.touchpoints_of(inputs["web_events"], inputs["email_events"], inputs["campaigns"])
    conversions = attribution.conversions_of(inputs["orders"], inputs["order_lines"], inputs.as_of)
    settings = attribution.AttributionConfig(lookback_days=cfg.gold.attribution_lookback_days,
                                             half_life_days=cfg.gold.attribution_half_life_days)
    return attribution.attribution_of(touches, conversions, inputs.as_of, settings)


def campaign_performance_step(inputs, cfg: Config) -> DataFrame:
    return attribution.campaign_performance(inputs["campaigns"], inputs["email_events"], inputs["web_events"],
                                            inputs["attribution"], inputs.as_of)


def customer_360_step(inputs, cfg: Config) -> DataFrame:
    return customer360.customer_360(
        inputs["customers"], inputs["sales"], inputs["web_events"], inputs["email_events"],
        inputs["support_tickets"], inputs["consent"], inputs["rfm"], inputs.as_of, cfg.gold.profile_fields,
        inputs.tables.get("scores"))


STEPS = [
    ("sales", sales_step),
    ("rfm", rfm_step),
    ("cohort_retention", cohorts_step),
    ("kpi_daily", kpi_daily_step),
    ("kpi_monthly", kpi_monthly_step),
    ("attribution", attribution_step),
    ("campaign_performance", campaign_performance_step),
    ("customer_360", customer_360_step),
]
