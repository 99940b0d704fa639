"""Churn: labels by hand, explicit flags, metrics by hand, and a planted signal the model must find."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError, DataQualityError
from crm_spark.gold.sales import order_revenue
from crm_spark.models.churn import (
    SearchBudget,
    churn_dataset,
    churn_labels,
    churn_metrics,
    explicit_labels,
    score_churn,
    top_decile,
    train_churn,
)

AS_OF = dt.date(2024, 3, 31)
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
NO_LINES = "channel string, order_id string, amount decimal(16,3)"
CUSTOMERS = "customer_id string, first_seen_at timestamp"
LABELS = "customer_id string, as_of date, horizon_days int, churned int"
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TELCO = SHARED_DATA / "telco_churn" / "telco_customer_churn.csv"


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def sales_of(spark, rows):
    orders = [(c, "web", "web", o, ts(t), Decimal(v)) for c, o, t, v in rows]
    return order_revenue(spark.createDataFrame(orders, ORDERS), spark.createDataFrame([], NO_LINES),
                         dt.date(2024, 12, 31))


# Horizon 30 days: (Mar 31, Apr 30].
LABEL_ORDERS = [
    ("A", "o1", "2024-03-10 12:00:00", "10.00"), ("A", "o2", "2024-04-15 12:00:00", "10.00"),  # buys again
    ("B", "o3", "2024-02-01 12:00:00", "10.00"), ("B", "o4", "2024-05-01 12:00:00", "10.00"),  # too late
    ("C", "o5", "2024-01-01 12:00:00", "10.00"), ("C", "o6", "2024-04-30 23:59:59", "10.00"),  # last second
    ("D", "o7", "2024-03-01 12:00:00", "-5.00"), ("D", "o8", "2024-04-02 12:00:00", "10.00"),  # none by AS_OF
    ("F", "o9", "2024-03-31 23:59:59", "10.00"),  # bought on AS_OF, then nothing
    ("G", "o10", "2024-03-02 12:00:00", "10.00"), ("G", "o11", "2024-04-10 12:00:00", "-10.00"),  # a return
    (None, "o12", "2024-04-05 12:00:00", "10.00"),  # guest
]
LABEL_CUSTOMERS = [(c, ts("2023-12-01 00:00:00")) for c in "ABCDFG"] + [("E", ts("2024-01-01 00:00:00"))]


def test_churn_labels_by_hand(spark):
    actual = churn_labels(sales_of(spark, LABEL_ORDERS), spark.createDataFrame(LABEL_CUSTOMERS, CUSTOMERS),
                          AS_OF, 30)
    # In the population: a purchase by AS_OF (D's only earlier order is a cancellation, E never buys).
    # Churned: no purchase in (Mar 31, Apr 30]; G's later order is a return, not a purchase.
    expected = spark.createDataFrame([
        ("A", AS_OF, 30, 0), ("B", AS_OF, 30, 1), ("C", AS_OF, 30, 0), ("F", AS_OF, 30, 1),
        ("G", AS_OF, 30, 1),
    ], LABELS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_churn_labels_refuse_a_horizon_the_data_does_not_cover(spark):
    # The last order is on May 1; a 60-day horizon ends on May 30.
    with pytest.raises(DataQualityError, match="horizon"):
        churn_labels(sales_of(spark, LABEL_ORDERS), spark.createDataFrame(LABEL_CUSTOMERS, CUSTOMERS),
                     AS_OF, 60)


def test_explicit_labels_map_yes_no_flags(spark):
    rows = [("1", "Yes"), ("2", "No"), ("3", " yes "), ("4", "NO"), ("5", "true"), ("6", "False"), ("7", "1"),
            ("8", "0")]
    telco_like_df = spark.createDataFrame(rows, "customerID string, Churn string")
    actual = explicit_labels(telco_like_df, "customerID", "Churn")
    expected = spark.createDataFrame(
        [("1", 1), ("2", 0), ("3", 1), ("4", 0), ("5", 1), ("6", 0), ("7", 1), ("8", 0)],
        "customer_id string, churned int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    flags = spark.createDataFrame([(10, True), (11, False)], "id int, churn boolean")
    assert sorted(explicit_labels(flags, "id", "churn").collect()) == [("10", 1), ("11", 0)]


def test_explicit_labels_reject_unknown_flags(spark):
    df = spark.createDataFrame([("1", "Yes"), ("2", "maybe"), ("3", None)], "id string, churn string")
    with pytest.raises(DataQualityError, match="maybe"):
        explicit_labels(df, "id", "churn")


@pytest.mark.skipif(not TELCO.exists(), reason="shared Telco data set not present")
def test_explicit_labels_on_the_telco_data_set(spark):
    telco_df = spark.read.option("header", True).csv(str(TELCO))
    labels = explicit_labels(telco_df, "customerID", "Churn").agg(F.count("*"), F.sum("churned")).first()
    assert tuple(labels) == (7043, 1869)  # data/README.md: 7,043 customers, 1,869 churned


def test_churn_dataset_joins_on_customer_and_as_of(spark):
    features_df = spark.createDataFrame(
        [("A", AS_OF, 1.0), ("B", AS_OF, 2.0), ("A", dt.date(2024, 2, 29), 3.0)],
        "customer_id string, as_of date, recency_days double")
    labels_df = spark.createDataFrame([("A", AS_OF, 30, 1), ("C", AS_OF, 30, 0)], LABELS)
    expected = spark.createDataFrame([("A", AS_OF, 1.0, 1)],
                                     "customer_id string, as_of date, recency_days double, churned int")
    assert_df_equality(churn_dataset(features_df, labels_df), expected, ignore_nullable=True)


def test_top_decile_lift_and_capture_by_hand(spark):
    # 20 rows, 5 churners: the top decile is the first ceil(20 / 10) = 2 rows by probability; r02 and r03 tie
    # at 0.90 and the smaller id goes first, so the top holds r01 (churner) and r02 (not).
    rows = [("r01", 1, 0.95), ("r02", 0, 0.90), ("r03", 1, 0.90), ("r04", 1, 0.70), ("r05", 0, 0.60)]
    rows += [(f"r{i:02d}", int(i in (10, 15)), 0.5 - i / 100) for i in range(6, 21)]
    scored_df = spark.createDataFrame(rows, "customer_id string, churned int, churn_probability double")
    # lift = (1 / 2) / (5 / 20) = 2.0; capture = 1 / 5 = 0.2
    assert top_decile(scored_df) == {"lift_top_decile": 2.0, "capture_top_decile": 0.2}
    no_churn_df = scored_df.withColumn("churned", F.lit(0))
    assert top_decile(no_churn_df) == {"lift_top_decile": None, "capture_top_decile": None}


def test_churn_metrics_by_hand(spark):
    rows = [("a", 1, 0.9), ("b", 0, 0.8), ("c", 1, 0.3), ("d", 0, 0.1)]
    scored_df = spark.createDataFrame(rows, "customer_id string, churned int, churn_probability double")
    metrics = churn_metrics(scored_df)
    expected = {
        "n": 4.0, "base_rate": 0.5,
        "brier": (0.1 ** 2 + 0.8 ** 2 + 0.7 ** 2 + 0.1 ** 2) / 4,  # 1.15 / 4 = 0.2875
        # churner-vs-non-churner pairs ranked right: (a, b), (a, d), (c, d); not (c, b) -> 3 / 4
        "roc_auc": 0.75,
        # PR points (recall, precision) by threshold: (0, 1) prepended, (0.5, 1), (0.5, 1/2), (1, 2/3),
        # (1, 1/2); trapezoids: 0.5 * (1 + 1) / 2 + 0 + 0.5 * (1/2 + 2/3) / 2 + 0 = 0.5 + 7/24 = 19/24
        "pr_auc": 19 / 24,
        "lift_top_decile": 2.0,  # top ceil(4 / 10) = 1 row: a, a churner: 1 / 0.5
        "capture_top_decile": 0.5,  # 1 of 2 churners
    }
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value), name


def test_search_budget_interleaves_families_and_caps():
    names = [(n, tuple(p.values())) for n, p in SearchBudget().candidates()]
    assert names == [("logistic_regression", (0.0,)), ("gbt", (3, 20)), ("logistic_regression", (0.01,)),
                     ("gbt", (3, 50)), ("logistic_regression", (0.1,)), ("gbt", (5, 20)), ("gbt", (5, 50))]
    assert [n for n, _ in SearchBudget(max_candidates=2).candidates()] == ["logistic_regression", "gbt"]
    with pytest.raises(ConfigError):
        SearchBudget(select_by="accuracy")
    with pytest.raises(ConfigError):
        SearchBudget(max_candidates=0)


PLANTED = ["recency_days", "tenure_days", "purchases_90d", "email_opens_30d", "gap_mean_days",
           "avg_satisfaction"]
TRAIN_AS_OF, VALID_AS_OF = dt.date(2024, 1, 31), dt.date(2024, 4, 30)


def planted(spark, as_of: dt.date, seed: int, n: int = 2000):
    """n customers whose churn depends on recency only: logit = (recency_days - 200) / 30. Other columns are
    noise; gap_mean_days is null for a third of them and avg_satisfaction for everyone."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 365, n)
    churned = rng.random(n) < 1 / (1 + np.exp(-(recency - 200) / 30))
    gaps = np.where(rng.random(n) < 1 / 3, np.nan, rng.gamma(2.0, 30.0, n))
    noise = zip(rng.uniform(0, 2000, n), rng.poisson(2, n), rng.poisson(3, n), gaps, churned, strict=True)
    rows = [(f"c{i:05d}", as_of, float(recency[i]), float(t), float(p), float(e),
             None if math.isnan(g) else float(g), None, int(y))
            for i, (t, p, e, g, y) in enumerate(noise)]
    schema = "customer_id string, as_of date, " + ", ".join(f"{c} double" for c in PLANTED) + ", churned int"
    return spark.createDataFrame(rows, schema)


