"""Behavioural segments: k-means clusters of customers on what they buy and how they engage.

Features, per customer of gold.rfm: ``recency_days, frequency, monetary`` (from gold.rfm) and,
over the 90 UTC days ending on ``as_of``, web sessions (distinct ``session_key``), e-mail opens
and e-mail clicks (events), the same counts as gold.customer_360's ``*_90d`` columns.

Clustering: frequency and monetary are heavy-tailed (a few bulk buyers spend a hundred times the
median), so they enter as ``log1p`` (monetary clamped at 0 first: refunds can make it negative)
and no longer decide the clusters alone; then every feature is standardised to mean 0 and
standard deviation 1 so that no unit dominates the distance. KMeans runs for each k in
``k_min..k_max`` (at most customers - 1) with one seed; the k with the highest silhouette
(squared Euclidean) wins, the smaller k on a tie.

KMeans numbers its clusters arbitrarily, so segments are renumbered 1..k by mean monetary
(highest first), then mean recency days (lowest first). A segment's label is
'<value>, <recency>': its tier among the segments on mean monetary ('high value', 'mid value',
'low value') and on mean recency days ('recent', 'lapsing', 'lapsed'), where a segment ranked r-th
of k (0-based) is in the top tier when 3r < k - 1, the bottom tier when 3r > 2(k - 1), else the
middle. Labels that repeat get ' #<segment_id>'.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError, DataQualityError
from crm_spark.gold.sales import MONEY

log = logging.getLogger(__name__)

FEATURES = ("recency_days", "frequency", "monetary",
            "web_sessions_90d", "email_opens_90d", "email_clicks_90d")
LOG_FEATURES = ("frequency", "monetary")
WINDOW_DAYS = 90
VALUE_TIERS = ("high value", "mid value", "low value")
RECENCY_TIERS = ("recent", "lapsing", "lapsed")
PROFILE = ("segment_id int, segment_label string, customers long, share double, "
           + ", ".join(f"mean_{f} double" for f in FEATURES) + ", as_of date")


def _micros_at(day: dt.date) -> int:
    """Microseconds since the epoch of ``day`` 00:00 UTC."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()) * 10**6


def segment_features(rfm_df: DataFrame, web_events_df: DataFrame, email_events_df: DataFrame,
                     as_of: dt.date) -> DataFrame:
    """Clustering features of every customer in ``rfm_df`` (module doc).

    Args:
        rfm_df: gold.rfm for ``as_of``; requires ``customer_id, recency_days, frequency, monetary``.
        web_events_df: silver.web_events; requires ``customer_id, session_key, event_ts``.
        email_events_df: silver.email_events; requires ``customer_id, event_type, event_ts``.
        as_of: last UTC day of the 90-day window (events from ``as_of - 89 days`` 00:00 to before
            ``as_of + 1 day`` 00:00 count).

    Returns:
        ``customer_id, recency_days`` (INT), ``frequency`` (LONG), ``monetary`` (DECIMAL(18,2)),
        ``web_sessions_90d, email_opens_90d, email_clicks_90d`` (LONG, 0 without events),
        ``as_of`` (DATE).
    """
    start = _micros_at(as_of - dt.timedelta(days=WINDOW_DAYS - 1))
    end = _micros_at(as_of + dt.timedelta(days=1))

    def recent(df: DataFrame) -> DataFrame:
        micros = F.unix_micros("event_ts")
        return df.filter(F.col("customer_id").isNotNull() & (micros >= start) & (micros < end))

    web_df = recent(web_events_df).groupBy("customer_id").agg(
        F.count_distinct("session_key").alias("web_sessions_90d"))
    email_df = recent(email_events_df).groupBy("customer_id").agg(
        F.count(F.when(F.col("event_type") == "open", F.lit(1))).alias("email_opens_90d"),
        F.count(F.when(F.col("event_type") == "click", F.lit(1))).alias("email_clicks_90d"))
    counts = ("web_sessions_90d", "email_opens_90d", "email_clicks_90d")
    return (
        rfm_df.select("customer_id", "recency_days", "frequency", "monetary").alias("r")
        .join(web_df.alias("w"), on="customer_id", how="left")
        .join(email_df.alias("e"), on="customer_id", how="left")
        .select("customer_id", F.col("recency_days").cast("int").alias("recency_days"),
                F.col("frequency").cast("long").alias("frequency"),
                F.col("monetary").cast(MONEY).alias("monetary"),
                *[F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c) for c in counts],
                F.lit(as_of).cast("date").alias("as_of"))
    )


def _scaled(features_df: DataFrame) -> DataFrame:
    """``features_df`` plus ``features``: log1p of the skewed columns, then standardised."""
    prepared_df = features_df.select("*", *[
        F.log1p(F.greatest(F.col(c).cast("double"), F.lit(0.0))).alias(f"_log_{c}") for c in LOG_FEATURES])
    inputs = [f"_log_{c}" if c in LOG_FEATURES else c for c in FEATURES]
    assembled_df = VectorAssembler(inputCols=inputs, outputCol="_raw").transform(prepared_df)
    scaler = StandardScaler(inputCol="_raw", outputCol="features", withMean=True, withStd=True)
    return scaler.fit(assembled_df).transform(assembled_df)


