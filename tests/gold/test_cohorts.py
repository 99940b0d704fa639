"""cohort_retention: cohorts by first purchase month, gap-free months, net revenue, as_of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from crm_spark.gold.cohorts import cohort_retention
from crm_spark.gold.sales import order_revenue

AS_OF = dt.date(2024, 3, 15)
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
NO_LINES = "channel string, order_id string, amount decimal(16,3)"
COHORTS = ("cohort_month date, months_since int, cohort_size long, active_customers long, "
           "retention_rate double, revenue decimal(18,2), cumulative_revenue_per_customer decimal(18,2), "
           "as_of date")


def sales_of(spark, rows, as_of):
    """The sales base of orders without lines: each order's revenue is its total."""
    orders = [(c, "web", "web", o, dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC), Decimal(v))
              for c, o, t, v in rows]
    return order_revenue(spark.createDataFrame(orders, ORDERS), spark.createDataFrame([], NO_LINES), as_of)


ROWS = [
    ("A", "a1", "2024-01-31 23:59:59", "100.00"),  # still January: A is in the January cohort
    ("A", "a2", "2024-02-01 00:00:00", "50.00"),  # already February: month 1
    ("A", "a3", "2024-02-10 12:00:00", "-30.00"),  # cancellation: February revenue, not activity
    ("B", "b1", "2024-01-05 12:00:00", "40.00"),  # one order only
    ("C", "c1", "2024-02-20 12:00:00", "80.00"),
    ("C", "c2", "2024-03-15 23:59:59", "20.00"),  # last second of as_of: included
    ("D", "d1", "2024-01-20 12:00:00", "-10.00"),  # never purchased: no cohort
    ("E", "e1", "2024-03-01 12:00:00", "0.00"),  # revenue 0 is not a purchase ...
    ("E", "e2", "2024-03-02 12:00:00", "60.00"),  # ... so E's cohort is March by this one
    ("F", "f1", "2024-01-20 12:00:00", "-10.00"),  # before F's cohort month: left out
    ("F", "f2", "2024-02-05 12:00:00", "30.00"),
    (None, "g1", "2024-01-10 12:00:00", "500.00"),  # guest: no cohort
]
FUTURE = [("A", "a4", "2024-03-16 00:00:00", "1000.00")]

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
EXPECTED = [
    # January: A, B. Revenue 100 + 40 = 140 -> 140 / 2 = 70; Feb: A 50 - 30 = 20 -> (140 + 20) / 2 = 80;
    # March: nobody buys, the row is still there.
    (JAN, 0, 2, 2, 1.0, Decimal("140.00"), Decimal("70.00"), AS_OF),
    (JAN, 1, 2, 1, 0.5, Decimal("20.00"), Decimal("80.00"), AS_OF),
    (JAN, 2, 2, 0, 0.0, Decimal("0.00"), Decimal("80.00"), AS_OF),
    # February: C, F. 80 + 30 = 110 -> 55; March: C 20 -> (110 + 20) / 2 = 65.
    (FEB, 0, 2, 2, 1.0, Decimal("110.00"), Decimal("55.00"), AS_OF),
    (FEB, 1, 2, 1, 0.5, Decimal("20.00"), Decimal("65.00"), AS_OF),
    # March: E. 0 + 60 = 60.
    (MAR, 0, 1, 1, 1.0, Decimal("60.00"), Decimal("60.00"), AS_OF),
]


def test_cohort_retention_by_first_purchase_month(spark):
    actual = cohort_retention(sales_of(spark, ROWS, AS_OF), AS_OF)
    assert_df_equality(actual, spark.createDataFrame(EXPECTED, COHORTS), ignore_row_order=True,
                       ignore_nullable=True)


def test_cohort_retention_ignores_orders_after_as_of(spark):
    # The base is built for a later day, so only cohort_retention's own cut-off can drop a4.
    later_base = sales_of(spark, ROWS + FUTURE, AS_OF + dt.timedelta(days=30))
    actual = cohort_retention(later_base, AS_OF)
    assert_df_equality(actual, spark.createDataFrame(EXPECTED, COHORTS), ignore_row_order=True,
                       ignore_nullable=True)
