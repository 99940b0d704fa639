"""Conformed silver facts: one transform per table from canonical bronze rows.

Every transform takes the canonical rows of one entity kind (plus ``source``, ``channel``,
``customer_source``, ``_batch_id``, ``_ingested_at``) and returns the table's contract columns,
one row per key (the latest ingested version wins). ``customer_id`` is null here; identity
resolution fills it (``crm_spark.identity.keys``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.config import SilverConfig
from crm_spark.silver import standardise as st
from crm_spark.silver.contacts import dedupe_latest
from crm_spark.text.redact import with_standardised_text
from crm_spark.text.sentiment import add_sentiment

LATEST = ("_ingested_at", "_batch_id")
LINEAGE = ["_batch_id", "_ingested_at"]


def null_id():
    return F.lit(None).cast("string")


@dataclass(frozen=True)
class FactSpec:
    table: str
    entities: tuple[str, ...]
    keys: tuple[str, ...]
    transform: Callable[[DataFrame, SilverConfig], DataFrame]


def orders_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Order headers; store sales (``pos_transaction``) become one order per transaction with
    the sum of its lines as total. ``channel`` is the source's channel (orders and their lines
    share it and the order id); ``sales_channel`` the order's own where the source has one.
    Output: source, channel, sales_channel, order_id, customer_source,
    customer_ref, customer_id, order_ts, status, currency, total, country, _batch_id,
    _ingested_at."""
    if "txn_id" in rows_df.columns:
        rows_df = (
            rows_df.groupBy("source", "source_channel", "customer_source", "txn_id")
            .agg(F.max("customer_ref").alias("customer_ref"), F.min("txn_ts").alias("order_ts"),
                 F.sum(F.col("quantity") * F.col("unit_price")).cast("decimal(14,2)").alias("total"),
                 F.max("_batch_id").alias("_batch_id"), F.max("_ingested_at").alias("_ingested_at"))
            .select("source", "source_channel", F.lit(None).cast("string").alias("channel"),
                    F.col("txn_id").alias("order_id"), "customer_source",
                    "customer_ref", "order_ts", F.lit("complete").alias("status"),
                    F.lit(None).cast("string").alias("currency"), "total",
                    F.lit(None).cast("string").alias("country"), "_batch_id", "_ingested_at")
        )
    orders_df = rows_df.select(
        "source", F.col("source_channel").alias("channel"),
        F.coalesce(F.lower(st.clean_text("channel")), "source_channel").alias("sales_channel"),
        "order_id", "customer_source", st.clean_text("customer_ref").alias("customer_ref"),
        null_id().alias("customer_id"), "order_ts", F.lower(st.clean_text("status")).alias("status"),
        F.upper(st.clean_text("currency")).alias("currency"), "total",
        F.upper(st.clean_text("country")).alias("country"), "_batch_id", "_ingested_at",
    )
    return dedupe_latest(orders_df, ("channel", "order_id"), LATEST)


def order_lines_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Order lines with ``amount = quantity * unit_price`` (negative for returns). Sources
    without line numbers get them by a deterministic order within the order."""
    order_id = "txn_id" if "txn_id" in rows_df.columns else "order_id"
    by_order = Window.partitionBy("source_channel", order_id).orderBy(
        "sku", "quantity", "unit_price", "_batch_id").rowsBetween(Window.unboundedPreceding, 0)
    lines_df = rows_df.withColumn("line_no", F.coalesce("line_no", F.row_number().over(by_order)))
    lines_df = lines_df.select(
        "source", F.col("source_channel").alias("channel"), F.col(order_id).alias("order_id"), "line_no",
        null_id().alias("customer_id"), st.clean_text("sku").alias("sku"), "quantity", "unit_price",
        (F.col("quantity") * F.col("unit_price")).cast("decimal(16,3)").alias("amount"),
        "_batch_id", "_ingested_at",
    )
    return dedupe_latest(lines_df, ("channel", "order_id", "line_no"), LATEST)


def products_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    products_df = rows_df.select(
        "source", st.clean_text("sku").alias("sku"), st.clean_text("name").alias("name"),
        F.lower(st.clean_text("category")).alias("category"), "price", "_batch_id", "_ingested_at",
    ).filter(F.col("sku").isNotNull())
    return dedupe_latest(products_df, ("sku",), LATEST)


def web_events_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Web events with ``session_key``: the source's session id, or for events without one a
    session per cookie that ends after ``session_gap_minutes`` of inactivity."""
    gap_seconds = cfg.session_gap_minutes * 60
    by_cookie = Window.partitionBy("cookie_id").orderBy("event_ts", "event_id")
    seconds = F.col("event_ts").cast("long")
    is_new = F.coalesce(seconds - F.lag(seconds).over(by_cookie) > gap_seconds, F.lit(True))
    started = F.max(F.when(F.col("_is_new"), seconds)).over(
        by_cookie.rowsBetween(Window.unboundedPreceding, 0))
    events_df = (
        rows_df.withColumn("_is_new", is_new)
        .withColumn("session_key", F.coalesce(
            st.clean_text("session_id"),
            F.concat_ws("-", F.col("cookie_id"), started.cast("string"))))
    )
    events_df = events_df.select(
        "source", "event_id", "event_ts", "cookie_id", st.clean_text("account_id").alias("account_id"),
        "customer_source", null_id().alias("customer_id"), "session_key",
        F.lower(st.clean_text("event_type")).alias("event_type"), "url",
        st.clean_text("sku").alias("sku"), F.lower(st.clean_text("utm_source")).alias("utm_source"),
        F.lower(st.clean_text("utm_medium")).alias("utm_medium"),
        st.clean_text("utm_campaign").alias("utm_campaign"), "_batch_id", "_ingested_at",
    )
    return dedupe_latest(events_df, ("event_id",), LATEST)


