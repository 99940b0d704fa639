"""``features.customer_features``: one row per known customer and ``as_of``, the churn model's inputs.

Point in time. Every input passes ``filter_known_at`` (timestamps < ``as_of`` + 1 day, UTC) before
anything is aggregated, so a snapshot built later for a past ``as_of`` equals the one that would
have been built on that day. Two rules follow from it: a ticket's satisfaction counts only when
the ticket was closed by the cut-off (the rating is given at closing), and a cart is judged with
the purchases known at the cut-off. Not covered: silver.customers is the latest identity
resolution, and order lines carry no timestamp (a later return line changes an old order).

Windows. A window of N days is the N UTC calendar days ending on ``as_of`` (``days_ago`` =
``as_of - date`` in [0, N)). Web sessions and their events count on the day the session started.

Features (``feature_columns``; ``w`` runs over the windows; the churn model reads
``FEATURE_COLUMNS``, all but the text signals):
- ``recency_days``: days from the last purchase to ``as_of``; null if never purchased.
- ``tenure_days``: days from ``first_seen_at`` to ``as_of``.
- ``purchases_lifetime`` / ``revenue_lifetime``, ``purchases_{w}d`` / ``revenue_{w}d``:
  purchases (orders with revenue > 0) and net revenue (cancellations included).
- ``avg_order_value``: mean revenue of the purchases; null without purchases.
- ``purchase_trend_30_vs_prev_30``: (purchases in days 0-29 + 1) / (purchases in days 30-59 + 1);
  ``purchase_trend_30_vs_prev_90``: (purchases in days 0-29 + 1) / (purchases in days 30-119 / 3
  + 1). 1 is steady, above rising, below falling; the +1 keeps both defined for everyone.
- ``gap_mean_days`` / ``gap_std_days``: mean and sample standard deviation of the days between
  consecutive purchases (same-day purchases give 0); null with fewer than 2 / 3 purchases.
- ``recency_vs_gap_mean``: recency_days / gap_mean_days (above 1: overdue); null when undefined.
- ``web_sessions_{w}d``, ``product_views_{w}d``, ``add_to_cart_{w}d``, ``cart_abandonments_{w}d``:
  an abandoned session has an add_to_cart, no checkout, and no purchase of the customer within
  ``ABANDON_HOURS`` after its last add_to_cart.
- ``email_sends_{w}d``, ``email_opens_{w}d``, ``email_clicks_{w}d``, ``email_unsubscribes_{w}d``,
  ``tickets_{w}d``; ``email_open_rate_90d``: opens / sends of the last 90 days (null without sends;
  above 1 when sends are missing from the data).
- ``days_since_web_session``, ``days_since_email_open``, ``days_since_ticket``: days from the
  latest session start, e-mail open or ticket to ``as_of``; null if none. Someone who stopped
  buying usually stops visiting and reading too, so these tell a quiet-but-alive customer from
  one who left.
- ``web_visit_after_purchase_days``: ``recency_days - days_since_web_session`` (above 0: visited
  after the last purchase); ``ticket_before_purchase_days``: ``days_since_ticket -
  recency_days`` (a small positive value: a ticket shortly before the last purchase, the way a
  complaint precedes leaving). Null when either side is.
- ``avg_satisfaction``: mean rating of the tickets closed by the cut-off; null without ratings.
- ``has_complaint_30d``: 1 if a ticket created in the last 30 days has a category in
  ``complaint_categories`` or a rating <= ``COMPLAINT_MAX_SATISFACTION``, else 0. The generator's
  categories (delivery, refund, product, account, billing) hold no complaint, so there the rating
  decides.
- ``web_purchase_share`` / ``store_purchase_share``: share of the lifetime purchases whose
  ``sales_channel`` (else ``channel``) is 'web' / 'store'; null without purchases.
- Text signals (``TEXT_SIGNALS``, from the tickets' ``sentiment_label`` / ``sentiment_score``,
  VADER on the redacted body; a text is known when the ticket is created, so no closing rule;
  computed for analysts and other models, not churn inputs: no measured gain, D101):
  ``negative_tickets_90d``: tickets created in the last 90 days labelled 'negative';
  ``days_since_negative_ticket``: days from the latest negative ticket to ``as_of`` (null if
  none); ``ticket_sentiment_90d``: mean score of the last 90 days' scored tickets (null if
  none; a ticket in a language VADER does not read has no score). On tickets written before
  the text columns existed they are null (0 for the count) and a warning says to rebuild silver.
Counts are 0 when nothing happened; the columns said to be null stay null (unknown).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.gold.sales import MONEY, utc_date, with_first_seen_by_orders

log = logging.getLogger(__name__)

DEFAULT_WINDOWS = (30, 90, 365)
COMPLAINT_CATEGORIES = ("complaint",)
COMPLAINT_MAX_SATISFACTION = 2
ABANDON_HOURS = 24
WINDOWED = ("purchases", "revenue", "web_sessions", "product_views", "add_to_cart", "cart_abandonments",
            "email_sends", "email_opens", "email_clicks", "email_unsubscribes", "tickets")
ENGAGEMENT_RECENCY = ("days_since_web_session", "days_since_email_open", "days_since_ticket",
                      "web_visit_after_purchase_days", "ticket_before_purchase_days")
TEXT_SIGNALS = ("negative_tickets_90d", "days_since_negative_ticket", "ticket_sentiment_90d")
SENTIMENT_COLUMNS = ("sentiment_score", "sentiment_label")
NULLABLE = ("recency_days", "avg_order_value", "gap_mean_days", "gap_std_days", "recency_vs_gap_mean",
            "avg_satisfaction", "web_purchase_share", "store_purchase_share", "email_open_rate_90d",
            *ENGAGEMENT_RECENCY, "days_since_negative_ticket", "ticket_sentiment_90d")


def feature_columns(windows: Sequence[int] = DEFAULT_WINDOWS) -> tuple[str, ...]:
    """The feature columns of ``customer_features`` for these windows, in output order."""
    windowed = [f"{name}_{w}d" for name in WINDOWED for w in windows]
    return ("recency_days", "tenure_days", "purchases_lifetime", "revenue_lifetime", "avg_order_value",
            "purchase_trend_30_vs_prev_30", "purchase_trend_30_vs_prev_90", "gap_mean_days",
            "gap_std_days", "recency_vs_gap_mean", *windowed, "email_open_rate_90d", "avg_satisfaction",
            "has_complaint_30d", "web_purchase_share", "store_purchase_share", *ENGAGEMENT_RECENCY,
            *TEXT_SIGNALS)


FEATURE_COLUMNS = tuple(c for c in feature_columns() if c not in TEXT_SIGNALS)
"""The churn model's inputs: the feature columns with the default windows (30, 90, 365 days), in
output order, without the text signals, which did not raise its out-of-time ROC-AUC (D101)."""


def cutoff(as_of: dt.date) -> dt.datetime:
    """The first instant after ``as_of``: midnight UTC of the next day."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def filter_known_at(df: DataFrame, ts_column: str, as_of: dt.date) -> DataFrame:
    """Keep the rows known at the end of ``as_of``: ``ts_column < as_of + 1 day`` (UTC).

    The one point-in-time filter of the features and labels; nulls in ``ts_column`` are dropped
    (they cannot be placed in time).

    Args:
        df: any DataFrame; requires ``ts_column`` (TIMESTAMP).
        as_of: last UTC day included.

    Returns:
        ``df`` with the rows dated before the cut-off.
    """
    # An aware datetime literal is an instant, so the session time zone cannot move the cut-off.
    return df.filter(F.col(ts_column) < F.lit(cutoff(as_of)))


