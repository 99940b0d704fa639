"""Consent at a date: the one rule every marketing output (recommendations, audiences, segment
exports) applies before it names a customer.

A customer may be contacted on a channel at ``as_of`` when their latest consent record for that
channel dated on or before ``as_of`` (UTC day) says ``granted``. No record means no consent
(opt-in, as GDPR requires); of two records at the same instant ``withdrawn`` wins.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

GRANTED, WITHDRAWN = "granted", "withdrawn"


def consent_at(consent_df: DataFrame, as_of: dt.date) -> DataFrame:
    """The latest consent per customer and channel at ``as_of``.

    Args:
        consent_df: silver.consent; requires ``customer_id, channel, status, changed_at``.

    Returns:
        ``customer_id, channel, status`` — one row per customer and channel ever asked.
    """
    day_after = F.lit(as_of + dt.timedelta(days=1)).cast("timestamp")
    latest = Window.partitionBy("customer_id", "channel").orderBy(
        F.desc("changed_at"), F.when(F.col("status") == WITHDRAWN, 0).otherwise(1)
    )
    return (
        consent_df.filter(
            F.col("customer_id").isNotNull()
            & F.col("changed_at").isNotNull()
            & (F.col("changed_at") < day_after)
        )
        .withColumn("_n", F.row_number().over(latest))
        .filter(F.col("_n") == 1)
        .select("customer_id", "channel", "status")
    )


def consenting_customers(consent_df: DataFrame, as_of: dt.date, channel: str) -> DataFrame:
    """``customer_id`` of every customer who may be contacted on ``channel`` at ``as_of``."""
    return (
        consent_at(consent_df, as_of)
        .filter((F.col("channel") == channel) & (F.col("status") == GRANTED))
        .select("customer_id")
    )


def filter_consenting(df: DataFrame, consent_df: DataFrame, as_of: dt.date, channel: str) -> DataFrame:
    """The rows of ``df`` (requires ``customer_id``) whose customer consents to ``channel``."""
    return df.join(consenting_customers(consent_df, as_of, channel), on="customer_id", how="left_semi")
