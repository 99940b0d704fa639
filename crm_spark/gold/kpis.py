"""Daily and monthly KPIs per sales channel, and customer acquisition cost per marketing channel.

Each KPI row is one period (UTC day or calendar month) and one *channel view*: ``'all'`` (every
order) or one sales channel (only that channel's orders, as if it were a business of its own, so
"new" there means new to that channel). Periods run without gaps from the first order's period
to ``as_of``'s period.

Definitions, per period and view:
- ``revenue``: net revenue of all orders, guests and cancellations included.
- ``orders``: purchases (orders with revenue > 0), guests included; ``average_order_value`` is
  the purchases' revenue / ``orders``.
- ``active_customers``: customers with a purchase in the period; ``new_customers`` those whose
  first purchase in the view is in the period; ``returning_customers`` = active - new.
- ``repeat_purchase_rate``: share of active customers whose purchases in the view, counted up to
  the period's end, number at least 2.
- Churn: a customer is *active on a day* while their last purchase is less than
  ``churn_window_days`` days old (a purchase on day p keeps them active on p .. p + W - 1).
  ``customers_at_start`` are those active on the day before the period; ``churned_customers``
  those of them who become inactive on some day within the period (buying again later in the
  period does not undo it); ``churn_rate`` = churned / at start, ``retention_rate`` = 1 - churn.
- ``marketing_cost`` and ``cac`` (blended: all campaign cost / new customers) on the ``'all'``
  rows when campaigns are given; campaign cost is spread evenly over its days, and days after
  ``as_of`` are not spent yet. ``cac_by_channel`` splits it by marketing channel.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.gold.sales import MONEY, filter_as_of

ALL = "all"
GRAINS = {"day": "date", "month": "month"}


def _period(column: str | Column, grain: str) -> Column:
    column = F.col(column) if isinstance(column, str) else column
    return column if grain == "day" else F.trunc(column, "month")


def _explode_views(sales_df: DataFrame) -> DataFrame:
    """Each order twice: under ``'all'`` and under its sales channel (``kpi_channel``)."""
    sales_channel = F.coalesce(F.col("sales_channel"), F.col("channel"))
    return sales_df.withColumn("kpi_channel", F.explode(F.array(F.lit(ALL), sales_channel)))


def _period_grid(views_df: DataFrame, as_of: dt.date, grain: str) -> DataFrame:
    """Every (kpi_channel, period) from the first order's period to as_of's period."""
    periods = F.sequence(_period("first_date", grain), _period(F.lit(as_of), grain),
                         F.expr(f"INTERVAL 1 {grain.upper()}"))
    first_df = views_df.agg(F.min("order_date").alias("first_date"))
    periods_df = first_df.select(F.explode(periods).alias("period"))
    channels_df = views_df.select("kpi_channel").distinct()
    return channels_df.crossJoin(periods_df)


def _customer_periods(purchases_df: DataFrame) -> DataFrame:
    """Active, new and repeat customers per (kpi_channel, period) from customer purchases."""
    by_customer = Window.partitionBy("kpi_channel", "customer_id").orderBy("period")
    ever = by_customer.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    to_date = by_customer.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return (
        purchases_df.groupBy("kpi_channel", "customer_id", "period")
        .agg(F.count(F.lit(1)).alias("purchases"))
        .withColumn("is_new", F.col("period") == F.min("period").over(ever))
        .withColumn("is_repeat", F.sum("purchases").over(to_date) >= 2)
        .groupBy("kpi_channel", "period")
        .agg(
            F.count(F.lit(1)).alias("active_customers"),
            F.count(F.when(F.col("is_new"), F.lit(1))).alias("new_customers"),
            F.count(F.when(F.col("is_repeat"), F.lit(1))).alias("repeat_customers"),
        )
    )


def _churn_events(purchases_df: DataFrame, as_of: dt.date, grain: str, window_days: int) -> DataFrame:
    """Per (kpi_channel, period): activity spells started and ended, and churned customers.

    A spell is a run of purchases less than ``window_days + 1`` days apart; it ends on the day
    its last purchase turns ``window_days`` old. Ends after ``as_of`` have not happened yet.
    """
    by_day = Window.partitionBy("kpi_channel", "customer_id").orderBy("order_date")
    gap_before = F.datediff(F.col("order_date"), F.lag("order_date").over(by_day))
    gap_after = F.datediff(F.lead("order_date").over(by_day), F.col("order_date"))
    spells_df = (
        purchases_df.select("kpi_channel", "customer_id", "order_date").distinct()
        .withColumn("is_start", F.coalesce(gap_before > window_days, F.lit(True)))
        .withColumn("ended_on", F.when(F.coalesce(gap_after > window_days, F.lit(True)),
                                       F.date_add(F.col("order_date"), window_days)))
        .withColumn("spell_start", F.max(F.when(F.col("is_start"), F.col("order_date"))).over(
            by_day.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    )
    started_df = (
        spells_df.filter(F.col("is_start"))
        .groupBy("kpi_channel", _period("order_date", grain).alias("period"))
        .agg(F.count(F.lit(1)).alias("spells_started"))
    )
    ended_df = (
        spells_df.filter(F.col("ended_on") <= F.lit(as_of))
        .groupBy("kpi_channel", _period("ended_on", grain).alias("period"))
        .agg(
            F.count(F.lit(1)).alias("spells_ended"),
            F.count(F.when(_period("spell_start", grain) < _period("ended_on", grain), F.lit(1)))
            .alias("churned_customers"),
        )
    )
    return started_df.join(ended_df, on=["kpi_channel", "period"], how="full")


def campaign_daily_cost(campaigns_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Each campaign's cost spread evenly over its days, up to ``as_of``.

    Args:
        campaigns_df: silver.campaigns; requires ``campaign_id, channel, start_date, end_date,
            cost``. A null ``end_date`` (or one before the start) means a one-day campaign;
            campaigns without ``start_date`` or ``cost`` are ignored.
        as_of: last day included.

    Returns:
        ``campaign_id, channel, cost_date`` (DATE), ``cost`` (DECIMAL, unrounded share).
    """
    end_date = F.greatest(F.col("start_date"), F.coalesce(F.col("end_date"), F.col("start_date")))
    return (
        campaigns_df.filter(F.col("start_date").isNotNull() & F.col("cost").isNotNull())
        .withColumn("days", F.datediff(end_date, F.col("start_date")) + 1)
        .withColumn("cost_date", F.explode(F.sequence(F.col("start_date"), end_date)))
        .filter(F.col("cost_date") <= F.lit(as_of))
        .select("campaign_id", "channel", "cost_date", (F.col("cost") / F.col("days")).alias("cost"))
    )


