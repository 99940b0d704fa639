"""Campaign audiences: who a campaign on a channel may reach, per segment, at ``as_of``.

Every audience is filtered by consent (:mod:`crm_spark.privacy.consent`): a customer without a
``granted`` consent for the channel at ``as_of`` is in no audience of that channel, so an
opt-out today removes them from tomorrow's audiences and exports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.as_of import latest_snapshot
from crm_spark.config import Config
from crm_spark.errors import CrmSparkError
from crm_spark.privacy.consent import consent_at
from crm_spark.tables import Lake

CHANNELS = ("email", "sms")


def audiences(
    rfm_df: DataFrame,
    segments_df: DataFrame | None,
    consent_df: DataFrame,
    as_of: dt.date,
    channels: Sequence[str] = CHANNELS,
) -> DataFrame:
    """gold.audiences: one row per consenting customer, channel and segment they belong to.

    Args:
        rfm_df: gold.rfm; requires ``customer_id, segment``.
        segments_df: gold.segments (``customer_id, segment_label``) or None when not computed.
        consent_df: silver.consent; see :func:`consent_at`.

    Returns:
        ``as_of`` (DATE), ``channel``, ``segment_kind`` ('rfm' | 'behavioural'), ``segment``,
        ``customer_id``.
    """
    members = rfm_df.select("customer_id", F.lit("rfm").alias("segment_kind"), F.col("segment"))
    if segments_df is not None:
        members = members.unionByName(
            segments_df.select(
                "customer_id",
                F.lit("behavioural").alias("segment_kind"),
                F.col("segment_label").cast("string").alias("segment"),
            )
        )
    granted = (
        consent_at(consent_df, as_of)
        .filter(F.col("channel").isin(list(channels)) & (F.col("status") == "granted"))
        .select("customer_id", "channel")
    )
    return members.join(granted, on="customer_id", how="inner").select(
        F.lit(as_of).cast("date").alias("as_of"), "channel", "segment_kind", "segment", "customer_id"
    )


def export_audience(
    spark: SparkSession, cfg: Config, channel: str, segment: str, out: str, as_of: dt.date | None = None
) -> tuple[int, dt.date]:
    """Write the customer ids of one audience to a single CSV file ``out``; without ``as_of``,
    the newest snapshot the data reaches (:func:`crm_spark.as_of.latest_snapshot`).

    Returns:
        (rows written, the as_of exported)

    Raises:
        CrmSparkError: unknown channel, no audiences yet, or no such segment at ``as_of``.
    """
    if channel not in CHANNELS:
        raise CrmSparkError(f"--channel {channel!r}: use one of {', '.join(CHANNELS)}")
    lake = Lake(spark, cfg.lake.root)
    table_df = lake.read("gold.audiences")
    if as_of is None:
        as_of = latest_snapshot(lake, "gold.audiences")
        if as_of is None:
            raise CrmSparkError("gold.audiences is empty; run `crm-spark gold` first")
    at_date = table_df.where((F.col("as_of") == F.lit(as_of)) & (F.col("channel") == channel))
    members = at_date.where(F.col("segment") == segment).select("customer_id").distinct()
    rows = members.count()
    if rows == 0:
        known = sorted(r["segment"] for r in at_date.select("segment").distinct().collect())
        raise CrmSparkError(
            f"no consenting customer in segment {segment!r} on {channel} at {as_of}; "
            f"segments with members: {', '.join(known) or 'none'}"
        )
    staging = f"{out}.parts"
    members.orderBy("customer_id").coalesce(1).write.mode("overwrite").option("header", True).csv(staging)
    part = next(name for name in fs.file_names(spark, staging) if name.startswith("part-"))
    fs.delete(spark, out)
    fs.rename(spark, f"{staging}/{part}", out)
    fs.delete(spark, staging)
    return rows, as_of
