"""Order revenue: the one base every gold table is built from.

The project's revenue definition: an order's revenue is the sum of its lines' ``amount``
(negative quantities are cancellations and returns and reduce it), rounded half up to the cent
once per order. A *purchase* is an order with revenue > 0; orders with revenue <= 0 still count
in revenue totals. Orders without ``customer_id`` (guests) are kept here; customer metrics drop
them downstream. An order's date is its UTC calendar date, and ``as_of`` keeps only orders with
``order_ts < as_of + 1 day`` (UTC).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MONEY = "decimal(18,2)"
# what the customer tables and models leave out of the sales, with why (D62)
GUEST_ORDERS = "orders without a customer"
GUEST_ORDERS_WHY = "guest checkouts, or a customer_ref that no contact source holds"
NO_PURCHASE = "customers without a purchase"
NO_PURCHASE_WHY = "every order of theirs has revenue <= 0 (zero-valued or cancelled)"
SECONDS_PER_DAY = 86_400


def utc_date(column: str) -> Column:
    """The UTC calendar date of a timestamp column, whatever the session time zone."""
    # to_date() follows spark.sql.session.timeZone; whole days since the epoch do not, so a
    # notebook session in another zone still books 23:59:59 UTC on the right day.
    days = F.floor(F.unix_seconds(F.col(column)) / SECONDS_PER_DAY).cast("int")
    return F.date_from_unix_date(days)


def filter_as_of(sales_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Keep the orders of ``order_revenue`` dated on or before ``as_of``.

    Every gold table applies it again so that a base built for a later date cannot leak
    later orders into an earlier snapshot.

    Args:
        sales_df: requires ``order_date``.
        as_of: last day included.

    Returns:
        ``sales_df`` with rows where ``order_date <= as_of``.
    """
    return sales_df.filter(F.col("order_date") <= F.lit(as_of))


def order_revenue(orders_df: DataFrame, lines_df: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per order up to ``as_of`` with its revenue and whether it is a purchase.

    Orders without any line take their revenue from ``total`` (the source's own header
    amount), or 0 when that is null too: a header without lines still happened, and 0 keeps
    it out of the purchases without inventing money. Lines without an order header are
    dropped (they carry no timestamp, so ``as_of`` cannot place them). Orders without
    ``order_ts`` are dropped for the same reason. ``status`` is not used: returns arrive as
    negative lines.

    Args:
        orders_df: silver.orders; requires ``customer_id, channel, sales_channel, order_id,
            order_ts, total``; key (channel, order_id).
        lines_df: silver.order_lines; requires ``channel, order_id, amount``.
        as_of: last UTC day included.

    Returns:
        ``customer_id, channel, sales_channel, order_id, order_ts, order_date`` (DATE, UTC),
        ``revenue`` (DECIMAL(18,2)), ``is_purchase`` (revenue > 0).
    """
    line_totals_df = lines_df.groupBy("channel", "order_id").agg(F.sum("amount").alias("line_total"))
    dated_df = orders_df.withColumn("order_date", utc_date("order_ts")).transform(
        lambda df: filter_as_of(df, as_of))
    joined_df = dated_df.alias("o").join(
        line_totals_df.alias("l"),
        on=(F.col("o.channel") == F.col("l.channel")) & (F.col("o.order_id") == F.col("l.order_id")),
        how="left",
    )
    revenue = F.coalesce(F.col("l.line_total"), F.col("o.total"), F.lit(0)).cast(MONEY)
    return joined_df.select(
        F.col("o.customer_id").alias("customer_id"),
        F.col("o.channel").alias("channel"),
        F.col("o.sales_channel").alias("sales_channel"),
        F.col("o.order_id").alias("order_id"),
        F.col("o.order_ts").alias("order_ts"),
        F.col("o.order_date").alias("order_date"),
        revenue.alias("revenue"),
        (revenue > 0).alias("is_purchase"),
    )


def customer_exclusions(sales_df: DataFrame, as_of: dt.date) -> tuple[int, int]:
    """What the customer tables leave out of ``sales_df`` up to ``as_of`` (one Spark job).

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, order_date, is_purchase``.

    Returns:
        (orders without ``customer_id`` — guests, or a ``customer_ref`` no contact holds —,
        customers whose every order has revenue <= 0: they have orders but no purchase).
    """
    per_customer_df = filter_as_of(sales_df, as_of).groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("orders"), F.max("is_purchase").alias("has_purchase"))
    row = per_customer_df.agg(
        F.sum(F.when(F.col("customer_id").isNull(), F.col("orders"))).alias("guest_orders"),
        F.count(F.when(F.col("customer_id").isNotNull() & ~F.col("has_purchase"), 1)).alias("no_purchase"),
    ).collect()[0]
    return int(row["guest_orders"] or 0), int(row["no_purchase"] or 0)


def with_first_seen_by_orders(customers_df: DataFrame, sales_df: DataFrame) -> DataFrame:
    """``first_seen_at`` made the earlier of the golden record's and the customer's first order.

    A contact source built from an order export (one row per order, ``created_at`` the order's
    day) keeps each record's latest row, so its ``first_seen_at`` is the customer's *last*
    order: every customer still buying would count as unknown at a past as_of and drop out of
    customer 360, the features and churn labels without a word (D63). A customer who
    ordered is known.

    Args:
        customers_df: requires ``customer_id, first_seen_at``.
        sales_df: requires ``customer_id, order_ts``.

    Returns:
        ``customers_df`` with ``first_seen_at`` replaced.
    """
    first_orders_df = (sales_df.filter(F.col("customer_id").isNotNull()).groupBy("customer_id")
                       .agg(F.min("order_ts").alias("_first_order_at")))
    return (customers_df.join(first_orders_df, on="customer_id", how="left")
            .withColumn("first_seen_at", F.least("first_seen_at", "_first_order_at"))
            .drop("_first_order_at"))
