"""gold.ticket_insights: one row per support ticket known at ``as_of``, with its redacted text
and sentiment (issue 26).

Point in time: only tickets created by the end of ``as_of`` (UTC); a ticket closed after that
day counts as open and has no satisfaction yet (the rating is given at closing), as in the
features (``features.customer``). The raw ``body`` never leaves silver: the text here is
``body_redacted`` (D99).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

COLUMNS = ("as_of", "ticket_id", "customer_id", "created_at", "closed_at", "status", "source",
           "category", "body_redacted", "language", "sentiment_score", "sentiment_label",
           "satisfaction")
# what silver.support_tickets gained with the text work (D99)
TEXT_COLUMNS = ("body_redacted", "body_language", "sentiment_score", "sentiment_label")


def ticket_insights(tickets_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Tickets created up to ``as_of`` with their text signals.

    Args:
        tickets_df: silver.support_tickets; requires ``ticket_id, customer_id, created_at,
            closed_at, source, category, body_redacted, body_language, sentiment_score,
            sentiment_label, satisfaction``.
        as_of: last UTC day included.

    Returns:
        ``COLUMNS``: ``source`` is the help-desk system the ticket came through (the channel),
        ``language`` the text's tag (``und`` when it does not tell); ``status`` is ``open``
        or ``closed`` at ``as_of``.
    """
    end = F.lit(as_of + dt.timedelta(days=1)).cast("timestamp")
    closed_by_then = F.col("closed_at").isNotNull() & (F.col("closed_at") < end)
    known_df = tickets_df.filter(F.col("created_at") < end)
    return known_df.select(
        F.lit(as_of).alias("as_of"), "ticket_id", "customer_id", "created_at",
        F.when(closed_by_then, F.col("closed_at")).alias("closed_at"),
        F.when(closed_by_then, "closed").otherwise("open").alias("status"),
        "source", "category", "body_redacted", F.col("body_language").alias("language"),
        "sentiment_score", "sentiment_label",
        F.when(closed_by_then, F.col("satisfaction")).alias("satisfaction"),
    )
