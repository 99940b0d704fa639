"""segments: 90-day engagement features, k chosen by silhouette recovering planted blobs,
deterministic numbering and labels, profile means, and the argument checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from crm_spark.errors import ConfigError, DataQualityError
from crm_spark.gold.segments import behavioural_segments, segment_features

AS_OF = dt.date(2024, 3, 31)
RFM = "customer_id string, recency_days int, frequency long, monetary decimal(18,2), segment string"
WEB = "customer_id string, session_key string, event_ts timestamp"
EMAIL = "customer_id string, event_type string, event_ts timestamp"
FEATURES = ("customer_id string, recency_days int, frequency long, monetary decimal(18,2), "
            "web_sessions_90d long, email_opens_90d long, email_clicks_90d long, as_of date")
SEGMENTS = "customer_id string, segment_id int, segment_label string, as_of date"
PROFILES = ("segment_id int, segment_label string, customers long, share double, mean_recency_days double, "
            "mean_frequency double, mean_monetary double, mean_web_sessions_90d double, "
            "mean_email_opens_90d double, mean_email_clicks_90d double, as_of date")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def features_of(spark, rows):
    """rows: (customer_id, recency, frequency, monetary, sessions, opens, clicks)."""
    return spark.createDataFrame([(c, r, f, Decimal(m), w, o, k, AS_OF) for c, r, f, m, w, o, k in rows],
                                 FEATURES)


def test_segment_features_counts_the_90_days_ending_on_as_of(spark):
    rfm_df = spark.createDataFrame([
        ("A", 0, 3, Decimal("100.00"), "Champions"), ("B", 40, 1, Decimal("20.00"), "Lost"),
        ("C", 10, 2, Decimal("50.00"), "New"),
    ], RFM)
    # The window is 2024-01-02 00:00 (as_of - 89 days) up to 2024-04-01 00:00, UTC.
    web_df = spark.createDataFrame([
        ("A", "s1", ts("2024-01-02 00:00:00")), ("A", "s1", ts("2024-01-02 00:05:00")),  # one session
        ("A", "s2", ts("2024-03-31 23:59:59")),
        ("A", "s3", ts("2024-01-01 23:59:59")), ("A", "s4", ts("2024-04-01 00:00:00")),  # outside
        ("B", "s5", ts("2024-02-01 10:00:00")),
        ("Z", "s6", ts("2024-02-01 10:00:00")), (None, "s7", ts("2024-02-01 10:00:00")),  # not in rfm
    ], WEB)
    email_df = spark.createDataFrame([
        ("A", "open", ts("2024-01-02 00:00:00")), ("A", "open", ts("2024-03-01 10:00:00")),
        ("A", "open", ts("2024-01-01 23:59:59")),  # outside
        ("A", "click", ts("2024-03-01 10:01:00")), ("A", "send", ts("2024-03-01 09:00:00")),
        ("C", "click", ts("2024-03-31 23:59:59")), ("C", "click", ts("2024-04-01 00:00:00")),  # 2nd outside
    ], EMAIL)
    actual = segment_features(rfm_df, web_df, email_df, AS_OF)
    expected = features_of(spark, [
        ("A", 0, 3, "100.00", 2, 2, 1),  # sessions s1, s2; opens Jan 2, Mar 1; click Mar 1
        ("B", 40, 1, "20.00", 1, 0, 0),
        ("C", 10, 2, "50.00", 0, 0, 1),
    ])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def blob(prefix, n, recency, frequency, monetary, sessions, opens, clicks):
    """n customers around a centre; customer i (0..n-1) adds i days of recency, 5 * i to monetary,
    i % 2 to frequency and opens, i % 3 to sessions and (i + 1) % 2 to clicks: small next to the
    gaps between the blobs."""
    return [(f"{prefix}{i}", recency + i, frequency + i % 2, str(monetary + 5 * i), sessions + i % 3,
             opens + i % 2, clicks + (i + 1) % 2) for i in range(n)]


# Centres evenly spaced after log1p (frequency 1/7/48, monetary 20/400/8000) and on the other axes.
HIGH = blob("h", 8, 5, 45, 8000, 20, 12, 6)
MID = blob("m", 8, 150, 6, 400, 10, 6, 3)
LOW = blob("l", 8, 295, 1, 20, 0, 0, 0)


def test_behavioural_segments_recovers_three_planted_blobs(spark):
    segments_df, _, chosen_k, silhouettes = behavioural_segments(features_of(spark, HIGH + MID + LOW))
    assert chosen_k == 3
    assert sorted(silhouettes) == [2, 3, 4, 5, 6]
    # Numbered by mean monetary: high 1, mid 2, low 3. Of k = 3 ranks 0, 1, 2: 3r < 2 only for 0
    # (top tier), 3r > 4 only for 2 (bottom tier); recency ranks run the same way (5 < 150 < 295 days).
    expected = spark.createDataFrame(
        [(c[0], 1, "high value, recent", AS_OF) for c in HIGH]
        + [(c[0], 2, "mid value, lapsing", AS_OF) for c in MID]
        + [(c[0], 3, "low value, lapsed", AS_OF) for c in LOW], SEGMENTS)
    assert_df_equality(segments_df, expected, ignore_row_order=True, ignore_nullable=True)


def test_behavioural_segments_profile_means_and_shares(spark):
    features_df = features_of(spark, [
        ("c1", 10, 5, "500.00", 10, 4, 1), ("c2", 12, 7, "600.00", 11, 5, 2),
        ("c3", 14, 9, "700.00", 12, 6, 3),
        ("c4", 200, 1, "20.00", 0, 0, 0), ("c5", 220, 1, "30.00", 0, 1, 0),
    ])
    _, profiles_df, chosen_k, silhouettes = behavioural_segments(features_df, k_min=2, k_max=2)
    assert (chosen_k, sorted(silhouettes)) == (2, [2])
    # c1..c3: recency (10 + 12 + 14) / 3 = 12, frequency 21 / 3 = 7, monetary 1800 / 3 = 600,
    # sessions 33 / 3 = 11, opens 15 / 3 = 5, clicks 6 / 3 = 2; share 3 / 5.
    # c4, c5: recency 420 / 2 = 210, frequency 1, monetary 50 / 2 = 25, sessions 0, opens 1 / 2, clicks 0.
    # k = 2: rank 0 is top (0 < 1), rank 1 bottom (3 > 2).
    expected = spark.createDataFrame([
        (1, "high value, recent", 3, 0.6, 12.0, 7.0, 600.0, 11.0, 5.0, 2.0, AS_OF),
        (2, "low value, lapsed", 2, 0.4, 210.0, 1.0, 25.0, 0.0, 0.5, 0.0, AS_OF),
    ], PROFILES)
    assert_approx_df_equality(profiles_df, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(("k_min", "k_max"), [(1, 3), (3, 2)])
def test_behavioural_segments_rejects_bad_k_ranges(spark, k_min, k_max):
    with pytest.raises(ConfigError, match="k_min"):
        behavioural_segments(features_of(spark, LOW[:3]), k_min=k_min, k_max=k_max)


def test_behavioural_segments_needs_more_customers_than_clusters(spark):
    # 2 customers: silhouettes need k <= customers - 1 = 1 < k_min.
    with pytest.raises(DataQualityError, match="2 customers"):
        behavioural_segments(features_of(spark, LOW[:2]))