def _money_per(amount: Column, count: Column) -> Column:
    return F.when(count > 0, amount / count).cast(MONEY)


def _kpis(sales_df: DataFrame, as_of: dt.date, grain: str, churn_window_days: int,
          campaigns_df: DataFrame | None) -> DataFrame:
    period_column = GRAINS[grain]
    if churn_window_days < 1:
        raise ValueError(f"churn_window_days must be at least 1, not {churn_window_days}")
    views_df = filter_as_of(sales_df, as_of).transform(_explode_views).withColumn(
        "period", _period("order_date", grain))
    purchases_df = views_df.filter(F.col("is_purchase") & F.col("customer_id").isNotNull())
    orders_df = views_df.groupBy("kpi_channel", "period").agg(
        F.sum("revenue").alias("revenue"),
        F.count(F.when(F.col("is_purchase"), F.lit(1))).alias("orders"),
        F.sum(F.when(F.col("is_purchase"), F.col("revenue"))).alias("purchase_revenue"),
    )
    keys = ["kpi_channel", "period"]
    kpis_df = (
        _period_grid(views_df, as_of, grain).alias("g")
        .join(orders_df.alias("o"), on=keys, how="left")
        .join(_customer_periods(purchases_df).alias("c"), on=keys, how="left")
        .join(_churn_events(purchases_df, as_of, grain, churn_window_days).alias("e"), on=keys, how="left")
        .fillna(0, subset=["orders", "active_customers", "new_customers", "repeat_customers",
                           "spells_started", "spells_ended", "churned_customers"])
    )
    before = Window.partitionBy("kpi_channel").orderBy("period").rowsBetween(Window.unboundedPreceding, -1)
    kpis_df = kpis_df.withColumn("customers_at_start", F.coalesce(
        F.sum(F.col("spells_started") - F.col("spells_ended")).over(before), F.lit(0)))
    if campaigns_df is None:
        kpis_df = kpis_df.withColumn("marketing_cost", F.lit(None).cast(MONEY))
    else:
        cost_df = campaign_daily_cost(campaigns_df, as_of).groupBy(
            F.lit(ALL).alias("kpi_channel"), _period("cost_date", grain).alias("period")
        ).agg(F.sum("cost").alias("campaign_cost"))
        kpis_df = kpis_df.alias("k").join(cost_df.alias("m"), on=keys, how="left").withColumn(
            "marketing_cost", F.when(F.col("kpi_channel") == ALL,
                                     F.coalesce(F.col("campaign_cost"), F.lit(0))).cast(MONEY))
    at_start = F.col("customers_at_start")
    churn_rate = F.when(at_start > 0, F.col("churned_customers") / at_start)
    return kpis_df.select(
        F.col("period").alias(period_column),
        F.col("kpi_channel").alias("channel"),
        F.coalesce(F.col("revenue"), F.lit(0)).cast(MONEY).alias("revenue"),
        F.col("orders").cast("long").alias("orders"),
        F.col("active_customers").cast("long").alias("active_customers"),
        F.col("new_customers").cast("long").alias("new_customers"),
        (F.col("active_customers") - F.col("new_customers")).cast("long").alias("returning_customers"),
        _money_per(F.col("purchase_revenue"), F.col("orders")).alias("average_order_value"),
        F.when(F.col("active_customers") > 0, F.col("repeat_customers") / F.col("active_customers"))
        .cast("double").alias("repeat_purchase_rate"),
        at_start.cast("long").alias("customers_at_start"),
        F.col("churned_customers").cast("long").alias("churned_customers"),
        churn_rate.cast("double").alias("churn_rate"),
        (1 - churn_rate).cast("double").alias("retention_rate"),
        F.col("marketing_cost"),
        _money_per(F.col("marketing_cost"), F.col("new_customers")).alias("cac"),
        F.lit(as_of).alias("as_of"),
    )


