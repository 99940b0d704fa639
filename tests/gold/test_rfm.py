"""rfm: recency/frequency/monetary per customer, tie-safe quintile scores, segments, as_of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from crm_spark.errors import ConfigError
from crm_spark.gold.rfm import check_segments, rfm
from crm_spark.gold.sales import order_revenue

AS_OF = dt.date(2024, 3, 31)
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
NO_LINES = "channel string, order_id string, amount decimal(16,3)"
RFM = ("customer_id string, as_of date, recency_days int, frequency long, monetary decimal(18,2), "
       "r_score int, f_score int, m_score int, rfm_score string, segment string")


def sales_of(spark, rows, as_of):
    """The sales base of orders without lines: each order's revenue is its total."""
    orders = [(c, "web", "web", o, dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC), Decimal(v))
              for c, o, t, v in rows]
    return order_revenue(spark.createDataFrame(orders, ORDERS), spark.createDataFrame([], NO_LINES), as_of)


ROWS = [
    ("A", "o1", "2024-03-31 23:59:59", "100.00"),
    ("A", "o2", "2024-03-01 12:00:00", "50.00"),
    ("A", "o3", "2024-02-01 12:00:00", "-20.00"),  # cancellation: monetary only
    ("B", "o4", "2024-03-31 08:00:00", "100.00"),
    ("C", "o5", "2024-03-21 12:00:00", "60.00"),
    ("C", "o6", "2024-01-10 12:00:00", "40.00"),
    ("C", "o7", "2024-01-05 12:00:00", "30.00"),
    ("D", "o8", "2024-02-29 12:00:00", "25.00"),
    ("E", "o9", "2024-01-01 12:00:00", "500.00"),
    ("E", "o10", "2024-01-02 12:00:00", "0.00"),  # revenue 0: not a purchase, not the last purchase
    ("F", "o11", "2023-12-31 12:00:00", "10.00"),
    ("F", "o12", "2024-01-15 12:00:00", "10.00"),
    ("G", "o13", "2024-03-01 12:00:00", "-5.00"),  # no purchase at all: no row
    (None, "o14", "2024-03-30 12:00:00", "200.00"),  # guest: no row
]
FUTURE = [("A", "o15", "2024-04-01 00:00:00", "1000.00")]

# n = 6 scored customers, so score = 1 + floor(5 * (rank - 1) / 5) = rank, capped at 5 (rank() gives
# ties the same, lowest rank).
# recency, worst first: E 90 (Jan 1 -> Mar 31 = 31 + 29 + 30), F 76, D 31, C 10, A 0 = B 0 -> 1 2 3 4 5 5
# frequency, ascending: B = D = E 1 (rank 1), A = F 2 (rank 4), C 3 (rank 6) -> 1 1 1 4 4 5
# monetary, ascending: F 20, D 25, B 100, A = C 130 (rank 4; A: 100 + 50 - 20), E 500 (rank 6) -> 1 2 3 4 4 5
EXPECTED = [
    ("A", AS_OF, 0, 2, Decimal("130.00"), 5, 4, 4, "544", "Champions"),
    ("B", AS_OF, 0, 1, Decimal("100.00"), 5, 1, 3, "513", "New"),
    ("C", AS_OF, 10, 3, Decimal("130.00"), 4, 5, 4, "454", "Loyal"),
    ("D", AS_OF, 31, 1, Decimal("25.00"), 3, 1, 2, "312", "Hibernating"),
    ("E", AS_OF, 90, 1, Decimal("500.00"), 1, 1, 5, "115", "Lost"),
    ("F", AS_OF, 76, 2, Decimal("20.00"), 2, 4, 1, "241", "At risk"),
]


def test_rfm_scores_ties_equally_and_names_segments(spark):
    actual = rfm(sales_of(spark, ROWS, AS_OF), AS_OF)
    expected = spark.createDataFrame(EXPECTED, RFM)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_rfm_ignores_orders_after_as_of(spark):
    # The base is built for a later day, so only rfm's own cut-off can drop A's 1000.00 order.
    later_base = sales_of(spark, ROWS + FUTURE, AS_OF + dt.timedelta(days=30))
    actual = rfm(later_base, AS_OF)
    expected = spark.createDataFrame(EXPECTED, RFM)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_rfm_takes_a_custom_segment_map_first_match_wins(spark):
    segments = {"Big spenders": {"m": [5, 5]}, "Recent": {"r": [4, 5]}, "Others": {}}
    actual = rfm(sales_of(spark, ROWS, AS_OF), AS_OF, segments).select("customer_id", "segment")
    # E has m 5 (and r 1); A, B (r 5) and C (r 4) are recent; D (r 3) and F (r 2) are not.
    expected = spark.createDataFrame(
        [("A", "Recent"), ("B", "Recent"), ("C", "Recent"), ("D", "Others"), ("E", "Big spenders"),
         ("F", "Others")], "customer_id string, segment string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(("segments", "message"), [
    ({"Champions": {"r": (5, 5)}}, "no rule matches r=1 f=1 m=1"),
    ({"All": {"q": (1, 5)}}, "unknown keys"),
    ({"All": {"r": (0, 5)}}, "not within 1..5"),
    ({"All": {"r": (4, 2)}}, "not within 1..5"),
    ({"All": {"r": 5}}, "must be a"),
])
def test_check_segments_rejects_bad_maps(segments, message):
    with pytest.raises(ConfigError, match=message):
        check_segments(segments)