def _days_ago(ts_column: str, as_of: dt.date) -> Column:
    return F.datediff(F.lit(as_of), utc_date(ts_column))


def _count_in(days: int, condition: Column | None = None) -> Column:
    within = F.col("days_ago") < days
    return F.count(F.when(within if condition is None else within & condition, F.lit(1)))


def _purchases_of(sales_df: DataFrame, as_of: dt.date, windows: Sequence[int]) -> DataFrame:
    is_purchase = F.col("is_purchase")
    by_customer = (Window.partitionBy("customer_id").orderBy("order_ts", "order_id")
                   .rowsBetween(Window.unboundedPreceding, -1))
    previous_day = F.last(F.when(is_purchase, F.col("order_date")), ignorenulls=True).over(by_customer)
    channel = F.coalesce(F.col("sales_channel"), F.col("channel"))
    orders_df = (sales_df.filter(F.col("customer_id").isNotNull())
                 .withColumn("order_date", utc_date("order_ts"))
                 .withColumn("days_ago", _days_ago("order_ts", as_of))
                 .withColumn("gap_days", F.when(is_purchase, F.datediff("order_date", previous_day))))
    return orders_df.groupBy("customer_id").agg(
        F.max(F.when(is_purchase, F.col("order_date"))).alias("last_purchase_date"),
        F.count(F.when(is_purchase, F.lit(1))).alias("purchases_lifetime"),
        F.sum("revenue").alias("revenue_lifetime"),
        F.avg(F.when(is_purchase, F.col("revenue").cast("double"))).alias("avg_order_value"),
        F.avg("gap_days").alias("gap_mean_days"),
        F.stddev_samp("gap_days").alias("gap_std_days"),
        _count_in(30, is_purchase).alias("p_0_30"),
        F.count(F.when(is_purchase & F.col("days_ago").between(30, 59), F.lit(1))).alias("p_30_60"),
        F.count(F.when(is_purchase & F.col("days_ago").between(30, 119), F.lit(1))).alias("p_30_120"),
        F.avg(F.when(is_purchase, (channel == "web").cast("double"))).alias("web_purchase_share"),
        F.avg(F.when(is_purchase, (channel == "store").cast("double"))).alias("store_purchase_share"),
        *[_count_in(w, is_purchase).alias(f"purchases_{w}d") for w in windows],
        *[F.sum(F.when(F.col("days_ago") < w, F.col("revenue"))).alias(f"revenue_{w}d") for w in windows],
    )


