"""Recommendations: interaction weights, ranking metrics by hand, ALS recovering planted tastes
better than popularity, consent, exclusion of bought skus and the cold-start popularity list."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from crm_spark.models.recs import (
    RecsSettings,
    evaluate_recs,
    interactions,
    popular_items,
    purchases,
    ranking_metrics,
    recommendations,
    train_als,
)

SALES = "customer_id string, channel string, order_id string, order_date date, is_purchase boolean"
LINES = "channel string, order_id string, sku string, quantity int"
EVENTS = "customer_id string, sku string, event_type string, event_ts timestamp"
CONSENT = "customer_id string, channel string, status string, changed_at timestamp"
INTERACTIONS = ("customer_id string, sku string, user_idx int, item_idx int, n_purchases int, "
                "n_add_to_cart int, n_product_views int, rating double")
RECS = "customer_id string, rank int, product_id string, score double, reason string, as_of date"
JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
SMALL = {"rank": 8, "max_iter": 5}


def ts(day: int, month: int = 1, hour: int = 12, second: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, 0, second, tzinfo=dt.UTC)


def frames(spark, bought, events=()):
    """bought: (customer_id, sku, order_date); one single-line web order each."""
    sales = [(c, "web", f"o{i}", day, True) for i, (c, _, day) in enumerate(bought)]
    lines = [("web", f"o{i}", sku, 1) for i, (_, sku, _) in enumerate(bought)]
    return (spark.createDataFrame(sales, SALES), spark.createDataFrame(lines, LINES),
            spark.createDataFrame(list(events), EVENTS))


def test_interactions_weight_events_in_window_and_index_ids(spark):
    sales_df = spark.createDataFrame([
        ("c1", "web", "o1", dt.date(2024, 1, 5), True),
        ("c1", "store", "o1", dt.date(2024, 1, 6), True),  # same order id, other channel
        ("c2", "web", "o2", dt.date(2024, 1, 10), False),  # not a purchase
        (None, "web", "o3", dt.date(2024, 1, 10), True),  # guest
        ("c2", "web", "o4", FEB, True),  # end is excluded
        ("c2", "web", "o5", dt.date(2023, 12, 31), True),  # before start
        ("c2", "web", "o6", dt.date(2024, 1, 31), True),
    ], SALES)
    lines_df = spark.createDataFrame([
        ("web", "o1", "A", 2), ("web", "o1", "A", 1), ("web", "o1", "B", -1), ("web", "o1", None, 1),
        ("store", "o1", "B", 1), ("web", "o2", "A", 1), ("web", "o3", "A", 1), ("web", "o4", "A", 1),
        ("web", "o5", "A", 1), ("web", "o6", "C", 1),
    ], LINES)
    events_df = spark.createDataFrame([
        ("c1", "A", "product_view", ts(2)), ("c1", "A", "product_view", ts(3)),
        ("c1", "A", "product_view", ts(4)), ("c1", "A", "add_to_cart", ts(4)),
        ("c2", "B", "product_view", ts(31, hour=23, second=59)),
        ("c2", "B", "product_view", ts(1, month=2, hour=0)),  # first second of the end day
        ("c2", "B", "checkout", ts(5)), ("c2", "B", "page_view", ts(5)),
        (None, "A", "product_view", ts(5)), ("c3", None, "add_to_cart", ts(5)),
        ("c3", "D", "add_to_cart", ts(6)),
    ], EVENTS)

    actual = interactions(sales_df, lines_df, events_df, JAN, FEB, {})
    # c1 A: 2 purchase lines (quantities 2 and 1 count per line) + 1 cart + 3 views = 2*1 + 0.5 + 3*0.1 = 2.8
    # c1 B: the store order's line (the web -1 line is a return) = 1.0; c2 B: one view = 0.1
    # c2 C: 1.0; c3 D: one cart = 0.5. Ids sorted: c1, c2, c3 -> 1, 2, 3; A, B, C, D -> 1..4.
    expected = spark.createDataFrame([
        ("c1", "A", 1, 1, 2, 1, 3, 2.8), ("c1", "B", 1, 2, 1, 0, 0, 1.0), ("c2", "B", 2, 2, 0, 0, 1, 0.1),
        ("c2", "C", 2, 3, 1, 0, 0, 1.0), ("c3", "D", 3, 4, 0, 1, 0, 0.5),
    ], INTERACTIONS)
    assert_approx_df_equality(actual, expected, precision=1e-9, ignore_row_order=True,
                              ignore_nullable=True)

    reweighted = interactions(sales_df, lines_df, events_df, JAN, FEB, {"purchase": 2.0, "product_view": 0.0})
    # c1 A: 2*2 + 0.5 + 0 = 4.5; c2 B only had a view, now worth 0: dropped.
    expected = spark.createDataFrame([
        ("c1", "A", 1, 1, 2, 1, 3, 4.5), ("c1", "B", 1, 2, 1, 0, 0, 2.0),
        ("c2", "C", 2, 3, 1, 0, 0, 2.0), ("c3", "D", 3, 4, 0, 1, 0, 0.5),
    ], INTERACTIONS)
    assert_approx_df_equality(reweighted, expected, precision=1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_ranking_metrics_match_hand_computed_precision_and_map(spark):
    lists_df = spark.createDataFrame([
        ([1.0, 2.0, 3.0], [2.0, 5.0]),  # top 2 = [1, 2]: hit at 2 -> P@2 1/2, AP@2 (1/2) / min(2, 2) = 1/4
        ([4.0, 6.0], [4.0]),  # hit at 1 -> P@2 1/2, AP@2 (1/1) / min(1, 2) = 1
        ([], [7.0]),  # nothing recommended -> 0, 0
    ], "prediction array<double>, label array<double>")
    actual = ranking_metrics(lists_df, k=2)
    # NDCG@2: (1/ln 3) / (1/ln 2 + 1/ln 3), 1 and 0
    ndcg = ((1 / math.log(3)) / (1 / math.log(2) + 1 / math.log(3)) + 1 + 0) / 3
    assert actual == pytest.approx({"precision_at_k": (0.5 + 0.5 + 0) / 3, "map_at_k": (0.25 + 1 + 0) / 3,
                                    "ndcg_at_k": ndcg})


def test_evaluate_recs_popularity_metrics_by_hand(spark):
    train = [("u1", "A", JAN), ("u1", "B", JAN), ("u2", "A", JAN), ("u2", "C", JAN), ("u3", "A", JAN),
             ("u3", "B", JAN), ("u4", "D", JAN)]
    test = [("u1", "C", FEB), ("u1", "E", FEB), ("u2", "A", FEB), ("u2", "B", FEB), ("u3", "A", FEB),
            ("u4", "A", FEB), ("u5", "A", FEB)]
    sales_df, lines_df, events_df = frames(spark, train + test)
    train_df = interactions(sales_df, lines_df, events_df, JAN, FEB).cache()
    test_df = purchases(sales_df, lines_df, FEB, MAR)
    model = train_als(train_df, RecsSettings(**SMALL))

    actual = evaluate_recs(model, train_df, test_df, RecsSettings(**SMALL, k=2))
    # Popular: A (3 buyers), B (2), C (1), D (1). u5 has no train history; u3's only test sku A
    # was bought in train, so 3 customers are evaluated:
    # u1 truth {C, E (unseen)}, list without A, B = [C, D]: P 1/2, AP (1/1) / 2 = 1/2
    # u2 truth {B} (A was bought), list [B, D]: P 1/2, AP 1; u4 truth {A}, list [A, B]: P 1/2, AP 1
    assert actual["n_customers"] == 3
    assert actual["popular_precision_at_k"] == pytest.approx(0.5)
    assert actual["popular_map_at_k"] == pytest.approx((0.5 + 1 + 1) / 3)

    kept = evaluate_recs(model, train_df, test_df, RecsSettings(**SMALL, k=2, exclude_purchased=False))
    # Everyone gets [A, B]: u1 {C, E}: P 0, AP 0; u2 {A, B}: P 1, AP (1/1 + 2/2) / 2 = 1;
    # u3 {A} and u4 {A}: P 1/2, AP 1
    assert kept["n_customers"] == 4
    assert kept["popular_precision_at_k"] == pytest.approx((0 + 1 + 0.5 + 0.5) / 4)
    assert kept["popular_map_at_k"] == pytest.approx((0 + 1 + 1 + 1) / 4)


def planted_tastes(spark, n_customers=300, seed=7):
    """Three taste groups (sizes 40/33/27 %), each buying 85 % of the time from its own 10 skus."""
    rng = random.Random(seed)
    skus = {g: [f"G{g}-{i:02d}" for i in range(10)] for g in range(3)}
    every_sku = [s for group in skus.values() for s in group]
    bought, events = [], []
    for c in range(n_customers):
        customer = f"c{c:03d}"
        group = rng.choices([0, 1, 2], weights=[40, 33, 27])[0]

        def pick(group=group):
            return rng.choice(skus[group]) if rng.random() < 0.85 else rng.choice(every_sku)

        bought += [(customer, pick(), dt.date(2024, 1, rng.randint(1, 31))) for _ in range(5)]
        events += [(customer, pick(), "product_view", ts(rng.randint(1, 31))) for _ in range(4)]
        bought += [(customer, pick(), dt.date(2024, 2, rng.randint(1, 29))) for _ in range(3)]
    return frames(spark, bought, events)


def test_als_recovers_planted_tastes_better_than_popularity(spark):
    sales_df, lines_df, events_df = planted_tastes(spark)
    settings = RecsSettings(**SMALL, k=10)
    train_df = interactions(sales_df, lines_df, events_df, JAN, FEB, settings.weights).cache()
    model = train_als(train_df, settings)
    metrics = evaluate_recs(model, train_df, purchases(sales_df, lines_df, FEB, MAR), settings)
    print(f"\nMAP@10 ALS {metrics['als_map_at_k']:.3f} vs popularity {metrics['popular_map_at_k']:.3f}; "
          f"P@10 {metrics['als_precision_at_k']:.3f} vs {metrics['popular_precision_at_k']:.3f}; "
          f"NDCG@10 {metrics['als_ndcg_at_k']:.3f} vs {metrics['popular_ndcg_at_k']:.3f}; "
          f"{metrics['n_customers']:.0f} customers")
    assert metrics["als_map_at_k"] > metrics["popular_map_at_k"]


@pytest.fixture(scope="module")
def tiny(spark):
    """u1 bought A; u2 A, B; u3 B, C; u4 only viewed D. Popular: A 2/3, B 2/3, C 1/3 of 3 buyers."""
    bought = [("u1", "A", JAN), ("u2", "A", JAN), ("u2", "B", JAN), ("u3", "B", JAN), ("u3", "C", JAN)]
    sales_df, lines_df, events_df = frames(spark, bought, [("u4", "D", "product_view", ts(3))])
    interactions_df = interactions(sales_df, lines_df, events_df, JAN, FEB).cache()
    return interactions_df, train_als(interactions_df, RecsSettings(**SMALL))


def recommend(spark, tiny, customers, consent=None, **settings):
    interactions_df, model = tiny
    consent = consent or [(c, "email", "granted", ts(1)) for c in customers]
    customers_df = spark.createDataFrame([(c,) for c in customers], "customer_id string")
    return recommendations(model, interactions_df, customers_df, spark.createDataFrame(consent, CONSENT),
                           popular_items(interactions_df), RecsSettings(**SMALL, **settings), MAR)


def test_recommendations_respect_latest_email_consent(spark, tiny):
    consent = [
        ("u1", "email", "granted", ts(1)), ("u1", "email", "withdrawn", ts(10)),  # withdrawn: none
        ("u2", "email", "withdrawn", ts(2)), ("u2", "email", "granted", ts(15)),  # granted again: yes
        ("u3", "email", "granted", ts(1)), ("u3", "email", "withdrawn", ts(2, month=3)),  # after as_of: yes
        ("u4", "email", "granted", ts(1)), ("u4", "email", "withdrawn", ts(1, month=3, hour=23)),  # on as_of
        ("c8", "sms", "granted", ts(1)),  # no email consent: none
        ("c9", "email", "granted", ts(1)),  # cold start: yes
        ("c10", "email", "granted", ts(5)), ("c10", "email", "withdrawn", ts(5)),  # same instant: withdrawn
    ]
    actual = recommend(spark, tiny, ["u1", "u2", "u3", "u4", "c7", "c8", "c9", "c10"], consent)
    assert {r.customer_id for r in actual.select("customer_id").distinct().collect()} == {"u2", "u3", "c9"}


def test_recommendations_exclude_purchased_skus(spark, tiny):
    customers = ["u1", "u2", "u4"]
    excluded = recommend(spark, tiny, customers, top_n=4).collect()
    # 4 skus A-D: u1 loses A, u2 loses A and B; u4 only viewed D, which does not exclude it
    assert {(r.customer_id, r.product_id) for r in excluded} == (
        {("u1", s) for s in "BCD"} | {("u2", s) for s in "CD"} | {("u4", s) for s in "ABCD"})
    for customer in customers:
        ranked = sorted((r.rank, r.score) for r in excluded if r.customer_id == customer)
        assert [rank for rank, _ in ranked] == list(range(1, len(ranked) + 1))
        assert [score for _, score in ranked] == sorted((score for _, score in ranked), reverse=True)
    kept = recommend(spark, tiny, customers, top_n=4, exclude_purchased=False)
    assert {(r.customer_id, r.product_id) for r in kept.collect()} == {(c, s) for c in customers
                                                                        for s in "ABCD"}


def test_cold_start_customer_gets_popular_list(spark, tiny):
    actual = recommend(spark, tiny, ["u2", "c9"], top_n=4).filter(F.col("customer_id") == "c9")
    # buyers: A u1, u2; B u2, u3; C u3 of 3 buying customers; D was only viewed. Tie A/B by sku.
    expected = spark.createDataFrame([
        ("c9", 1, "A", 2 / 3, "popular", MAR), ("c9", 2, "B", 2 / 3, "popular", MAR),
        ("c9", 3, "C", 1 / 3, "popular", MAR),
    ], RECS)
    assert_approx_df_equality(actual, expected, precision=1e-9, ignore_row_order=True,
                              ignore_nullable=True)
    warm = recommend(spark, tiny, ["u2", "c9"], top_n=4).filter(F.col("customer_id") == "u2")
    assert {r.reason for r in warm.collect()} == {"als"}
