"""kpi_daily / kpi_monthly per channel view, rolling-window churn, campaign cost and CAC, as_of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from crm_spark.gold.kpis import cac_by_channel, kpi_daily, kpi_monthly
from crm_spark.gold.sales import order_revenue

ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
NO_LINES = "channel string, order_id string, amount decimal(16,3)"
KPI_COLUMNS = ("channel string, revenue decimal(18,2), orders long, active_customers long, "
               "new_customers long, returning_customers long, average_order_value decimal(18,2), "
               "repeat_purchase_rate double, "
               "customers_at_start long, churned_customers long, churn_rate double, retention_rate double, "
               "marketing_cost decimal(18,2), cac decimal(18,2), as_of date")
CAMPAIGNS = "campaign_id string, channel string, start_date date, end_date date, cost decimal(14,2)"


def sales_of(spark, rows, as_of):
    """The sales base of orders without lines: each order's revenue is its total."""
    orders = [(c, ch, ch, o, dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC), Decimal(v))
              for c, ch, o, t, v in rows]
    return order_revenue(spark.createDataFrame(orders, ORDERS), spark.createDataFrame([], NO_LINES), as_of)


def money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def expected_kpis(spark, period_column: str, as_of: dt.date, rows):
    """Rows of period, channel, revenue, orders, active, new, returning, aov, repeat rate, at start,
    churned, churn rate, retention rate, marketing cost, cac; amounts as text."""
    typed = [(period, ch, money(rev), *counts, money(aov), rep, start, churned, churn, keep, money(cost),
              money(cac), as_of)
             for period, ch, rev, *counts, aov, rep, start, churned, churn, keep, cost, cac in rows]
    return spark.createDataFrame(typed, f"{period_column} date, " + KPI_COLUMNS)


# Daily, churn window W = 2 days: a purchase on day p keeps its customer active on p and p + 1.
DAY_AS_OF = dt.date(2024, 2, 2)
DAY_ROWS = [
    ("A", "web", "k1", "2024-01-30 10:00:00", "50.00"),
    ("A", "store", "k2", "2024-01-31 23:59:59", "30.00"),  # still Jan 31
    ("B", "web", "k3", "2024-02-01 00:00:00", "20.00"),  # already Feb 1
    ("B", "web", "k4", "2024-02-01 12:00:00", "-5.00"),  # cancellation: revenue, not an order
    (None, "web", "k5", "2024-02-02 09:00:00", "10.00"),  # guest: revenue and orders only
]
DAY_FUTURE = [("C", "app", "k6", "2024-02-03 00:00:00", "100.00")]  # would add 'app' rows


def expected_daily(spark):
    d30, d31, f1, f2 = (dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 2))
    rows = [
        # all: A active Jan 30-Feb 1 (last purchase Jan 31) and inactive from Feb 2; B active from Feb 1.
        (d30, "all", "50.00", 1, 1, 1, 0, "50.00", 0.0, 0, 0, None, None, None, None),
        # A's 2nd purchase: returning, and 2 purchases to date -> repeat 1/1.
        (d31, "all", "30.00", 1, 1, 0, 1, "30.00", 1.0, 1, 0, 0.0, 1.0, None, None),
        # 20 - 5 = 15 revenue; AOV over the purchase only: 20 / 1.
        (f1, "all", "15.00", 1, 1, 1, 0, "20.00", 0.0, 1, 0, 0.0, 1.0, None, None),
        # At start (active Feb 1): A, B; A becomes inactive on Feb 2 -> 1 / 2.
        (f2, "all", "10.00", 1, 0, 0, 0, "10.00", None, 2, 1, 0.5, 0.5, None, None),
        # web: A only bought on Jan 30 here, so A is inactive in web from Feb 1.
        (d30, "web", "50.00", 1, 1, 1, 0, "50.00", 0.0, 0, 0, None, None, None, None),
        (d31, "web", "0.00", 0, 0, 0, 0, None, None, 1, 0, 0.0, 1.0, None, None),
        (f1, "web", "15.00", 1, 1, 1, 0, "20.00", 0.0, 1, 1, 1.0, 0.0, None, None),
        (f2, "web", "10.00", 1, 0, 0, 0, "10.00", None, 1, 0, 0.0, 1.0, None, None),
        # store: A is new to the store on Jan 31, active Jan 31-Feb 1, inactive from Feb 2.
        (d30, "store", "0.00", 0, 0, 0, 0, None, None, 0, 0, None, None, None, None),
        (d31, "store", "30.00", 1, 1, 1, 0, "30.00", 0.0, 0, 0, None, None, None, None),
        (f1, "store", "0.00", 0, 0, 0, 0, None, None, 1, 0, 0.0, 1.0, None, None),
        (f2, "store", "0.00", 0, 0, 0, 0, None, None, 1, 1, 1.0, 0.0, None, None),
    ]
    return expected_kpis(spark, "date", DAY_AS_OF, rows)