def _sessions_of(web_df: DataFrame, purchases_df: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per (customer, session): start, event counts, and whether the cart was abandoned."""
    event = F.col("event_type")
    sessions_df = web_df.filter(F.col("customer_id").isNotNull()).groupBy("customer_id", "session_key").agg(
        F.min("event_ts").alias("started_at"),
        F.count(F.when(event == "product_view", F.lit(1))).alias("product_views"),
        F.count(F.when(event == "add_to_cart", F.lit(1))).alias("add_to_cart"),
        F.max(F.when(event == "add_to_cart", F.col("event_ts"))).alias("last_cart_at"),
        F.max(event == "checkout").alias("has_checkout"),
    )
    carts_df = sessions_df.filter(F.col("last_cart_at").isNotNull() & ~F.col("has_checkout"))
    delay = F.unix_seconds(F.col("p.order_ts")) - F.unix_seconds(F.col("s.last_cart_at"))
    rescued_df = carts_df.alias("s").join(
        purchases_df.alias("p"),
        on=(F.col("s.customer_id") == F.col("p.customer_id"))
        & delay.between(0, ABANDON_HOURS * 3600),
        how="left_semi",
    ).select("customer_id", "session_key", F.lit(True).alias("is_rescued"))
    return sessions_df.join(rescued_df, on=["customer_id", "session_key"], how="left").select(
        "customer_id", "product_views", "add_to_cart",
        _days_ago("started_at", as_of).alias("days_ago"),
        (F.col("last_cart_at").isNotNull() & ~F.col("has_checkout") & F.col("is_rescued").isNull())
        .alias("is_abandoned"),
    )


def _web_of(sessions_df: DataFrame, windows: Sequence[int]) -> DataFrame:
    within = [(w, F.col("days_ago") < w) for w in windows]
    return sessions_df.groupBy("customer_id").agg(
        F.min("days_ago").alias("days_since_web_session"),
        *[_count_in(w).alias(f"web_sessions_{w}d") for w in windows],
        *[F.sum(F.when(c, F.col("product_views"))).alias(f"product_views_{w}d") for w, c in within],
        *[F.sum(F.when(c, F.col("add_to_cart"))).alias(f"add_to_cart_{w}d") for w, c in within],
        *[_count_in(w, F.col("is_abandoned")).alias(f"cart_abandonments_{w}d") for w in windows],
    )


def _email_of(email_df: DataFrame, as_of: dt.date, windows: Sequence[int]) -> DataFrame:
    kinds = (("send", "email_sends"), ("open", "email_opens"), ("click", "email_clicks"),
             ("unsubscribe", "email_unsubscribes"))
    event = F.col("event_type")
    return (email_df.filter(F.col("customer_id").isNotNull())
            .withColumn("days_ago", _days_ago("event_ts", as_of))
            .groupBy("customer_id")
            .agg(*[_count_in(w, event == kind).alias(f"{name}_{w}d")
                   for kind, name in kinds for w in windows],
                 F.try_divide(_count_in(90, event == "open").cast("double"),
                              F.nullif(_count_in(90, event == "send"), F.lit(0)))
                 .alias("email_open_rate_90d"),
                 F.min(F.when(event == "open", F.col("days_ago"))).alias("days_since_email_open")))


def with_sentiment_or_null(tickets_df: DataFrame) -> DataFrame:
    """``tickets_df`` with ``sentiment_score`` and ``sentiment_label``, null (with a warning) when
    the table was written before silver scored ticket text (D99: a merge does not add columns)."""
    lacking = [c for c in SENTIMENT_COLUMNS if c not in tickets_df.columns]
    if not lacking:
        return tickets_df
    log.warning("features: silver.support_tickets predates its text columns (%s), so the text signals "
                "are null; run `crm-spark silver --rebuild` once to add them", ", ".join(lacking))
    return tickets_df.withColumns({"sentiment_score": F.lit(None).cast("double"),
                                   "sentiment_label": F.lit(None).cast("string")})


def _service_of(tickets_df: DataFrame, as_of: dt.date, windows: Sequence[int],
                complaint_categories: Sequence[str]) -> DataFrame:
    rating = F.when(F.col("closed_at") < F.lit(cutoff(as_of)), F.col("satisfaction"))
    is_complaint = (F.lower(F.col("category")).isin(*complaint_categories)
                    | (rating <= COMPLAINT_MAX_SATISFACTION))
    is_negative = F.col("sentiment_label") == "negative"
    recent_score = F.when(F.col("days_ago") < 90, F.col("sentiment_score"))
    return (with_sentiment_or_null(tickets_df).filter(F.col("customer_id").isNotNull())
            .withColumn("days_ago", _days_ago("created_at", as_of))
            .groupBy("customer_id")
            .agg(*[_count_in(w).alias(f"tickets_{w}d") for w in windows],
                 F.min("days_ago").alias("days_since_ticket"),
                 F.avg(rating.cast("double")).alias("avg_satisfaction"),
                 F.max(F.when((F.col("days_ago") < 30) & is_complaint, F.lit(1))).alias("has_complaint_30d"),
                 _count_in(90, is_negative).alias("negative_tickets_90d"),
                 F.min(F.when(is_negative, F.col("days_ago"))).alias("days_since_negative_ticket"),
                 F.avg(recent_score).alias("ticket_sentiment_90d")))


def customer_features(sales_df: DataFrame, web_events_df: DataFrame, email_events_df: DataFrame,
                      tickets_df: DataFrame, customers_df: DataFrame, as_of: dt.date,
                      windows: Sequence[int] = DEFAULT_WINDOWS,
                      complaint_categories: Sequence[str] = COMPLAINT_CATEGORIES) -> DataFrame:
    """features.customer_features: the features of every customer first seen by ``as_of``.

    Args:
        sales_df: ``gold.sales.order_revenue`` output (built for any date on or after
            ``as_of``); requires ``customer_id, channel, sales_channel, order_id, order_ts,
            revenue, is_purchase``.
        web_events_df: silver.web_events; requires ``customer_id, session_key, event_type, event_ts``.
        email_events_df: silver.email_events; requires ``customer_id, event_type, event_ts``.
        tickets_df: silver.support_tickets; requires ``customer_id, created_at, closed_at,
            category, satisfaction`` and reads ``sentiment_score, sentiment_label`` (null when
            absent: ``with_sentiment_or_null``).
        customers_df: silver.customers; requires ``customer_id, first_seen_at``.
        as_of: the snapshot day (UTC); nothing dated after it is read.
        windows: window lengths in days.
        complaint_categories: ticket categories (lower case) that are complaints.

    Returns:
        ``customer_id, as_of`` and ``feature_columns(windows)`` (module doc): counts LONG,
        revenue DECIMAL(18,2), ``recency_days, tenure_days``, the ``days_since_*`` and
        ``*_days`` engagement recencies INT, ``has_complaint_30d`` INT 0/1, the rest DOUBLE.
    """
    windows = tuple(windows)
    sales_df = filter_known_at(sales_df, "order_ts", as_of)
    web_events_df = filter_known_at(web_events_df, "event_ts", as_of)
    email_events_df = filter_known_at(email_events_df, "event_ts", as_of)
    tickets_df = filter_known_at(tickets_df, "created_at", as_of)
    customers_df = filter_known_at(with_first_seen_by_orders(customers_df, sales_df), "first_seen_at", as_of)

    purchases_df = sales_df.filter(F.col("customer_id").isNotNull() & F.col("is_purchase"))
    sessions_df = _sessions_of(web_events_df, purchases_df, as_of)
    joined_df = (
        customers_df.select("customer_id", _days_ago("first_seen_at", as_of).alias("tenure_days"))
        .join(_purchases_of(sales_df, as_of, windows), on="customer_id", how="left")
        .join(_web_of(sessions_df, windows), on="customer_id", how="left")
        .join(_email_of(email_events_df, as_of, windows), on="customer_id", how="left")
        .join(_service_of(tickets_df, as_of, windows, complaint_categories), on="customer_id", how="left")
    )

    def count(name: str) -> Column:
        return F.coalesce(F.col(name), F.lit(0)).cast("long")

    def revenue(name: str) -> Column:
        return F.coalesce(F.col(name), F.lit(0)).cast(MONEY)

    recency = F.datediff(F.lit(as_of), F.col("last_purchase_date"))
    recent = count("p_0_30").cast("double")
    derived = {
        "recency_days": recency,
        "purchase_trend_30_vs_prev_30": (recent + 1) / (count("p_30_60") + 1),
        "purchase_trend_30_vs_prev_90": (recent + 1) / (count("p_30_120") / 3 + 1),
        "recency_vs_gap_mean": F.try_divide(recency.cast("double"), F.col("gap_mean_days")),
        "has_complaint_30d": F.coalesce(F.col("has_complaint_30d"), F.lit(0)),
        "web_visit_after_purchase_days": recency - F.col("days_since_web_session"),
        "ticket_before_purchase_days": F.col("days_since_ticket") - recency,
    }
    integers = {"recency_days", "tenure_days", "has_complaint_30d", *ENGAGEMENT_RECENCY,
                "days_since_negative_ticket"}
    money = {"revenue_lifetime", *(f"revenue_{w}d" for w in windows)}
    doubles = {*NULLABLE, "purchase_trend_30_vs_prev_30", "purchase_trend_30_vs_prev_90"} - integers

    def output(name: str) -> Column:
        if name in integers:
            return derived.get(name, F.col(name)).cast("int").alias(name)
        if name in money:
            return revenue(name).alias(name)
        if name in doubles:
            return derived.get(name, F.col(name)).cast("double").alias(name)
        return count(name).alias(name)

    return joined_df.select("customer_id", F.lit(as_of).alias("as_of"),
                            *[output(name) for name in feature_columns(windows)])