def kpi_daily(sales_df: DataFrame, as_of: dt.date, churn_window_days: int = 90,
              campaigns_df: DataFrame | None = None) -> DataFrame:
    """gold.kpi_daily: one row per UTC day and channel view (module doc for definitions).

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, channel, sales_channel,
            order_date, revenue, is_purchase``.
        as_of: last day included.
        churn_window_days: days without a purchase after which a customer counts as churned.
        campaigns_df: optional silver.campaigns for ``marketing_cost`` and blended ``cac``.

    Returns:
        ``date, channel, revenue, orders, active_customers, new_customers,
        returning_customers, average_order_value, repeat_purchase_rate, customers_at_start,
        churned_customers, churn_rate, retention_rate, marketing_cost, cac, as_of``; money
        DECIMAL(18,2), counts LONG, rates DOUBLE (null when their denominator is 0).

    Raises:
        ValueError: ``churn_window_days`` below 1.
    """
    return _kpis(sales_df, as_of, "day", churn_window_days, campaigns_df)


def kpi_monthly(sales_df: DataFrame, as_of: dt.date, churn_window_days: int = 90,
                campaigns_df: DataFrame | None = None) -> DataFrame:
    """gold.kpi_monthly: as ``kpi_daily`` with ``month`` (DATE, first of month) instead of
    ``date``; the last month runs to ``as_of``."""
    return _kpis(sales_df, as_of, "month", churn_window_days, campaigns_df)


def cac_by_channel(sales_df: DataFrame, new_customer_channel_df: DataFrame, campaigns_df: DataFrame,
                   as_of: dt.date, grain: str = "month") -> DataFrame:
    """gold.cac_daily / gold.cac_monthly: acquisition cost per marketing channel and period.

    A customer is acquired in the period of their first purchase (any sales channel) and
    credited to the channel ``new_customer_channel_df`` names; attributed customers without a
    purchase by ``as_of`` are not acquired yet.

    Args:
        sales_df: ``order_revenue`` output; requires ``customer_id, order_date, is_purchase``.
        new_customer_channel_df: ``customer_id, channel``, one row per customer.
        campaigns_df: silver.campaigns (see ``campaign_daily_cost``).
        as_of: last day included; grain: ``'day'`` or ``'month'``.

    Returns:
        ``date`` or ``month``, ``channel, marketing_cost`` (DECIMAL(18,2)), ``new_customers``
        (LONG), ``cac`` (DECIMAL(18,2), null without new customers), ``as_of``; a row per period
        and channel with cost or new customers.

    Raises:
        ValueError: an unknown ``grain``.
    """
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
    first_df = (
        filter_as_of(sales_df, as_of).filter(F.col("is_purchase") & F.col("customer_id").isNotNull())
        .groupBy("customer_id").agg(F.min("order_date").alias("first_date"))
    )
    new_df = (
        first_df.alias("f").join(new_customer_channel_df.alias("n"), on="customer_id", how="inner")
        .groupBy(_period("first_date", grain).alias("period"), F.col("n.channel").alias("channel"))
        .agg(F.count(F.lit(1)).alias("new_customers"))
    )
    cost_df = campaign_daily_cost(campaigns_df, as_of).groupBy(
        _period("cost_date", grain).alias("period"), "channel").agg(F.sum("cost").alias("campaign_cost"))
    cac_df = cost_df.alias("c").join(new_df.alias("n"), on=["period", "channel"], how="full")
    marketing_cost = F.coalesce(F.col("campaign_cost"), F.lit(0)).cast(MONEY)
    new_customers = F.coalesce(F.col("new_customers"), F.lit(0)).cast("long")
    return cac_df.select(
        F.col("period").alias(GRAINS[grain]),
        "channel",
        marketing_cost.alias("marketing_cost"),
        new_customers.alias("new_customers"),
        _money_per(marketing_cost, new_customers).alias("cac"),
        F.lit(as_of).alias("as_of"),
    )
