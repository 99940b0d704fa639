"""``gold.customer_360``: one row per customer with what a CRM user looks up first — profile
(only the fields configuration allows), purchases, engagement, service, consent, RFM segment
and, once models have scored, churn risk, predicted value and recommendations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.gold.sales import MONEY, utc_date, with_first_seen_by_orders
from crm_spark.privacy.consent import consent_at

SENTIMENT_DAYS = 90


def _before(column: str, as_of: dt.date) -> Column:
    return F.col(column) < F.lit(as_of + dt.timedelta(days=1)).cast("timestamp")


def _within(column: str, as_of: dt.date, days: int) -> Column:
    start = F.lit(as_of - dt.timedelta(days=days - 1)).cast("timestamp")
    return (F.col(column) >= start) & _before(column, as_of)


def purchases_of(sales_df: DataFrame) -> DataFrame:
    """Per customer: first/last purchase, purchases, net revenue, average order value, channels."""
    known = sales_df.filter(F.col("customer_id").isNotNull())
    return known.groupBy("customer_id").agg(
        F.min(F.when(F.col("is_purchase"), F.col("order_date"))).alias("first_order_date"),
        F.max(F.when(F.col("is_purchase"), F.col("order_date"))).alias("last_order_date"),
        F.count(F.when(F.col("is_purchase"), 1)).alias("orders"),
        F.sum("revenue").cast(MONEY).alias("revenue"),
        (F.sum(F.when(F.col("is_purchase"), F.col("revenue")))
         / F.count(F.when(F.col("is_purchase"), 1))).cast(MONEY).alias("average_order_value"),
        F.array_sort(F.collect_set(F.coalesce("sales_channel", "channel"))).alias("order_channels"),
    )


def engagement_of(web_df: DataFrame, email_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Web sessions and e-mail opens/clicks over the last 30 and 90 days."""
    recent_session = F.when(_within("event_ts", as_of, 30), F.col("session_key"))
    web = (web_df.filter(F.col("customer_id").isNotNull() & _within("event_ts", as_of, 90))
           .groupBy("customer_id").agg(F.countDistinct(recent_session).alias("web_sessions_30d"),
                                       F.countDistinct("session_key").alias("web_sessions_90d")))
    email = (email_df.filter(F.col("customer_id").isNotNull() & _within("event_ts", as_of, 90))
             .groupBy("customer_id").agg(*[
                 F.count(F.when((F.col("event_type") == kind) & _within("event_ts", as_of, days), 1))
                 .alias(f"email_{kind}s_{days}d")
                 for kind in ("open", "click") for days in (30, 90)]))
    return web.join(email, on="customer_id", how="full")


def service_of(tickets_df: DataFrame, as_of: dt.date, themed_df: DataFrame | None = None) -> DataFrame:
    """Tickets opened by ``as_of``, those still open at ``as_of``, average satisfaction, mean
    sentiment of the tickets of the last ``SENTIMENT_DAYS`` days (null without one, or on
    tickets with no sentiment column) and the theme of the latest ticket that has one
    (``themed_df``: gold.ticket_insights of ``as_of``; null without it)."""
    known = tickets_df.filter(F.col("customer_id").isNotNull() & _before("created_at", as_of))
    is_open = F.col("closed_at").isNull() | ~_before("closed_at", as_of)
    sentiment = (F.col("sentiment_score") if "sentiment_score" in tickets_df.columns
                 else F.lit(None).cast("double"))
    service = known.groupBy("customer_id").agg(
        F.count("*").alias("tickets_total"), F.count(F.when(is_open, 1)).alias("tickets_open"),
        F.round(F.avg("satisfaction"), 2).alias("avg_satisfaction"),
        F.round(F.avg(F.when(_within("created_at", as_of, SENTIMENT_DAYS), sentiment)), 3)
        .alias(f"ticket_sentiment_{SENTIMENT_DAYS}d"))
    if themed_df is None:
        return service.withColumn("last_ticket_theme", F.lit(None).cast("string"))
    themes = (themed_df.filter(F.col("customer_id").isNotNull() & F.col("theme").isNotNull())
              .groupBy("customer_id").agg(F.max_by("theme", F.struct("created_at", "ticket_id"))
                                          .alias("last_ticket_theme")))
    return service.join(themes, "customer_id", "left")