def test_train_churn_finds_a_planted_signal_out_of_time(spark):
    train_df, valid_df = planted(spark, TRAIN_AS_OF, seed=1), planted(spark, VALID_AS_OF, seed=2)
    budget = SearchBudget(max_candidates=2, gbt_max_depth=(3,), gbt_max_iter=(10,), lr_reg_param=(0.01,))
    result = train_churn(train_df, valid_df, PLANTED, budget=budget, seed=42)

    assert [c["name"] for c in result.candidates] == ["logistic_regression", "gbt"]
    assert result.feature_columns == tuple(PLANTED[:-1])  # avg_satisfaction is null everywhere: left out
    # The best achievable AUC is about 0.96 (simulated with the true probabilities); 0.8 is a loose floor.
    assert result.metrics["roc_auc"] >= 0.8
    assert max(result.feature_importances, key=result.feature_importances.get) == "recency_days"
    # The top decile by recency (> 328.5 days) churns with p >= 1 / (1 + e^-4.28) = 0.986, while the base
    # rate is about P(recency > 200) = 165 / 365 = 0.45: the best lift is about 2.2; a fit should pass 1.5.
    assert result.metrics["lift_top_decile"] > 1.5
    assert 0.4 < result.metrics["base_rate"] < 0.5

    scores_df = score_churn(result.model, valid_df.drop("churned"))
    assert scores_df.dtypes == [("customer_id", "string"), ("churn_probability", "double")]
    by_recency = (scores_df.join(valid_df, "customer_id")
                  .groupBy((F.col("recency_days") > 300).alias("is_long_gone"))
                  .agg(F.avg("churn_probability").alias("p")).collect())
    p = {r["is_long_gone"]: r["p"] for r in by_recency}
    assert p[True] > 0.8 > 0.5 > p[False]


def test_train_churn_refuses_validation_that_is_not_later(spark):
    train_df = planted(spark, TRAIN_AS_OF, seed=1, n=20)
    with pytest.raises(DataQualityError, match="out of time"):
        train_churn(train_df, train_df, PLANTED, budget=SearchBudget(max_candidates=1))
