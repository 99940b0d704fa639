"""Product recommendations: implicit-feedback ALS (Hu, Koren & Volinsky 2008) on purchases and web
events, a popularity baseline, offline ranking metrics and gold.recommendations.

Feedback. Each (customer_id, sku) pair sums its weighted events in [start, end) (UTC dates): every
positive line of a purchase (revenue > 0, ``gold.sales.order_revenue``) counts ``weights['purchase']``,
every ``add_to_cart`` and ``product_view`` web event of a known customer its own weight. The sum is
the ``rating`` that implicit ALS turns into the confidence 1 + alpha * rating.

Ids. ALS wants ints: customer_id and sku are numbered 1..n by ``dense_rank`` over the sorted ids, so
the same interactions always get the same numbers (StringIndexer numbers by frequency with arbitrary
ties). The global window sorts the distinct ids in one task: nothing for a catalogue; for customers
O(n log n) on one core and n ids in one executor's memory, fine to a few million (beyond that,
``zipWithIndex`` on a sorted RDD numbers in parallel). The interactions table carries ids and
indices side by side, so it is its own mapping table (``customer_index``, ``sku_index``); a model
must be used with the interactions it was fitted on.

Exclusion. Under ``exclude_purchased`` nobody is recommended a sku they bought in the interactions
window (views do not exclude). Lists are drawn ``n + most skus any customer bought`` long before
the bought ones are removed, so every customer keeps n; the evaluation also drops those skus from
the test purchases, since a list that may not name them cannot be judged on them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError
from crm_spark.gold.sales import utc_date
from crm_spark.privacy.consent import filter_consenting

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"purchase": 1.0, "add_to_cart": 0.5, "product_view": 0.1}
COLD_START_STRATEGIES = ("drop", "nan")
# Definitions of pyspark.mllib.evaluation.RankingMetrics: precision@k = hits in the top k / k,
# AP@k = sum of the precision at each hit / min(|truth|, k), NDCG@k with binary relevance.
METRICS: dict[str, Literal["precisionAtK", "meanAveragePrecisionAtK", "ndcgAtK"]] = {
    "precision_at_k": "precisionAtK", "map_at_k": "meanAveragePrecisionAtK", "ndcg_at_k": "ndcgAtK"}


def resolve_weights(weights: dict[str, float] | None) -> dict[str, float]:
    """``weights`` over ``DEFAULT_WEIGHTS``; raises ConfigError on an unknown event or a weight < 0."""
    unknown = sorted(set(weights or {}) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ConfigError(f"recs weights: unknown event types {unknown}; expected {sorted(DEFAULT_WEIGHTS)}")
    resolved = {**DEFAULT_WEIGHTS, **(weights or {})}
    if any(w < 0 for w in resolved.values()):
        raise ConfigError(f"recs weights must be >= 0, got {resolved}")
    return resolved


@dataclass(frozen=True)
class RecsSettings:
    """ALS hyper-parameters (rank, reg_param, alpha, max_iter, seed), ``top_n`` per customer in
    gold.recommendations, ``k`` of the offline metrics, ``exclude_purchased`` (module doc),
    ``cold_start`` (ALS coldStartStrategy 'drop' | 'nan'; only ``model.transform`` uses it) and the
    event ``weights``."""

    rank: int = 16
    reg_param: float = 0.1
    alpha: float = 10.0
    max_iter: int = 10
    top_n: int = 10
    k: int = 10
    exclude_purchased: bool = True
    cold_start: str = "drop"
    seed: int = 42
    weights: dict[str, float] | None = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))  # None: defaults

    def __post_init__(self):
        if self.cold_start not in COLD_START_STRATEGIES:
            raise ConfigError(f"recs cold_start must be one of {COLD_START_STRATEGIES}: {self.cold_start!r}")
        if min(self.rank, self.max_iter, self.top_n, self.k) < 1:
            raise ConfigError("recs rank, max_iter, top_n and k must be >= 1")
        resolve_weights(self.weights)


def purchases(sales_df: DataFrame, lines_df: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """One row per bought line (quantity > 0, sku known) of a customer's purchase dated in [start, end).

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, channel, order_id, order_date,
            is_purchase``.
        lines_df: silver.order_lines; requires ``channel, order_id, sku, quantity``.

    Returns:
        ``customer_id, sku`` (a sku on two lines appears twice).
    """
    orders_df = sales_df.filter(F.col("is_purchase") & F.col("customer_id").isNotNull()
                                & (F.col("order_date") >= F.lit(start)) & (F.col("order_date") < F.lit(end)))
    bought_df = lines_df.filter((F.col("quantity") > 0) & F.col("sku").isNotNull())
    return orders_df.alias("s").join(
        bought_df.alias("l"),
        on=(F.col("s.channel") == F.col("l.channel")) & (F.col("s.order_id") == F.col("l.order_id")),
        how="inner",
    ).select(F.col("s.customer_id").alias("customer_id"), F.col("l.sku").alias("sku"))


def interactions(sales_df: DataFrame, lines_df: DataFrame, web_events_df: DataFrame, as_of_start: dt.date,
                 as_of_end: dt.date, weights: dict[str, float] | None = None) -> DataFrame:
    """Implicit feedback per (customer_id, sku) from events dated in [as_of_start, as_of_end) (module doc).

    Pairs rated 0 (only zero-weighted events) are dropped: ALS would read them as "does not like".

    Args:
        sales_df, lines_df: as ``purchases``.
        web_events_df: silver.web_events; requires ``customer_id, sku, event_type, event_ts``.
        weights: per event type over ``DEFAULT_WEIGHTS``.

    Returns:
        ``customer_id, sku, user_idx, item_idx, n_purchases, n_add_to_cart, n_product_views`` (INT)
        and ``rating`` (DOUBLE).
    """
    w = resolve_weights(weights)
    day = utc_date("event_ts")
    events_df = web_events_df.filter(
        F.col("event_type").isin("add_to_cart", "product_view") & F.col("customer_id").isNotNull()
        & F.col("sku").isNotNull() & (day >= F.lit(as_of_start)) & (day < F.lit(as_of_end))
    ).select("customer_id", "sku", "event_type")
    bought_df = purchases(sales_df, lines_df, as_of_start, as_of_end).select(
        "customer_id", "sku", F.lit("purchase").alias("event_type"))

    def n_of(event_type: str, name: str):
        return F.sum((F.col("event_type") == event_type).cast("int")).cast("int").alias(name)

    counts_df = bought_df.unionByName(events_df).groupBy("customer_id", "sku").agg(
        n_of("purchase", "n_purchases"), n_of("add_to_cart", "n_add_to_cart"),
        n_of("product_view", "n_product_views"))
    rating = (F.col("n_purchases") * w["purchase"] + F.col("n_add_to_cart") * w["add_to_cart"]
              + F.col("n_product_views") * w["product_view"]).cast("double")
    return (
        counts_df.withColumn("rating", rating).filter(F.col("rating") > 0)
        .transform(lambda df: _with_index(df, "customer_id", "user_idx"))
        .transform(lambda df: _with_index(df, "sku", "item_idx"))
        .select("customer_id", "sku", F.col("user_idx").cast("int"), F.col("item_idx").cast("int"),
                "n_purchases", "n_add_to_cart", "n_product_views", "rating")
    )


def _with_index(df: DataFrame, id_col: str, idx_col: str) -> DataFrame:
    """Adds ``idx_col`` = 1..n over the sorted distinct ``id_col`` (one task, module doc)."""
    ids_df = df.select(id_col).distinct().withColumn(idx_col, F.dense_rank().over(Window.orderBy(id_col)))
    return df.join(ids_df, on=id_col, how="inner")


def customer_index(interactions_df: DataFrame) -> DataFrame:
    """The mapping ``customer_id, user_idx`` of ``interactions``."""
    return interactions_df.select("customer_id", "user_idx").distinct()


def sku_index(interactions_df: DataFrame) -> DataFrame:
    """The mapping ``sku, item_idx`` of ``interactions``."""
    return interactions_df.select("sku", "item_idx").distinct()


def train_als(interactions_df: DataFrame, settings: RecsSettings) -> ALSModel:
    """Implicit, non-negative ALS fitted on ``interactions``; its params are ``asdict(settings)``."""
    als = ALS(rank=settings.rank, maxIter=settings.max_iter, regParam=settings.reg_param,
              alpha=settings.alpha, seed=settings.seed, coldStartStrategy=settings.cold_start,
              implicitPrefs=True, nonnegative=True, userCol="user_idx", itemCol="item_idx",
              ratingCol="rating")
    started = time.monotonic()
    model = als.fit(interactions_df.select("user_idx", "item_idx", "rating"))
    log.info("recs: ALS rank %d fitted in %.1f s", settings.rank, time.monotonic() - started)
    return model


def popular_items(interactions_df: DataFrame) -> DataFrame:
    """Skus by number of customers who bought them (ties: sku ascending).

    Returns:
        ``rank`` (INT), ``sku, item_idx, buyers``, ``score`` (DOUBLE, buyers / customers with a purchase).
    """
    bought_df = interactions_df.filter(F.col("n_purchases") > 0)
    total_df = bought_df.agg(F.countDistinct("customer_id").alias("customers"))
    return (
        bought_df.groupBy("sku", "item_idx").agg(F.countDistinct("customer_id").alias("buyers"))
        .crossJoin(total_df)
        .withColumn("rank", F.row_number().over(Window.orderBy(F.desc("buyers"), F.asc("sku"))))
        .select(F.col("rank").cast("int"), "sku", "item_idx", "buyers",
                (F.col("buyers") / F.col("customers")).cast("double").alias("score"))
    )


def _bought(interactions_df: DataFrame) -> DataFrame:
    return interactions_df.filter(F.col("n_purchases") > 0).select("user_idx", "item_idx")


def _n_candidates(bought_df: DataFrame, n: int, exclude: bool) -> int:
    """List length to draw so that n remain after removing the most skus any customer bought."""
    if not exclude:
        return n
    most = bought_df.groupBy("user_idx").count().agg(F.max("count")).collect()[0][0]
    return n + int(most or 0)


def _als_candidates(model: ALSModel, users_df: DataFrame, n: int) -> DataFrame:
    recs_df = model.recommendForUserSubset(users_df.select("user_idx"), n)
    return recs_df.select("user_idx", F.explode("recommendations").alias("r")).select(
        "user_idx", F.col("r.item_idx").alias("item_idx"), F.col("r.rating").cast("double").alias("score"))


def _top_n(candidates_df: DataFrame, bought_df: DataFrame, n: int, exclude: bool) -> DataFrame:
    """Best n candidates per user (score descending, item_idx ascending), bought ones removed."""
    if exclude:
        candidates_df = candidates_df.alias("c").join(
            bought_df.alias("b"), on=["user_idx", "item_idx"], how="left_anti")
    order = Window.partitionBy("user_idx").orderBy(F.desc("score"), F.asc("item_idx"))
    return (candidates_df.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("user_idx", "item_idx", "score", F.col("rank").cast("int")))


def ranking_metrics(lists_df: DataFrame, k: int) -> dict[str, float]:
    """precision@k, MAP@k and NDCG@k (RankingEvaluator) of ``prediction`` (ARRAY<DOUBLE>, best
    first) against ``label`` (ARRAY<DOUBLE>); ``lists_df`` must not be empty."""
    return {name: RankingEvaluator(metricName=metric, k=k, predictionCol="prediction",
                                   labelCol="label").evaluate(lists_df)
            for name, metric in METRICS.items()}


def evaluate_recs(model: ALSModel, train_interactions: DataFrame, test_purchases_df: DataFrame,
                  settings: RecsSettings) -> dict[str, float]:
    """Offline top-k metrics of ALS and of the popularity baseline on a later period's purchases.

    Evaluated: customers with a test purchase and a train interaction. Truth: the distinct skus they
    bought in test, less their train purchases under ``exclude_purchased`` (customers left with none
    are not evaluated); skus unseen in train stay in the truth as misses. Both lists exclude alike.
    Cache ``train_interactions``: it is read several times.

    Args:
        model: ALS fitted on ``train_interactions`` (``interactions`` before the split date).
        test_purchases_df: ``purchases`` in [split date, end); requires ``customer_id, sku``.

    Returns:
        ``n_customers`` evaluated and ``{als,popular}_{precision,map,ndcg}_at_k`` (NaN when nobody is
        evaluated).
    """
    bought_df = _bought(train_interactions)
    truth_df = (
        test_purchases_df.select("customer_id", "sku").distinct()
        .join(customer_index(train_interactions), on="customer_id", how="inner")
        .join(sku_index(train_interactions), on="sku", how="left")
    )
    if settings.exclude_purchased:
        truth_df = truth_df.join(bought_df, on=["user_idx", "item_idx"], how="left_anti")
    # Skus unseen in train get distinct negative labels: they count in |truth| but never match.
    unseen = -F.row_number().over(Window.partitionBy("user_idx").orderBy("sku"))
    labels_df = (truth_df.withColumn("label", F.coalesce(F.col("item_idx"), unseen).cast("double"))
                 .groupBy("user_idx").agg(F.collect_list("label").alias("label")).cache())
    n_customers = labels_df.count()
    if not n_customers:
        log.warning("recs: no test customer with train history and new purchases; metrics are NaN")
    n = _n_candidates(bought_df, settings.k, settings.exclude_purchased)
    popular_df = popular_items(train_interactions).filter(F.col("rank") <= n).select("item_idx", "score")
    metrics = {"n_customers": float(n_customers)}
    for name, candidates_df in (("als", _als_candidates(model, labels_df, n)),
                                ("popular", labels_df.select("user_idx").crossJoin(popular_df))):
        top_df = _top_n(candidates_df, bought_df, settings.k, settings.exclude_purchased)
        lists_df = _ranked_lists(top_df, labels_df).cache()
        # RankingEvaluator fails on an empty set.
        scores = (ranking_metrics(lists_df, settings.k) if n_customers
                  else dict.fromkeys(METRICS, float("nan")))
        metrics.update({f"{name}_{metric}": value for metric, value in scores.items()})
        lists_df.unpersist()
    labels_df.unpersist()
    log.info("recs: evaluated %d customers at k=%d: %s", n_customers, settings.k, metrics)
    return metrics


def _ranked_lists(top_df: DataFrame, labels_df: DataFrame) -> DataFrame:
    """``prediction`` (item indices by rank, empty when none) next to ``label`` per user."""
    predictions_df = top_df.groupBy("user_idx").agg(
        F.array_sort(F.collect_list(F.struct("rank", "item_idx"))).alias("ranked"))
    return labels_df.alias("t").join(predictions_df.alias("p"), on="user_idx", how="left").select(
        F.coalesce(F.transform("p.ranked", lambda r: r["item_idx"].cast("double")),
                   F.array().cast("array<double>")).alias("prediction"),
        F.col("t.label").alias("label"),
    )


def recommendations(model: ALSModel, interactions_df: DataFrame, customers_df: DataFrame,
                    consent_df: DataFrame, popular_df: DataFrame, settings: RecsSettings,
                    as_of: dt.date) -> DataFrame:
    """gold.recommendations: top ``top_n`` skus per customer with email consent at ``as_of``.

    Customers with an interaction get ALS's list (bought skus removed under ``exclude_purchased``),
    the others ``popular_df``'s top ``top_n``; customers without consent get no rows.

    Args:
        model: ALS fitted on ``interactions_df``.
        customers_df: silver.customers; requires ``customer_id``.
        consent_df: silver.consent, see :mod:`crm_spark.privacy.consent`.
        popular_df: ``popular_items`` output; requires ``rank, sku, score``.

    Returns:
        ``customer_id, rank`` (INT, 1 = best), ``product_id`` (the sku), ``score`` (DOUBLE: ALS
        preference, or for 'popular' the share of buying customers who bought it), ``reason``
        ('als' | 'popular'), ``as_of`` (DATE).
    """
    targets_df = filter_consenting(customers_df.select("customer_id"), consent_df, as_of, "email")
    index_df = customer_index(interactions_df)
    warm_df = targets_df.alias("t").join(index_df.alias("i"), on="customer_id", how="inner")
    bought_df = _bought(interactions_df)
    n = _n_candidates(bought_df, settings.top_n, settings.exclude_purchased)
    als_df = (
        _top_n(_als_candidates(model, warm_df, n), bought_df, settings.top_n, settings.exclude_purchased)
        .join(warm_df, on="user_idx", how="inner")
        .join(sku_index(interactions_df), on="item_idx", how="inner")
        .withColumn("reason", F.lit("als"))
    )
    cold_df = (
        targets_df.join(index_df, on="customer_id", how="left_anti")
        .crossJoin(popular_df.filter(F.col("rank") <= settings.top_n).select("rank", "sku", "score"))
        .withColumn("reason", F.lit("popular"))
    )
    columns = ["customer_id", "rank", "sku", "score", "reason"]
    return als_df.select(columns).unionByName(cold_df.select(columns)).select(
        "customer_id", F.col("rank").cast("int"), F.col("sku").alias("product_id"),
        F.col("score").cast("double"), "reason", F.lit(as_of).cast("date").alias("as_of"),
    )