def test_kpi_daily_per_channel_view(spark):
    actual = kpi_daily(sales_of(spark, DAY_ROWS, DAY_AS_OF), DAY_AS_OF, churn_window_days=2)
    assert_df_equality(actual, expected_daily(spark), ignore_row_order=True, ignore_nullable=True)


def test_kpi_daily_ignores_orders_after_as_of(spark):
    later_base = sales_of(spark, DAY_ROWS + DAY_FUTURE, DAY_AS_OF + dt.timedelta(days=30))
    actual = kpi_daily(later_base, DAY_AS_OF, churn_window_days=2)
    assert_df_equality(actual, expected_daily(spark), ignore_row_order=True, ignore_nullable=True)


# Monthly, churn window W = 30 days.
MONTH_AS_OF = dt.date(2024, 3, 10)
MONTH_ROWS = [
    ("A", "web", "m1", "2024-01-15 12:00:00", "100.00"),
    ("A", "web", "m2", "2024-01-31 23:59:59", "50.00"),  # January
    ("B", "store", "m3", "2024-02-01 00:00:00", "80.00"),  # February
    ("B", "web", "m4", "2024-02-10 12:00:00", "-20.00"),
    ("A", "store", "m5", "2024-03-05 12:00:00", "40.00"),
]
MONTH_FUTURE = [("C", "app", "m6", "2024-03-11 00:00:00", "999.00")]
CAMPAIGN_ROWS = [
    # 100.00 over Jan 31 - Feb 2: 33.333... a day -> January 33.33, February 66.67.
    ("EM1", "email", dt.date(2024, 1, 31), dt.date(2024, 2, 2), money("100.00")),
    # 200.00 over Mar 1 - 20: 10.00 a day, of which Mar 1 - 10 are spent by as_of -> 100.00.
    ("PD1", "paid_search", dt.date(2024, 3, 1), dt.date(2024, 3, 20), money("200.00")),
    # No end date: a one-day campaign.
    ("SO1", "social", dt.date(2024, 2, 15), None, money("5.00")),
]


