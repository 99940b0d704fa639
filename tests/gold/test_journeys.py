"""journeys: channel paths to purchase (lookback, one journey per touch, collapsing, max_steps,
open journeys, as_of) and funnel: furthest step per session, 24 h purchase window, segments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_approx_df_equality, assert_df_equality

from crm_spark.gold.journeys import funnel, journeys
from crm_spark.gold.sales import order_revenue

AS_OF = dt.date(2024, 3, 31)
WEB = ("event_id string, event_ts timestamp, customer_id string, session_key string, event_type string, "
       "utm_medium string")
EMAIL = "customer_id string, event_type string, event_ts timestamp"
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
NO_LINES = "channel string, order_id string, amount decimal(16,3)"
JOURNEYS = "path string, steps int, converted boolean, journeys long, revenue decimal(18,2), as_of date"
FUNNEL = ("channel string, segment string, step string, step_order int, sessions_reaching long, "
          "conversion_from_previous double, conversion_from_visit double, as_of date")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def web_of(spark, sessions):
    """sessions: (session_key, customer_id, [(ts, event_type, utm_medium), ...]) -> web events."""
    rows = [(f"{key}-{i}", ts(t), customer, key, kind, utm)
            for key, customer, events in sessions for i, (t, kind, utm) in enumerate(events)]
    return spark.createDataFrame(rows, WEB)


def sales_of(spark, orders, base_as_of):
    """The sales base of orders without lines (revenue = total), built for ``base_as_of``."""
    rows = [(c, "web", "web", o, ts(t), Decimal(v)) for c, o, t, v in orders]
    return order_revenue(spark.createDataFrame(rows, ORDERS), spark.createDataFrame([], NO_LINES), base_as_of)


def view(t: str, utm: str | None = None):
    return (t, "page_view", utm)


E_DAYS = range(1, 10)  # E: touches on 1..9 March alternating email (odd days) and direct (even days)
SESSIONS = [
    ("a1", "A", [view("2024-01-05 10:00:00", "paid_search"), ("2024-01-05 10:01:00", "product_view", None)]),
    ("a2", "A", [view("2024-01-06 09:00:00")]),
    ("a3", "A", [view("2024-01-06 18:00:00")]),  # direct again: collapsed
    ("a4", "A", [view("2024-01-20 11:45:00", "email")]),
    ("b1", "B", [view("2024-02-02 10:00:00", "paid_search")]),
    ("b2", "B", [view("2024-02-04 12:00:00")]),  # same instant as B's purchase: still before it
    ("c1", "C", [view("2024-01-10 10:00:00", "social")]),
    ("c2", "C", [view("2024-02-20 12:00:00")]),  # exactly 30 days before C's purchase: outside
    ("d1", "D", [view("2024-03-15 10:00:00", "display")]),  # open: it may still convert
    ("f1", None, [view("2024-03-05 10:00:00", "affiliate")]),  # anonymous first event ...
    ("x1", None, [view("2024-01-03 10:00:00", "paid_search")]),  # anonymous session: no touch
    *[(f"e{d}", "E", [view(f"2024-03-{d:02d} 10:00:00")]) for d in E_DAYS if d % 2 == 0],
]
# ... then F logs in: the session is F's, its channel the first event's.
F_LOGIN = ("f1-9", ts("2024-03-05 10:05:00"), "F", "f1", "login", None)
CLICKS = [
    ("A", "click", ts("2024-01-01 10:00:00")),
    ("A", "open", ts("2024-01-05 12:00:00")),  # opens are not touches (else: paid_search > email)
    ("B", "click", ts("2024-02-01 10:00:00")),
    ("C", "click", ts("2024-01-12 10:00:00")),
    ("D", "click", ts("2024-04-01 00:00:00")),  # after as_of
    *[("E", "click", ts(f"2024-03-{d:02d} 10:00:00")) for d in E_DAYS if d % 2 == 1],
]
ORDER_ROWS = [
    ("A", "oA1", "2024-01-07 12:00:00", "100.00"),
    ("A", "oA2", "2024-01-20 12:00:00", "30.00"),  # a1..a3 belong to oA1, not again to oA2
    ("B", "oB1", "2024-02-04 12:00:00", "50.00"),
    ("C", "oC1", "2024-03-21 12:00:00", "20.00"),  # no touch in (Feb 20 12:00, Mar 21 12:00]: no journey
    ("D", "oD1", "2024-04-02 10:00:00", "999.00"),  # after as_of: d1 stays open
    ("E", "oE1", "2024-03-10 10:00:00", "10.00"),
    ("F", "oF1", "2024-03-05 11:00:00", "70.00"),
]


def test_journeys_paths_outcomes_and_revenue(spark):
    web_df = web_of(spark, SESSIONS).unionByName(spark.createDataFrame([F_LOGIN], WEB))
    # Base built for a later day, so only journeys' own cut-off can drop D's order.
    sales_df = sales_of(spark, ORDER_ROWS, AS_OF + dt.timedelta(days=30))
    actual = journeys(web_df, spark.createDataFrame(CLICKS, EMAIL), sales_df, AS_OF)
    expected = spark.createDataFrame([
        # A: click, a1, a2 + a3 collapsed -> oA1 (100.00); B: click, b1, b2 -> oB1 (50.00): 2 journeys, 150.00
        ("email > paid_search > direct", 3, True, 2, Decimal("150.00"), AS_OF),
        ("email", 1, True, 1, Decimal("30.00"), AS_OF),  # A: a4 -> oA2
        ("affiliate", 1, True, 1, Decimal("70.00"), AS_OF),  # F
        # E: e d e d e d e d e (9 steps) -> the last 8
        (" > ".join(["direct", "email"] * 4), 8, True, 1, Decimal("10.00"), AS_OF),
        # C: Jan 10 social, Jan 12 click; 39 days to c2 (>= 30) starts a new run; c2 + 30 days is
        # Mar 21 12:00 <= Apr 1 00:00, so both runs are complete.
        ("social > email", 2, False, 1, Decimal("0.00"), AS_OF),
        ("direct", 1, False, 1, Decimal("0.00"), AS_OF),
    ], JOURNEYS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_journeys_keeps_the_last_max_steps(spark):
    web_df = web_of(spark, [s for s in SESSIONS if s[1] == "A"])
    clicks_df = spark.createDataFrame([c for c in CLICKS if c[0] == "A"], EMAIL)
    sales_df = sales_of(spark, [o for o in ORDER_ROWS if o[0] == "A"], AS_OF)
    actual = journeys(web_df, clicks_df, sales_df, AS_OF, max_steps=2)
    # email > paid_search > direct -> paid_search > direct; a4 stays 'email'.
    expected = spark.createDataFrame([
        ("paid_search > direct", 2, True, 1, Decimal("100.00"), AS_OF),
        ("email", 1, True, 1, Decimal("30.00"), AS_OF),
    ], JOURNEYS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


FUNNEL_SESSIONS = [
    ("s1", "A", [view("2024-03-10 10:00:00", "paid_search"), ("2024-03-10 10:01:00", "product_view", None),
                 ("2024-03-10 10:02:00", "add_to_cart", None), ("2024-03-10 10:03:00", "checkout", None)]),
    ("s2", "A", [view("2024-03-20 09:00:00"), ("2024-03-20 09:05:00", "product_view", None)]),
    ("s3", None, [view("2024-03-12 10:00:00", "paid_search")]),
    ("s4", "B", [("2024-03-15 10:00:00", "product_view", "paid_search"),
                 ("2024-03-15 10:01:00", "add_to_cart", None)]),
    ("s5", "C", [view("2024-03-18 10:00:00", "email")]),
    ("s6", "D", [view("2024-04-01 00:00:00", "email")]),  # after as_of
    ("s7", "A", [view("2024-03-31 23:59:59")]),
]
FUNNEL_ORDERS = [
    ("A", "o1", "2024-03-10 12:00:00", "80.00"),  # s1 purchased; before s2 started
    ("B", "o2", "2024-03-15 10:30:00", "-5.00"),  # a cancellation is no purchase
    ("B", "o3", "2024-03-16 10:01:01", "40.00"),  # 24 h + 1 s after s4's last event
    ("C", "o4", "2024-03-19 10:00:00", "25.00"),  # exactly 24 h after s5: purchased, without checkout
]
# (channel, segment, [sessions reaching steps 1..5])
NO_SEGMENTS = [
    ("paid_search", "all", [3, 2, 2, 1, 1]),  # s1 -> 5, s3 -> 1, s4 -> 3
    ("direct", "all", [2, 1, 0, 0, 0]),  # s2 -> 2, s7 -> 1
    ("email", "all", [1, 1, 1, 1, 1]),  # s5 -> 5
]
WITH_SEGMENTS = [
    ("paid_search", "vip", [1, 1, 1, 1, 1]),  # s1
    ("paid_search", "unknown", [2, 1, 1, 0, 0]),  # s3 (anonymous) -> 1, s4 (B, no segment) -> 3
    ("direct", "vip", [2, 1, 0, 0, 0]),
    ("email", "new", [1, 1, 1, 1, 1]),
]


def funnel_rows(groups):
    """Expected rows; the ratios are divided out by hand in ``RATIOS``."""
    return [(channel, segment, step, k + 1, reaching[k], *RATIOS[tuple(reaching)][k], AS_OF)
            for channel, segment, reaching in groups
            for k, step in enumerate(("visit", "product_view", "add_to_cart", "checkout", "purchase"))]


# reaching -> [(from previous, from visit)] per step; 0/0 is null.
RATIOS = {
    (3, 2, 2, 1, 1): [(None, 1.0), (2 / 3, 2 / 3), (1.0, 2 / 3), (0.5, 1 / 3), (1.0, 1 / 3)],
    (2, 1, 0, 0, 0): [(None, 1.0), (0.5, 0.5), (0.0, 0.0), (None, 0.0), (None, 0.0)],
    (1, 1, 1, 1, 1): [(None, 1.0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0)],
    (2, 1, 1, 0, 0): [(None, 1.0), (0.5, 0.5), (1.0, 0.5), (0.0, 0.0), (None, 0.0)],
}


def test_funnel_counts_furthest_steps_by_channel(spark):
    web_df = web_of(spark, FUNNEL_SESSIONS)
    sales_df = sales_of(spark, FUNNEL_ORDERS, AS_OF)
    actual = funnel(web_df, sales_df, AS_OF)
    expected = spark.createDataFrame(funnel_rows(NO_SEGMENTS), FUNNEL)
    assert_approx_df_equality(actual, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_funnel_splits_by_segment_with_unknown(spark):
    web_df = web_of(spark, FUNNEL_SESSIONS)
    sales_df = sales_of(spark, FUNNEL_ORDERS, AS_OF)
    segments_df = spark.createDataFrame([("A", "vip"), ("C", "new"), ("Z", "vip")],
                                        "customer_id string, segment string")
    actual = funnel(web_df, sales_df, AS_OF, segments_df)
    expected = spark.createDataFrame(funnel_rows(WITH_SEGMENTS), FUNNEL)
    assert_approx_df_equality(actual, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)