def _tier(rank: int, k: int, words: tuple[str, str, str]) -> str:
    if 3 * rank < k - 1:
        return words[0]
    return words[2] if 3 * rank > 2 * (k - 1) else words[1]


def _segment_rows(profile: list[dict], as_of: dt.date | None) -> list[tuple]:
    """Number, label and share the clusters' profiles (module doc); one tuple per ``PROFILE`` row."""
    k = len(profile)
    total = sum(p["customers"] for p in profile)
    ordered = sorted(profile, key=lambda p: (-p["mean_monetary"], p["mean_recency_days"], p["cluster"]))
    by_recency = sorted(profile, key=lambda p: (p["mean_recency_days"], -p["mean_monetary"], p["cluster"]))
    recency_rank = {p["cluster"]: r for r, p in enumerate(by_recency)}
    labels = [f"{_tier(r, k, VALUE_TIERS)}, {_tier(recency_rank[p['cluster']], k, RECENCY_TIERS)}"
              for r, p in enumerate(ordered)]
    repeated = {label for label, n in Counter(labels).items() if n > 1}
    return [
        (p["cluster"], i, f"{label} #{i}" if label in repeated else label,
         p["customers"], p["customers"] / total, *[p[f"mean_{f}"] for f in FEATURES], as_of)
        for i, (p, label) in enumerate(zip(ordered, labels, strict=True), start=1)
    ]


def behavioural_segments(features_df: DataFrame, k_min: int = 2, k_max: int = 6,
                         seed: int = 42) -> tuple[DataFrame, DataFrame, int, dict[int, float]]:
    """Cluster customers with KMeans, choosing k by silhouette (module doc). Runs Spark jobs.

    Args:
        features_df: ``segment_features`` output (one ``as_of``).
        k_min: smallest k tried (>= 2).
        k_max: largest k tried (>= k_min; capped at customers - 1).
        seed: KMeans seed; the same data and seed give the same segments.

    Returns:
        ``(segments_df, profiles_df, chosen_k, silhouettes)``: segments_df is gold.segments
        (``customer_id, segment_id`` INT 1..k, ``segment_label, as_of``); profiles_df is
        gold.segment_profiles (``segment_id, segment_label, customers`` LONG, ``share`` DOUBLE,
        ``mean_<feature>`` DOUBLE for each of ``FEATURES``, ``as_of``); silhouettes maps every k
        that formed k non-empty clusters to its silhouette.

    Raises:
        ConfigError: ``k_min < 2`` or ``k_max < k_min``.
        DataQualityError: too few customers, or no k formed k distinct clusters.
    """
    if k_min < 2 or k_max < k_min:
        raise ConfigError(f"segments: need 2 <= k_min <= k_max, got k_min={k_min}, k_max={k_max}")
    customers = features_df.count()
    k_top = min(k_max, customers - 1)
    if k_top < k_min:
        raise DataQualityError(f"segments: {customers} customers cannot form {k_min} clusters")
    scaled_df = _scaled(features_df).cache()
    try:
        evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="cluster")
        silhouettes, models = {}, {}
        for k in range(k_min, k_top + 1):
            model = KMeans(k=k, seed=seed, featuresCol="features", predictionCol="cluster").fit(scaled_df)
            # Identical customers can leave fewer distinct centres than k: that k is not a choice.
            if sum(1 for size in model.summary.clusterSizes if size > 0) < k:
                log.info("segments: k=%d formed fewer than %d clusters; skipped", k, k)
                continue
            silhouettes[k] = evaluator.evaluate(model.transform(scaled_df))
            models[k] = model
        if not silhouettes:
            raise DataQualityError(f"segments: no k in {k_min}..{k_top} formed distinct clusters")
        chosen_k = max(silhouettes, key=lambda k: (silhouettes[k], -k))
        log.info("segments: %d customers, silhouettes %s, chose k=%d", customers, silhouettes, chosen_k)
        assigned_df = models[chosen_k].transform(scaled_df).select(
            "customer_id", "cluster", *FEATURES, "as_of")
        profile = [r.asDict() for r in assigned_df.groupBy("cluster").agg(
            F.count(F.lit(1)).alias("customers"), F.max("as_of").alias("as_of"),
            *[F.avg(F.col(f).cast("double")).alias(f"mean_{f}") for f in FEATURES]).collect()]
        as_of = profile[0]["as_of"]
        rows = _segment_rows(profile, as_of)
        spark = features_df.sparkSession
        profiles_df = spark.createDataFrame([r[1:] for r in rows], PROFILE)
        mapping_df = spark.createDataFrame(
            [r[:3] for r in rows], "cluster int, segment_id int, segment_label string")
        segments_df = assigned_df.alias("a").join(
            F.broadcast(mapping_df).alias("m"), on="cluster", how="inner",
        ).select("customer_id", "segment_id", "segment_label", F.col("as_of").cast("date").alias("as_of"))
    finally:
        scaled_df.unpersist()
    return segments_df, profiles_df, chosen_k, silhouettes