def expected_monthly(spark):
    jan, feb, mar = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
    rows = [
        # all: A's spell Jan 15 - Jan 31 ends on Mar 1 (Jan 31 + 30; Mar 5 is 34 days later), B's
        # (Feb 1) on Mar 2: both were active on Feb 29 -> 2 / 2 churned, A's comeback on Mar 5
        # does not undo it. CAC: Jan 33.33 / 1 (A), Feb (66.67 + 5.00) / 1 (B), Mar no new customer.
        (jan, "all", "150.00", 2, 1, 1, 0, "75.00", 1.0, 0, 0, None, None, "33.33", "33.33"),
        (feb, "all", "60.00", 1, 1, 1, 0, "80.00", 0.0, 1, 0, 0.0, 1.0, "71.67", "71.67"),
        (mar, "all", "40.00", 1, 1, 0, 1, "40.00", 1.0, 2, 2, 1.0, 0.0, "100.00", None),
        # web: A only (B's web order is a cancellation); A's web spell ends Mar 1.
        (jan, "web", "150.00", 2, 1, 1, 0, "75.00", 1.0, 0, 0, None, None, None, None),
        (feb, "web", "-20.00", 0, 0, 0, 0, None, None, 1, 0, 0.0, 1.0, None, None),
        (mar, "web", "0.00", 0, 0, 0, 0, None, None, 1, 1, 1.0, 0.0, None, None),
        # store: B (Feb 1, ends Mar 2); A is new to the store in March.
        (jan, "store", "0.00", 0, 0, 0, 0, None, None, 0, 0, None, None, None, None),
        (feb, "store", "80.00", 1, 1, 1, 0, "80.00", 0.0, 0, 0, None, None, None, None),
        (mar, "store", "40.00", 1, 1, 1, 0, "40.00", 0.0, 1, 1, 1.0, 0.0, None, None),
    ]
    return expected_kpis(spark, "month", MONTH_AS_OF, rows)


def test_kpi_monthly_with_rolling_churn_and_blended_cac(spark):
    campaigns_df = spark.createDataFrame(CAMPAIGN_ROWS, CAMPAIGNS)
    actual = kpi_monthly(sales_of(spark, MONTH_ROWS, MONTH_AS_OF), MONTH_AS_OF, 30, campaigns_df)
    assert_df_equality(actual, expected_monthly(spark), ignore_row_order=True, ignore_nullable=True)


def test_kpi_monthly_ignores_orders_after_as_of(spark):
    campaigns_df = spark.createDataFrame(CAMPAIGN_ROWS, CAMPAIGNS)
    later_base = sales_of(spark, MONTH_ROWS + MONTH_FUTURE, MONTH_AS_OF + dt.timedelta(days=30))
    actual = kpi_monthly(later_base, MONTH_AS_OF, 30, campaigns_df)
    assert_df_equality(actual, expected_monthly(spark), ignore_row_order=True, ignore_nullable=True)


def test_cac_by_marketing_channel(spark):
    campaigns_df = spark.createDataFrame(CAMPAIGN_ROWS, CAMPAIGNS)
    # C's first purchase is after as_of and Z never bought: neither is acquired yet.
    attributed_df = spark.createDataFrame(
        [("A", "email"), ("B", "paid_search"), ("C", "email"), ("Z", "social")],
        "customer_id string, channel string")
    later_base = sales_of(spark, MONTH_ROWS + MONTH_FUTURE, MONTH_AS_OF + dt.timedelta(days=30))
    actual = cac_by_channel(later_base, attributed_df, campaigns_df, MONTH_AS_OF, grain="month")
    jan, feb, mar = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
    expected = spark.createDataFrame([
        (jan, "email", money("33.33"), 1, money("33.33"), MONTH_AS_OF),  # A's first purchase: Jan 15
        (feb, "email", money("66.67"), 0, None, MONTH_AS_OF),
        (feb, "social", money("5.00"), 0, None, MONTH_AS_OF),
        (feb, "paid_search", money("0.00"), 1, money("0.00"), MONTH_AS_OF),  # B: Feb 1, before PD1 ran
        (mar, "paid_search", money("100.00"), 0, None, MONTH_AS_OF),
    ], "month date, channel string, marketing_cost decimal(18,2), new_customers long, cac decimal(18,2), "
       "as_of date")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_kpis_reject_a_bad_window_or_grain():
    with pytest.raises(ValueError, match="churn_window_days"):
        kpi_monthly(None, MONTH_AS_OF, churn_window_days=0)
    with pytest.raises(ValueError, match="grain"):
        cac_by_channel(None, None, None, MONTH_AS_OF, grain="week")
