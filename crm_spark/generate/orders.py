"""Purchases: the planted buy-till-you-die process, order lines from latent tastes, and the
shop / store split of every order."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws, population
from crm_spark.generate.catalog import SKUS_PER_CATEGORY, price, sku

MAX_REPEATS = 80
TASTE_SHARE = 0.7   # share of order lines from the person's favourite category


def purchase_times(persons: DataFrame, gen: GenerateConfig) -> tuple[DataFrame, DataFrame]:
    """BG/NBD purchases: the first at acquisition, repeats with Exp(lam) gaps, dropout right
    after the D-th repeat where D ~ Geometric(p).

    Returns:
        (purchases: person_id, seq, order_ts, value, origin='btyd';
         churn: person_id, churned_at — null while the person is still alive at end_date)
    """
    seed = gen.seed
    pid = F.col("person_id")
    repeats = 1 + F.floor(F.log(draws.uniform(seed, "dropout", pid)) / F.log(1 - F.col("p")))
    capped = F.least(repeats, F.lit(MAX_REPEATS)).cast("int")
    gaps = F.transform(
        F.sequence(F.lit(1), capped),
        lambda j: -F.log(draws.uniform(seed, "gap", pid, j)) / F.col("lam") * 86400.0,
    )
    offsets = F.aggregate(
        gaps, F.array(F.lit(0.0)),
        lambda acc, g: F.concat(acc, F.array(F.element_at(acc, -1) + g)),
    )
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    timed = persons.select(
        "person_id", "acquired_at", "nu",
        (repeats <= MAX_REPEATS).alias("is_dropout_known"),
        offsets.alias("offsets"),
    ).withColumn("dropout_ts", F.unix_timestamp("acquired_at") + F.element_at("offsets", -1))
    churn = timed.select(
        "person_id",
        F.when(F.col("is_dropout_known") & (F.col("dropout_ts") <= end),
               F.timestamp_seconds(F.col("dropout_ts").cast("long"))).alias("churned_at"),
    )
    purchases = (
        timed.select("person_id", "nu", "acquired_at", F.posexplode("offsets").alias("seq", "off"))
        .withColumn("epoch", F.unix_timestamp("acquired_at") + F.col("off").cast("long"))
        .where(F.col("epoch") < end)
        .select(
            "person_id", "seq",
            F.timestamp_seconds("epoch").alias("order_ts"),
            draws.gamma(population.P, F.col("nu"), seed, "spend", pid, F.col("seq")).alias("value"),
            F.lit("btyd").alias("origin"),
        )
    )
    return purchases, churn


def orders_with_lines(purchases: DataFrame, persons: DataFrame,
                      gen: GenerateConfig) -> tuple[DataFrame, DataFrame]:
    """Assign each purchase a channel, an id and lines whose skus follow the person's taste.

    Returns:
        (orders: person_id, order_id, order_ts, channel ('shop'|'store'), status, origin,
                 campaign_id;
         lines: order_id, line_no, sku, quantity, unit_price)
    """
    seed = gen.seed
    key = [F.col("person_id"), F.col("order_key")]
    keyed = purchases.join(persons.select("person_id", "taste", "in_shop", "in_loyalty"),
                           "person_id", "inner").withColumn(
        "order_key", F.concat_ws(":", F.col("origin"), F.col("seq").cast("string")))
    is_campaign = F.col("origin") == "campaign"
    shop_share = (F.when(~F.col("in_shop"), 0.0).when(is_campaign, 1.0)
                  .when(F.col("in_loyalty"), 0.6).otherwise(0.95))
    channel = F.when(draws.chance(shop_share, seed, "channel", *key), "shop").otherwise("store")
    orders = keyed.select(
        "person_id", "order_ts", "origin", "campaign_id", "taste", "value",
        _order_id(seed, *key).alias("order_id"),
        channel.alias("channel"),
        F.when(draws.chance(0.02, seed, "returned", *key), "returned").otherwise("complete")
        .alias("status"),
        (1 + draws.chance(0.5, seed, "l2", *key).cast("int")
         + draws.chance(0.2, seed, "l3", *key).cast("int")
         + draws.chance(0.05, seed, "l4", *key).cast("int")).alias("n_lines"),
    )
    oid = F.col("order_id")
    lines = orders.select("order_id", "taste", "value", "n_lines",
                          F.explode(F.sequence(F.lit(1), F.col("n_lines"))).alias("line_no"))
    category = F.when(draws.chance(TASTE_SHARE, seed, "taste_line", oid, F.col("line_no")),
                      F.col("taste")).otherwise(
        draws.integer(0, len(population.CATEGORIES) - 1, seed, "any_cat", oid, F.col("line_no")))
    lines = lines.withColumn("sku", sku(category, draws.integer(
        0, SKUS_PER_CATEGORY - 1, seed, "sku", oid, F.col("line_no"))))
    unit_price = price(seed, F.col("sku"))
    quantity = F.least(F.lit(20), F.greatest(F.lit(1), F.round(
        F.col("value") / F.col("n_lines") / unit_price))).cast("int")
    lines = lines.select("order_id", "line_no", "sku", quantity.alias("quantity"),
                         unit_price.alias("unit_price"))
    return orders.drop("taste", "value"), lines


def _order_id(seed: int, *keys: Column) -> Column:
    hashed = F.xxhash64(F.lit(seed), F.lit("order:id"), *keys)
    return F.concat(F.lit("O"), F.lpad(F.hex(hashed.bitwiseAND(F.lit(0xFFFFFFFFFFFF))), 12, "0"))
