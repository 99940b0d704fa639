"""order_revenue: revenue from lines (cancellations subtract), the total for orders without lines,
purchases, UTC order dates at the day boundary, and the as_of cut-off."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from crm_spark.gold.sales import order_revenue

AS_OF = dt.date(2024, 2, 1)
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
LINES = "channel string, order_id string, line_no int, amount decimal(16,3)"
SALES = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
         "order_date date, revenue decimal(18,2), is_purchase boolean")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


ORDER_ROWS = [
    ("C1", "web", "web", "W1", ts("2024-01-31 23:59:59"), money("999.00")),  # lines win over total
    ("C1", "web", "web", "W2", ts("2024-02-01 00:00:00"), None),
    ("C2", "store", "store", "X1", ts("2024-01-15 12:00:00"), money("-15.00")),
    ("C3", "web", "web", "X1", ts("2024-01-20 08:00:00"), money("40.00")),  # same id, other channel
    (None, "web", "web", "W3", ts("2024-01-10 10:00:00"), money("12.50")),  # guest, no lines
    ("C4", "web", "app", "W4", ts("2024-01-11 10:00:00"), None),  # no lines, no total
]
FUTURE_ORDER = [("C1", "web", "web", "W5", ts("2024-02-02 00:00:00"), money("100.00"))]
LINE_ROWS = [
    ("web", "W1", 1, money("20.000")),  # 2 x 10.000
    ("web", "W1", 2, money("5.125")),  # 1 x 5.125
    ("web", "W2", 1, money("30.000")),  # 3 x 10.000
    ("web", "W2", 2, money("-10.000")),  # -1 x 10.000: a cancelled unit
    ("store", "X1", 1, money("-15.000")),  # a return invoice: -2 x 7.500
    ("web", "X1", 1, money("7.500")),
    ("web", "W9", 1, money("50.000")),  # orphan line: no order header
]
FUTURE_LINES = [("web", "W5", 1, money("100.000"))]


def sales_of(spark, orders, lines):
    return order_revenue(spark.createDataFrame(orders, ORDERS), spark.createDataFrame(lines, LINES), AS_OF)


def test_order_revenue_sums_lines_and_flags_purchases(spark):
    actual = sales_of(spark, ORDER_ROWS + FUTURE_ORDER, LINE_ROWS + FUTURE_LINES)
    expected = spark.createDataFrame([
        # 20.000 + 5.125 = 25.125 -> 25.13 (half up, once per order); the 999.00 total is ignored.
        ("C1", "web", "web", "W1", ts("2024-01-31 23:59:59"), dt.date(2024, 1, 31), money("25.13"), True),
        # 30.000 - 10.000 = 20.00: the cancellation line reduces revenue; 00:00:00 is the next day.
        ("C1", "web", "web", "W2", ts("2024-02-01 00:00:00"), dt.date(2024, 2, 1), money("20.00"), True),
        # -15.00 <= 0: revenue, but not a purchase.
        ("C2", "store", "store", "X1", ts("2024-01-15 12:00:00"), dt.date(2024, 1, 15), money("-15.00"),
         False),
        # joined on (channel, order_id): the store's X1 line does not leak into the web's X1.
        ("C3", "web", "web", "X1", ts("2024-01-20 08:00:00"), dt.date(2024, 1, 20), money("7.50"), True),
        # no lines: the total; no lines and no total: 0.00, not a purchase.
        (None, "web", "web", "W3", ts("2024-01-10 10:00:00"), dt.date(2024, 1, 10), money("12.50"), True),
        ("C4", "web", "app", "W4", ts("2024-01-11 10:00:00"), dt.date(2024, 1, 11), money("0.00"), False),
        # W5 (2024-02-02 00:00:00) is after as_of + 1 day and the orphan line W9 has no order.
    ], SALES)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_order_revenue_ignores_orders_after_as_of(spark):
    with_future = sales_of(spark, ORDER_ROWS + FUTURE_ORDER, LINE_ROWS + FUTURE_LINES)
    without_future = sales_of(spark, ORDER_ROWS, LINE_ROWS)
    assert_df_equality(with_future, without_future, ignore_row_order=True, ignore_nullable=True)


def test_order_dates_are_utc_whatever_the_session_time_zone(spark):
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        # In Los Angeles both orders fall on 2024-01-31 (15:59:59 and 16:00:00 local time).
        actual = sales_of(spark, ORDER_ROWS[:2], LINE_ROWS).select("order_id", "order_date")
        expected = spark.createDataFrame(
            [("W1", dt.date(2024, 1, 31)), ("W2", dt.date(2024, 2, 1))], "order_id string, order_date date")
        assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
