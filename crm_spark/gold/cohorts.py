"""Monthly acquisition cohorts: how many of a month's new customers buy again, and what they spend.

A customer's cohort is the calendar month (UTC) of their first purchase (an order with revenue
> 0). Every cohort gets one row per month from its own month up to ``as_of``'s month, with
zeros where nobody bought, so a chart never skips a month. Guests have no cohort.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.gold.sales import MONEY, filter_as_of


def _month_number(column: Column) -> Column:
    """Months since year 0, so that the difference of two dates counts calendar months."""
    return F.year(column) * 12 + F.month(column)


def cohort_retention(sales_df: DataFrame, as_of: dt.date) -> DataFrame:
    """gold.cohort_retention: one row per cohort month and month since acquisition.

    ``active_customers`` counts the cohort's customers with a purchase in that month;
    ``revenue`` is the net revenue of all their orders that month (cancellations included).
    Orders a customer placed before their cohort month (e.g. a refund of something bought
    before the data starts) are left out: they belong to no month of the cohort.

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, order_date, revenue,
            is_purchase``.
        as_of: last day included; the last month is ``as_of``'s month (possibly partial).

    Returns:
        ``cohort_month`` (DATE, first of month), ``months_since`` (INT, 0 = the cohort month),
        ``cohort_size`` (LONG), ``active_customers`` (LONG), ``retention_rate`` (DOUBLE,
        active_customers / cohort_size), ``revenue`` (DECIMAL(18,2)),
        ``cumulative_revenue_per_customer`` (DECIMAL(18,2), revenue from month 0 to this month
        / cohort_size), ``as_of`` (DATE).
    """
    customer_sales_df = filter_as_of(sales_df, as_of).filter(F.col("customer_id").isNotNull())
    members_df = (
        customer_sales_df.filter(F.col("is_purchase"))
        .groupBy("customer_id")
        .agg(F.trunc(F.min("order_date"), "month").alias("cohort_month"))
    )
    last_month = _month_number(F.lit(as_of))
    grid_df = (
        members_df.groupBy("cohort_month")
        .agg(F.count(F.lit(1)).alias("cohort_size"))
        .withColumn("months_since", F.explode(F.sequence(
            F.lit(0), (last_month - _month_number(F.col("cohort_month"))).cast("int"))))
    )
    activity_df = (
        customer_sales_df.alias("s")
        .join(members_df.alias("m"), on="customer_id", how="inner")
        .withColumn("months_since", (_month_number(F.col("s.order_date"))
                                     - _month_number(F.col("m.cohort_month"))).cast("int"))
        .filter(F.col("months_since") >= 0)
        .groupBy("cohort_month", "months_since")
        .agg(
            F.countDistinct(F.when(F.col("is_purchase"), F.col("customer_id"))).alias("active_customers"),
            F.sum("revenue").alias("revenue"),
        )
    )
    up_to_month = (Window.partitionBy("cohort_month").orderBy("months_since")
                   .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    cohorts_df = (
        grid_df.alias("g")
        .join(activity_df.alias("a"), on=["cohort_month", "months_since"], how="left")
        .withColumn("active_customers", F.coalesce(F.col("active_customers"), F.lit(0)))
        .withColumn("revenue", F.coalesce(F.col("revenue"), F.lit(0)).cast(MONEY))
        .withColumn("cumulative_revenue", F.sum("revenue").over(up_to_month))
    )
    return cohorts_df.select(
        "cohort_month",
        "months_since",
        F.col("cohort_size").cast("long").alias("cohort_size"),
        F.col("active_customers").cast("long").alias("active_customers"),
        (F.col("active_customers") / F.col("cohort_size")).cast("double").alias("retention_rate"),
        "revenue",
        (F.col("cumulative_revenue") / F.col("cohort_size")).cast(MONEY)
        .alias("cumulative_revenue_per_customer"),
        F.lit(as_of).alias("as_of"),
    )
