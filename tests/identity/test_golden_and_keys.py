"""Survivorship rules, facts keyed by customer (cookie back-fill), and the pairwise quality
metrics, each on inline data with hand-computed expectations."""

from __future__ import annotations

import dataclasses
import datetime as dt

from chispa import assert_df_equality

from crm_spark.identity import evaluate, golden, keys

T1, T2, T3 = (dt.datetime(2024, 1, d, 12) for d in (1, 2, 3))


def test_survivorship_trust_recent_and_frequent(spark, base_config):
    cfg = dataclasses.replace(base_config.identity, source_trust=("crm", "shop"), survivorship={
        "first_name": "trust", "email": "trust", "phone": "recent", "city": "recent",
        "birth_date": "frequent"})
    schema = ("customer_id STRING, source STRING, first_name STRING, last_name STRING, email STRING, "
              "phone STRING, street STRING, city STRING, postcode STRING, state STRING, country STRING, "
              "birth_date DATE, created_at TIMESTAMP, updated_at TIMESTAMP")
    d1, d2 = dt.date(1980, 1, 1), dt.date(1980, 1, 2)
    records = spark.createDataFrame([
        # trust: crm wins for first_name even though shop is newer; crm has no e-mail, so shop's wins
        # state, like city, is "recent" by default: shop's is the newest
        ("C1", "crm", "Ava", "Wood", None, "+441", None, "Leeds", None, "NSW", None, d1, T1, T1),
        ("C1", "shop", "Avaa", "Wood", "ava@x.org", None, None, "York", None, "VIC", None, d2, T1, T3),
        # loyalty is not in the trust list: it ranks last; its newer phone wins under "recent"
        ("C1", "loyalty", "A", "Wood", None, "+442", None, None, None, None, None, d1, T1, T2),
        # frequent: 1980-01-01 twice vs 1980-01-02 once
        ("C2", "shop", "Ben", None, None, None, None, None, None, None, None, None, T1, T1),
    ], schema)
    expected = spark.createDataFrame([
        ("C1", "Ava", "Wood", "ava@x.org", "+442", None, "York", None, "VIC", None, d1, 3,
         ["crm", "loyalty", "shop"], T1, T3),
        ("C2", "Ben", None, None, None, None, None, None, None, None, None, 1, ["shop"], T1, T1),
    ], "customer_id STRING, first_name STRING, last_name STRING, email STRING, phone STRING, "
       "street STRING, city STRING, postcode STRING, state STRING, country STRING, birth_date DATE, "
       "record_count BIGINT, "
       "sources ARRAY<STRING>, first_seen_at TIMESTAMP, last_updated_at TIMESTAMP")
    assert_df_equality(golden.golden_records(records, cfg), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_anonymous_events_of_a_cookie_that_logs_in_get_its_customer(spark):
    events = spark.createDataFrame([
        ("e1", T1, "k1", None, "shop"),      # before the login: back-filled
        ("e2", T2, "k1", "A1", "shop"),      # the login
        ("e3", T3, "k1", None, "shop"),      # after it
        ("e4", T1, "k2", None, "shop"),      # a cookie that never logs in
        ("e5", T1, "k3", "A9", "shop"),      # an account the map does not know
    ], "event_id STRING, event_ts TIMESTAMP, cookie_id STRING, account_id STRING, customer_source STRING")
    identity_map = spark.createDataFrame([("shop", "A1", "C1")],
                                         "source STRING, source_id STRING, customer_id STRING")
    expected = spark.createDataFrame(
        [("e1", "C1"), ("e2", "C1"), ("e3", "C1"), ("e4", None), ("e5", None)],
        "event_id STRING, customer_id STRING")
    assert_df_equality(keys.keyed_web_events(events, identity_map), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_shared_mailbox_goes_to_the_customer_with_most_records(spark):
    contacts = spark.createDataFrame(
        [("crm", "1", "a@x.org"), ("shop", "1", "a@x.org"), ("loy", "7", "a@x.org"), ("crm", "2", "b@x.org")],
        "source STRING, source_id STRING, email_match STRING")
    identity_map = spark.createDataFrame(
        [("crm", "1", "C2"), ("shop", "1", "C2"), ("loy", "7", "C1"), ("crm", "2", "C1")],
        "source STRING, source_id STRING, customer_id STRING")
    expected = spark.createDataFrame([("a@x.org", "C2"), ("b@x.org", "C1")],
                                     "email_match STRING, customer_id STRING")
    assert_df_equality(keys.mailbox_owners(contacts, identity_map), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_pairwise_precision_recall_and_cluster_metrics(spark):
    # truth: persons P (r1 r2 r3) and Q (r4 r5); r6 alone. Prediction: {r1 r2} {r3 r4 r5} {r6 missing}
    truth = spark.createDataFrame(
        [("s", f"r{i}", p) for i, p in [(1, "P"), (2, "P"), (3, "P"), (4, "Q"), (5, "Q"), (6, "R")]],
        "source STRING, source_id STRING, true_id STRING")
    predicted = spark.createDataFrame(
        [("s", "r1", "A"), ("s", "r2", "A"), ("s", "r3", "B"), ("s", "r4", "B"), ("s", "r5", "B")],
        "source STRING, source_id STRING, customer_id STRING")
    quality = evaluate.pairwise_quality(truth, predicted)
    # true pairs: P 3 + Q 1 = 4; predicted: A 1 + B 3 = 4 (r6 alone adds none)
    # true positives: (r1,r2) and (r4,r5) = 2 -> precision 2/4, recall 2/4
    assert (quality.true_pairs, quality.predicted_pairs, quality.true_positive_pairs) == (4, 4, 2)
    assert (quality.precision, quality.recall, quality.f1) == (0.5, 0.5, 0.5)
    # exact clusters: only R ({r6}) is reproduced exactly -> 1 of 3
    clusters = (quality.true_clusters, quality.predicted_clusters, quality.exact_cluster_share)
    assert clusters == (3, 3, 0.333333)
