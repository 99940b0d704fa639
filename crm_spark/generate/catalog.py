"""Products and campaigns: small reference tables every behaviour draws from."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws
from crm_spark.generate.population import CATEGORIES

SKUS_PER_CATEGORY = 25
ADJECTIVES = ["Classic", "Deluxe", "Eco", "Mini", "Grand", "Soft", "Bright", "Vintage"]
NOUNS = {"home": "Cushion", "garden": "Planter", "kitchen": "Mug", "toys": "Puzzle",
         "books": "Notebook", "fashion": "Scarf", "beauty": "Soap", "sports": "Bottle"}
PAID_CHANNELS = [("paid_search", "google", "cpc"), ("social", "facebook", "social"),
                 ("display", "partner", "display")]


def sku(category: Column, number: Column) -> Column:
    return F.format_string("SKU-%d%02d", category, number)


def price(seed: int, sku_col: Column) -> Column:
    """List price of a product: a pure function of its sku, so no join is needed."""
    return F.round(F.lit(2.5) + draws.uniform(seed, "price", sku_col) * 47.5, 2)


def products(spark: SparkSession, gen: GenerateConfig) -> DataFrame:
    seed = gen.seed
    n = len(CATEGORIES) * SKUS_PER_CATEGORY
    ids = spark.range(n, numPartitions=1)
    category = (F.col("id") / SKUS_PER_CATEGORY).cast("int")
    number = (F.col("id") % SKUS_PER_CATEGORY).cast("int")
    categories = F.array(*[F.lit(c) for c in CATEGORIES])
    nouns = F.array(*[F.lit(NOUNS[c]) for c in CATEGORIES])
    sku_col = sku(category, number)
    return ids.select(
        sku_col.alias("sku"),
        F.concat_ws(" ", draws.pick(ADJECTIVES, seed, "adj", sku_col),
                    F.element_at(nouns, category + 1), number.cast("string")).alias("name"),
        F.element_at(categories, category + 1).alias("category"),
        price(seed, sku_col).alias("price"),
    )


def email_campaign_dates(gen: GenerateConfig) -> list[dt.date]:
    """One e-mail campaign on the 10th of every month of the period."""
    dates, day = [], dt.date(gen.start_date.year, gen.start_date.month, 10)
    while day < gen.end_date:
        if day >= gen.start_date:
            dates.append(day)
        day = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 10)
    return dates


def campaigns(spark: SparkSession, gen: GenerateConfig) -> DataFrame:
    """E-mail campaigns (monthly) and paid campaigns (one per quarter and paid channel)."""
    rows = []
    for i, day in enumerate(email_campaign_dates(gen)):
        rows.append((f"EM{i + 1:03d}", f"Newsletter {day:%b %Y}", "email", day,
                     day + dt.timedelta(days=6), 250.0 + 10 * (i % 5)))
    quarter = dt.date(gen.start_date.year, 3 * ((gen.start_date.month - 1) // 3) + 1, 1)
    q = 0
    while quarter < gen.end_date:
        for channel, _, _ in PAID_CHANNELS:
            q += 1
            end = dt.date(quarter.year + (quarter.month == 10), (quarter.month + 2) % 12 + 1, 1)
            rows.append((f"PD{q:03d}", f"{channel.replace('_', ' ').title()} {quarter:%Y} "
                         f"Q{(quarter.month - 1) // 3 + 1}", channel, quarter,
                         end - dt.timedelta(days=1), 1500.0 + 250 * (q % 4)))
        quarter = dt.date(quarter.year + (quarter.month == 10), (quarter.month + 2) % 12 + 1, 1)
    return spark.createDataFrame(
        rows, "campaign_id STRING, name STRING, channel STRING, start_date DATE, "
              "end_date DATE, cost DOUBLE").coalesce(1)