def _email_columns(column: str, cfg: SilverConfig) -> tuple:
    email = st.email_of(column)
    return email, st.email_match_key(email, cfg.email_ignore_dots, cfg.email_plus_tags,
                                     cfg.email_domain_aliases)


def email_events_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    email, email_match = _email_columns("email", cfg)
    events_df = rows_df.select(
        "source", "campaign_id", email.alias("email"), email_match.alias("email_match"),
        null_id().alias("customer_id"), F.lower(st.clean_text("event_type")).alias("event_type"),
        "event_ts", "_batch_id", "_ingested_at",
    ).filter(F.col("email_match").isNotNull())
    return dedupe_latest(events_df, ("campaign_id", "email_match", "event_type", "event_ts"), LATEST)


def campaigns_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    campaigns_df = rows_df.select(
        "source", "campaign_id", st.clean_text("name").alias("name"),
        F.lower(st.clean_text("channel")).alias("channel"), "start_date", "end_date", "cost",
        "_batch_id", "_ingested_at",
    )
    return dedupe_latest(campaigns_df, ("campaign_id",), LATEST)


def tickets_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Support tickets; the raw ``body`` (PII, silver only) and from it ``body_redacted``
    (cleaned, e-mails, phones and card numbers replaced by tokens), ``body_language``,
    ``sentiment_score`` and ``sentiment_label`` (``crm_spark.text``; D98). Text stored outside
    silver is ``body_redacted``, never ``body``."""
    email, email_match = _email_columns("email", cfg)
    tickets_df = rows_df.select(
        "source", "ticket_id", email.alias("email"), email_match.alias("email_match"),
        null_id().alias("customer_id"), "created_at", "closed_at",
        F.lower(st.clean_text("status")).alias("status"),
        F.lower(st.clean_text("category")).alias("category"), "body",
        F.when(F.col("satisfaction").between(1, 5), F.col("satisfaction")).alias("satisfaction"),
        "_batch_id", "_ingested_at",
    )
    latest_df = dedupe_latest(tickets_df, ("ticket_id",), LATEST)
    text_df = with_standardised_text(latest_df, "body").withColumnRenamed("body_clean", "body_redacted")
    scored_df = add_sentiment(text_df, "body_redacted", "body_language")
    # the text columns after body, lineage last
    text_columns = ["body_redacted", "body_language", "sentiment_score", "sentiment_label"]
    rest = [c for c in scored_df.columns if c not in text_columns and c not in LINEAGE]
    at = rest.index("body") + 1
    return scored_df.select(*rest[:at], *text_columns, *rest[at:], *LINEAGE)


def consent_of(rows_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Consent changes; a subject that is an e-mail address is matched by its mailbox."""
    email, email_match = _email_columns("subject", cfg)
    consent_df = rows_df.select(
        "source", F.coalesce(email_match, st.clean_text("subject")).alias("subject"),
        null_id().alias("customer_id"), F.lower(st.clean_text("channel")).alias("channel"),
        F.lower(st.clean_text("status")).alias("status"), "changed_at",
        st.clean_text("source_system").alias("source_system"), "_batch_id", "_ingested_at",
    ).filter(F.col("subject").isNotNull())
    return dedupe_latest(consent_df, ("subject", "channel", "changed_at"), LATEST)


FACTS: tuple[FactSpec, ...] = (
    FactSpec("silver.orders", ("order", "pos_transaction"), ("channel", "order_id"), orders_of),
    FactSpec("silver.order_lines", ("order_line", "pos_transaction"), ("channel", "order_id", "line_no"),
             order_lines_of),
    FactSpec("silver.products", ("product",), ("sku",), products_of),
    FactSpec("silver.web_events", ("web_event",), ("event_id",), web_events_of),
    FactSpec("silver.email_events", ("email_event",),
             ("campaign_id", "email_match", "event_type", "event_ts"), email_events_of),
    FactSpec("silver.campaigns", ("campaign",), ("campaign_id",), campaigns_of),
    FactSpec("silver.support_tickets", ("ticket",), ("ticket_id",), tickets_of),
    FactSpec("silver.consent", ("consent",), ("subject", "channel", "changed_at"), consent_of),
)