def consent_state(consent_df: DataFrame, as_of: dt.date,
                  channels: Sequence[str] = ("email", "sms")) -> DataFrame:
    """``customer_id, consent_<channel>...``: the latest status per channel at ``as_of`` (null:
    never asked), by :func:`crm_spark.privacy.consent.consent_at`."""
    latest = consent_at(consent_df, as_of)
    return latest.groupBy("customer_id").agg(*[
        F.max(F.when(F.col("channel") == channel, F.col("status"))).alias(f"consent_{channel}")
        for channel in channels])


def customer_360(customers_df: DataFrame, sales_df: DataFrame, web_df: DataFrame, email_df: DataFrame,  # noqa: PLR0913 (one DataFrame per input table: the join's contract)
                 tickets_df: DataFrame, consent_df: DataFrame, rfm_df: DataFrame, as_of: dt.date,
                 profile_fields: Sequence[str], scores_df: DataFrame | None = None,
                 themed_df: DataFrame | None = None) -> DataFrame:
    """Join every per-customer view onto the golden records.

    Args:
        customers_df: silver.customers; only ``profile_fields`` of its profile columns are kept.
        sales_df: ``gold.sales.order_revenue`` output up to ``as_of``.
        scores_df: optional ``customer_id, churn_probability, predicted_clv, recommendations``.
        themed_df: optional gold.ticket_insights of ``as_of`` (``last_ticket_theme``).

    Returns:
        ``customer_id``, the profile fields, ``record_count, sources, channels``, purchase,
        engagement, service and consent columns, ``tenure_days, days_since_last_order``, RFM
        scores and segment, model outputs (null until scored), ``as_of``.
    """
    as_of_col = F.lit(as_of)
    known_df = with_first_seen_by_orders(customers_df, sales_df)   # a customer who ordered is known (D63)
    base = known_df.filter(utc_date("first_seen_at") <= as_of_col).select(
        "customer_id", *profile_fields, "record_count", "sources", "first_seen_at")
    joined = (base.join(purchases_of(sales_df), on="customer_id", how="left")
              .join(engagement_of(web_df, email_df, as_of), on="customer_id", how="left")
              .join(service_of(tickets_df, as_of, themed_df), on="customer_id", how="left")
              .join(consent_state(consent_df, as_of), on="customer_id", how="left")
              .join(rfm_df.select("customer_id", "r_score", "f_score", "m_score", "rfm_score", "segment"),
                    on="customer_id", how="left"))
    if scores_df is not None:
        joined = joined.join(scores_df, on="customer_id", how="left")
    else:
        joined = joined.select("*", F.lit(None).cast("double").alias("churn_probability"),
                               F.lit(None).cast(MONEY).alias("predicted_clv"),
                               F.lit(None).cast("array<string>").alias("recommendations"))
    counts = ["orders", "web_sessions_30d", "web_sessions_90d", "email_opens_30d", "email_opens_90d",
              "email_clicks_30d", "email_clicks_90d", "tickets_total", "tickets_open"]
    channels = F.array_sort(F.array_union(
        F.coalesce("order_channels", F.array().cast("array<string>")),
        F.array_compact(F.array(F.when(F.col("web_sessions_90d") > 0, F.lit("web")),
                                F.when(F.col("email_opens_90d") > 0, F.lit("email"))))))
    return joined.select(
        "customer_id", *profile_fields, "record_count", "sources", channels.alias("channels"),
        "first_order_date", "last_order_date", F.coalesce("orders", F.lit(0)).cast("long").alias("orders"),
        F.coalesce("revenue", F.lit(0).cast(MONEY)).alias("revenue"), "average_order_value",
        F.datediff(as_of_col, utc_date("first_seen_at")).alias("tenure_days"),
        F.datediff(as_of_col, F.col("last_order_date")).alias("days_since_last_order"),
        *[F.coalesce(c, F.lit(0)).cast("long").alias(c) for c in counts[1:]],
        "avg_satisfaction", f"ticket_sentiment_{SENTIMENT_DAYS}d", "last_ticket_theme",
        "consent_email", "consent_sms",
        "r_score", "f_score", "m_score", "rfm_score", "segment",
        "churn_probability", "predicted_clv", "recommendations", as_of_col.alias("as_of"),
    )
