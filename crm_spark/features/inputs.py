"""What the features, the trainers and the scorers read from the lake at an as-of date: the sales
base (orders with their revenue), known customers' purchases, and the customer features."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.config import Config
from crm_spark.features.customer import customer_features
from crm_spark.gold.sales import order_revenue
from crm_spark.silver import read_table
from crm_spark.tables import Lake


def sales_of(lake: Lake, cfg: Config, as_of: dt.date) -> DataFrame:
    """``order_revenue`` up to ``as_of``; without order lines, revenue is the orders' totals."""
    return order_revenue(lake.read("silver.orders"), read_table(lake, cfg, "silver.order_lines"), as_of)


def purchases(lake: Lake, cfg: Config, as_of: dt.date) -> DataFrame:
    """``customer_id, order_ts, revenue`` of known customers' purchases up to ``as_of``."""
    return purchases_of(sales_of(lake, cfg, as_of))


def purchases_of(sales_df: DataFrame) -> DataFrame:
    return (sales_df.filter(F.col("is_purchase") & F.col("customer_id").isNotNull())
            .select("customer_id", "order_ts", F.col("revenue").cast("double").alias("revenue")))


def features_at(lake: Lake, cfg: Config, as_of: dt.date, sales_df: DataFrame) -> DataFrame:
    """``customer_features`` at ``as_of`` from ``sales_df`` and the silver events and customers."""
    return customer_features(sales_df, read_table(lake, cfg, "silver.web_events"),
                             read_table(lake, cfg, "silver.email_events"),
                             read_table(lake, cfg, "silver.support_tickets"), lake.read("silver.customers"),
                             as_of)
