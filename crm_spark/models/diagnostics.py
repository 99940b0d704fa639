"""Lift and calibration tables of a scored, labelled DataFrame (one row per customer with a 0/1
label and a predicted probability), for reviewing a churn model beyond its headline metrics.

Lift. Customers are ranked by probability, descending, ties broken by id ascending, and cut
into ``bins`` groups with ``ntile``: the first ``n mod bins`` groups hold one customer more, so
group 1 is exactly the top ``ceil(n / bins)`` rows of ``churn.top_decile`` and its lift is
``lift_top_decile``. Per group: its churn rate / the overall base rate (``lift``), the share of
all churners in groups 1..g (``cumulative_capture``, the gains curve) and the churn rate of
groups 1..g / the base rate (``cumulative_lift``).

Calibration. Probabilities fall into ``bins`` equal-width bins of [0, 1] (bin b holds
b / bins <= p < (b + 1) / bins; p = 1 goes to the last bin). Per non-empty bin: the mean
predicted probability and the observed rate of label 1; a calibrated model has them equal.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError
from crm_spark.models.churn import LABEL

PROBABILITY = "churn_probability"


def _check_bins(bins: int) -> None:
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}")


def _ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, null where the denominator is 0 (ANSI mode would fail)."""
    return F.when(denominator != 0, numerator / denominator)


def lift_table(scored_df: DataFrame, label_col: str = LABEL, probability_col: str = PROBABILITY,
               id_col: str = "customer_id", bins: int = 10) -> DataFrame:
    """Churn rate and lift per probability group, highest probabilities first (module doc).

    Args:
        scored_df: one row per customer; requires ``id_col``, ``label_col`` (0/1) and
            ``probability_col``.
        bins: number of groups (10: deciles).

    Returns:
        ``bin`` (INT, 1 = highest probabilities), ``customers`` (LONG), ``churners`` (LONG),
        ``churn_rate``, ``mean_probability``, ``lift``, ``cumulative_capture``,
        ``cumulative_lift`` (DOUBLE; the last three null without churners), one row per
        non-empty group, ordered by ``bin``.

    Raises:
        ConfigError: ``bins`` < 1.
    """
    _check_bins(bins)
    # One global ranking is the definition of a decile; the rows are one per customer.
    ranking = Window.orderBy(F.col(probability_col).desc(), F.col(id_col).asc())
    grouped_df = (
        scored_df.select(F.ntile(bins).over(ranking).alias("bin"),
                         F.col(label_col).cast("long").alias("y"),
                         F.col(probability_col).cast("double").alias("p"))
        .groupBy("bin")
        .agg(F.count(F.lit(1)).alias("customers"), F.sum("y").alias("churners"), F.avg("p").alias("p"))
    )
    # The windows below run over the grouped rows: at most ``bins`` of them.
    everything = Window.partitionBy()
    so_far = Window.orderBy("bin").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    total_n, total_y = F.sum("customers").over(everything), F.sum("churners").over(everything)
    base_rate = _ratio(total_y.cast("double"), total_n.cast("double"))
    rate = F.col("churners").cast("double") / F.col("customers")
    cum_n, cum_y = F.sum("customers").over(so_far), F.sum("churners").over(so_far)
    return grouped_df.select(
        F.col("bin").cast("int").alias("bin"),
        F.col("customers").cast("long").alias("customers"),
        F.col("churners").cast("long").alias("churners"),
        rate.alias("churn_rate"),
        F.col("p").alias("mean_probability"),
        _ratio(rate, base_rate).alias("lift"),
        _ratio(cum_y.cast("double"), total_y.cast("double")).alias("cumulative_capture"),
        _ratio(cum_y.cast("double") / cum_n, base_rate).alias("cumulative_lift"),
    ).orderBy("bin")


def calibration_table(scored_df: DataFrame, label_col: str = LABEL, probability_col: str = PROBABILITY,
                      bins: int = 10) -> DataFrame:
    """Mean predicted probability against the observed rate per equal-width bin (module doc).

    Args:
        scored_df: requires ``label_col`` (0/1) and ``probability_col`` (in [0, 1]; nulls are
            left out).
        bins: number of equal-width bins of [0, 1].

    Returns:
        ``bin`` (INT, 0 = lowest), ``lower``, ``upper`` (DOUBLE, the bin's edges),
        ``customers`` (LONG), ``mean_probability``, ``observed_rate`` (DOUBLE), one row per
        non-empty bin, ordered by ``bin``.

    Raises:
        ConfigError: ``bins`` < 1.
    """
    _check_bins(bins)
    p = F.col(probability_col).cast("double")
    bin_of = F.least(F.greatest(F.floor(p * bins), F.lit(0)), F.lit(bins - 1)).cast("int")
    return (
        scored_df.filter(p.isNotNull())
        .select(bin_of.alias("bin"), p.alias("p"), F.col(label_col).cast("double").alias("y"))
        .groupBy("bin")
        .agg(F.count(F.lit(1)).alias("customers"), F.avg("p").alias("mean_probability"),
             F.avg("y").alias("observed_rate"))
        .select("bin", (F.col("bin") / F.lit(float(bins))).alias("lower"),
                ((F.col("bin") + 1) / F.lit(float(bins))).alias("upper"),
                F.col("customers").cast("long").alias("customers"), "mean_probability", "observed_rate")
        .orderBy("bin")
    )
