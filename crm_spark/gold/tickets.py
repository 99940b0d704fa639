"""gold.ticket_insights: one row per support ticket known at ``as_of``, with its redacted text,
sentiment and theme; gold.themes: the themes of that day's model; gold.theme_trends: theme x
week x channel x RFM segment (issue 26).

Point in time: only tickets created by the end of ``as_of`` (UTC); a ticket closed after that
day counts as open and has no satisfaction yet (the rating is given at closing), as in the
features (``features.customer``). The raw ``body`` never leaves silver: the text here is
``body_redacted`` (D99).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

COLUMNS = ("as_of", "ticket_id", "customer_id", "created_at", "closed_at", "status", "source",
           "category", "body_redacted", "language", "sentiment_score", "sentiment_label",
           "satisfaction", "theme_id", "theme", "theme_emerging")
THEME_COLUMNS = ("as_of", "theme_id", "theme", "terms", "example_ticket_id", "tickets",
                 "recent_tickets", "emerging", "model_version")
TREND_COLUMNS = ("as_of", "week", "theme_id", "theme", "source", "segment", "tickets",
                 "negative_tickets", "mean_sentiment", "rated_tickets", "mean_satisfaction",
                 "closed_tickets", "mean_resolution_hours")
NO_SEGMENT = "no purchases"     # a ticket of a customer with no purchase yet, or of no customer
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


def with_themes(insights_df: DataFrame, assigned_df: DataFrame | None, emerging: set[int],
                recent_from: dt.date) -> DataFrame:
    """``insights_df`` with ``theme_id``, ``theme`` (from ``assigned_df``: ticket_id, theme_id,
    theme; None = no themes this run) and ``theme_emerging``: the ticket is of an emerging theme
    and was created on or after ``recent_from``."""
    if assigned_df is None:
        return (insights_df.withColumn("theme_id", F.lit(None).cast("int"))
                .withColumn("theme", F.lit(None).cast("string"))
                .withColumn("theme_emerging", F.lit(False)).select(*COLUMNS))
    joined = insights_df.join(assigned_df.select("ticket_id", "theme_id", "theme"), "ticket_id", "left")
    recent = F.col("created_at") >= F.lit(recent_from).cast("timestamp")
    flagged = F.col("theme_id").isin(*sorted(emerging)) & recent if emerging else F.lit(False)
    return joined.withColumn("theme_emerging", F.coalesce(flagged, F.lit(False))).select(*COLUMNS)


THEME_SCHEMA = StructType([
    StructField("as_of", DateType()), StructField("theme_id", IntegerType()),
    StructField("theme", StringType()), StructField("terms", ArrayType(StringType())),
    StructField("example_ticket_id", StringType()), StructField("tickets", LongType()),
    StructField("recent_tickets", LongType()), StructField("emerging", BooleanType()),
    StructField("model_version", IntegerType()),
])


def theme_catalogue(spark: SparkSession, insights_df: DataFrame, names: tuple[str, ...],
                    terms: tuple[tuple[str, ...], ...], examples: tuple[str, ...], emerging: set[int],
                    as_of: dt.date, model_version: int | None) -> DataFrame:
    """gold.themes: one row per theme of the model ``model_version`` with its terms, the id of
    its representative ticket, its tickets at ``as_of`` and those flagged emerging."""
    rows = [(as_of, i, name, list(t), example, i in emerging, model_version)
            for i, (name, t, example) in enumerate(zip(names, terms, examples, strict=True))]
    catalogue = spark.createDataFrame(rows, "as_of date, theme_id int, theme string, terms array<string>, "
                                            "example_ticket_id string, emerging boolean, model_version int")
    counts = insights_df.groupBy("theme_id").agg(
        F.count("*").alias("tickets"), F.count_if("theme_emerging").cast("long").alias("recent_tickets"))
    return (catalogue.join(counts, "theme_id", "left")
            .select(*[F.coalesce(F.col(c), F.lit(0).cast("long")).alias(c)
                      if c in ("tickets", "recent_tickets") else F.col(c) for c in THEME_COLUMNS]))


def empty_catalogue(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], THEME_SCHEMA)


def theme_trends(insights_df: DataFrame, rfm_df: DataFrame) -> DataFrame:
    """gold.theme_trends: per week (Monday, UTC) a ticket was created, theme, source and the
    customer's RFM segment at ``as_of`` (``NO_SEGMENT`` without one): volume, negative tickets,
    mean sentiment, mean satisfaction of the rated ones, mean hours to close of the closed ones.
    Tickets without a theme (no word in the model's vocabulary) are left out."""
    segments = rfm_df.select("customer_id", "segment")
    hours = (F.unix_timestamp("closed_at") - F.unix_timestamp("created_at")) / 3600.0
    week = F.date_trunc("week", F.col("created_at")).cast("date")
    return (insights_df.filter(F.col("theme_id").isNotNull())
            .join(segments, "customer_id", "left")
            .groupBy("as_of", week.alias("week"), "theme_id", "theme", "source",
                     F.coalesce("segment", F.lit(NO_SEGMENT)).alias("segment"))
            .agg(F.count("*").alias("tickets"),
                 F.count_if(F.col("sentiment_label") == "negative").cast("long").alias("negative_tickets"),
                 F.avg("sentiment_score").alias("mean_sentiment"),
                 F.count("satisfaction").alias("rated_tickets"),
                 F.avg("satisfaction").alias("mean_satisfaction"),
                 F.count("closed_at").alias("closed_tickets"),
                 F.avg(hours).alias("mean_resolution_hours"))
            .select(*TREND_COLUMNS))
