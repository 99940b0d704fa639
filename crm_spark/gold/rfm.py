"""RFM: recency, frequency and monetary value per customer, scored 1..5 and named by segment.

Scores are quintiles that never split ties: a customer's score is ``1 + floor(5 * share)``,
capped at 5, where ``share`` is the fraction of the *other* scored customers with a strictly
worse value (``(rank - 1) / (n - 1)``, i.e. ``percent_rank``). Equal values have equal ranks,
so they always get equal scores; the worst value always scores 1 and a unique best value 5.
A large tie (typically the one-time buyers) can leave some scores unused; that is the price
of not scoring equal customers differently. A lone customer scores 1 everywhere.

Segments come from an ordered mapping ``name -> {"r": (lo, hi), "f": (lo, hi), "m": (lo, hi)}``
(a missing key means 1..5); the first rule that matches a customer's scores wins, and the rules
must cover all 125 score combinations.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError
from crm_spark.gold.sales import MONEY, filter_as_of

SegmentRule = Mapping[str, Sequence[int]]
SCORES = ("r", "f", "m")

DEFAULT_SEGMENTS: dict[str, SegmentRule] = {
    "Champions": {"r": (5, 5), "f": (4, 5)},
    "Loyal": {"r": (3, 4), "f": (4, 5)},
    "Can't lose them": {"r": (1, 2), "f": (5, 5)},
    "At risk": {"r": (1, 2), "f": (3, 4)},
    "Potential loyalists": {"r": (3, 5), "f": (2, 3)},
    "New": {"r": (4, 5), "f": (1, 1)},
    "Hibernating": {"r": (2, 3), "f": (1, 2)},
    "Lost": {"r": (1, 5), "f": (1, 5)},
}


def _bounds(rule: SegmentRule, score: str) -> tuple[int, int]:
    low, high = rule.get(score, (1, 5))
    return int(low), int(high)


def check_segments(segment_map: Mapping[str, SegmentRule]) -> None:
    """Raise ``ConfigError`` unless every rule is well formed and the rules cover every score.

    Args:
        segment_map: ordered ``name -> {"r": (lo, hi), "f": (lo, hi)[, "m": (lo, hi)]}``.

    Raises:
        ConfigError: an unknown key, a range outside 1..5 or reversed, or a combination of
            scores no rule matches (the first such combination is named).
    """
    for name, rule in segment_map.items():
        unknown = sorted(set(rule) - set(SCORES))
        if unknown:
            raise ConfigError(f"rfm segment {name!r}: unknown keys {unknown}; use r, f, m")
        for score in SCORES:
            try:
                low, high = _bounds(rule, score)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"rfm segment {name!r}: {score} must be a [low, high] pair") from e
            if not 1 <= low <= high <= 5:
                raise ConfigError(f"rfm segment {name!r}: {score} range {low}..{high} is not within 1..5")
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        scores = {"r": r, "f": f, "m": m}
        matched = any(all(_bounds(rule, s)[0] <= scores[s] <= _bounds(rule, s)[1] for s in SCORES)
                      for rule in segment_map.values())
        if not matched:
            raise ConfigError(f"rfm segments: no rule matches r={r} f={f} m={m}; end with a catch-all rule")


def _segment(segment_map: Mapping[str, SegmentRule]) -> Column:
    segment: Column | None = None
    for name, rule in segment_map.items():
        tests = [F.col(f"{s}_score").between(*_bounds(rule, s)) for s in SCORES]
        matches = reduce(lambda a, b: a & b, tests)
        segment = F.when(matches, F.lit(name)) if segment is None else segment.when(matches, F.lit(name))
    assert segment is not None  # never empty: an empty rfm_segments means the built-in map
    return segment


def _quintile(order: Column) -> Column:
    """Score 1..5 from the share of other customers ranked strictly below (see module doc)."""
    # One global ordering is the definition of a quintile, so Spark moves the customers into a
    # single partition here; the rows are one per customer.
    worse = F.rank().over(Window.orderBy(order)) - 1
    others = F.count(F.lit(1)).over(Window.partitionBy()) - 1
    # Integer numerator and denominator: the quotient is exact at the quintile boundaries.
    fifths = F.floor(F.try_divide(worse * 5, others))
    return F.least(F.lit(5), F.coalesce(fifths, F.lit(0)) + 1).cast("int")


def rfm(sales_df: DataFrame, as_of: dt.date,
        segment_map: Mapping[str, SegmentRule] = DEFAULT_SEGMENTS) -> DataFrame:
    """gold.rfm: one row per customer with at least one purchase on or before ``as_of``.

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, order_date, revenue,
            is_purchase``. Guests (null ``customer_id``) are ignored.
        as_of: the snapshot day; recency is counted back from it.
        segment_map: ordered segment rules (module doc); checked with ``check_segments``.

    Returns:
        ``customer_id, as_of`` (DATE), ``recency_days`` (INT, days from the last purchase to
        ``as_of``), ``frequency`` (LONG, purchases), ``monetary`` (DECIMAL(18,2), revenue of
        all the customer's orders, cancellations included), ``r_score, f_score, m_score``
        (INT 1..5, 5 best; fewer recency days are better), ``rfm_score`` (e.g. '545'),
        ``segment``.

    Raises:
        ConfigError: from ``check_segments``.
    """
    check_segments(segment_map)
    customers_df = (
        filter_as_of(sales_df, as_of)
        .filter(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.max(F.when(F.col("is_purchase"), F.col("order_date"))).alias("last_purchase_date"),
            F.count(F.when(F.col("is_purchase"), F.lit(1))).alias("frequency"),
            F.sum("revenue").alias("monetary"),
        )
        .filter(F.col("frequency") > 0)
        .withColumn("recency_days", F.datediff(F.lit(as_of), F.col("last_purchase_date")))
    )
    scored_df = (
        customers_df
        .withColumn("r_score", _quintile(F.col("recency_days").desc()))
        .withColumn("f_score", _quintile(F.col("frequency").asc()))
        .withColumn("m_score", _quintile(F.col("monetary").asc()))
    )
    return scored_df.select(
        "customer_id",
        F.lit(as_of).alias("as_of"),
        F.col("recency_days").cast("int").alias("recency_days"),
        F.col("frequency").cast("long").alias("frequency"),
        F.col("monetary").cast(MONEY).alias("monetary"),
        "r_score",
        "f_score",
        "m_score",
        F.concat(*(F.col(f"{s}_score").cast("string") for s in SCORES)).alias("rfm_score"),
        _segment(segment_map).alias("segment"),
    )
