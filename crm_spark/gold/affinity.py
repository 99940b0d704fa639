"""Product affinity: association rules "customers who buy X also buy Y" from purchase baskets.

A basket is the distinct skus with a positive quantity of one purchase (an order with revenue > 0,
``crm_spark.gold.sales.order_revenue``) dated on or before ``as_of``; returned or cancelled lines
(quantity <= 0) are not bought items. Rules come from Spark ML's FP-Growth (Han et al. 2000):
``support`` is the share of baskets holding antecedent and consequent, ``confidence`` =
support(antecedent + consequent) / support(antecedent) and ``lift`` = confidence /
support(consequent), all over the baskets that are mined.

Baskets with more than ``max_items_per_basket`` distinct skus are left out of the mining (and of
the support's denominator): they are wholesale or bulk orders that say little about what goes
together, and the frequent-itemset search grows exponentially with basket size.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.ml.fpm import FPGrowth
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.gold.sales import order_revenue

log = logging.getLogger(__name__)

MAX_ITEMS_PER_BASKET = 50


def baskets_of(lines_df: DataFrame, orders_df: DataFrame, as_of: dt.date,
               max_items_per_basket: int = MAX_ITEMS_PER_BASKET) -> DataFrame:
    """One basket per purchase up to ``as_of`` (module doc).

    Args:
        lines_df: silver.order_lines; requires ``channel, order_id, sku, quantity, amount``.
        orders_df: silver.orders (as ``order_revenue``).
        as_of: last UTC order date included.
        max_items_per_basket: larger baskets are dropped.

    Returns:
        ``channel, order_id, items`` (ARRAY<STRING>, distinct skus, sorted); purchases without a
        positive line have no basket.
    """
    return (all_baskets(lines_df, orders_df, as_of).filter(F.size("items") <= int(max_items_per_basket))
            .select("channel", "order_id", "items"))


def all_baskets(lines_df: DataFrame, orders_df: DataFrame, as_of: dt.date) -> DataFrame:
    """:func:`baskets_of` without the size limit."""
    purchases_df = order_revenue(orders_df, lines_df, as_of).filter(F.col("is_purchase")).select(
        "channel", "order_id")
    bought_df = lines_df.filter((F.col("quantity") > 0) & F.col("sku").isNotNull()).select(
        "channel", "order_id", "sku")
    return (
        bought_df.alias("l").join(purchases_df.alias("p"), on=["channel", "order_id"], how="left_semi")
        .groupBy("channel", "order_id")
        .agg(F.array_sort(F.collect_set("sku")).alias("items"))
    )


def oversized_baskets(lines_df: DataFrame, orders_df: DataFrame, as_of: dt.date,
                      max_items_per_basket: int = MAX_ITEMS_PER_BASKET) -> int:
    """How many baskets :func:`baskets_of` leaves out for holding more than
    ``max_items_per_basket`` skus (a Spark job)."""
    return all_baskets(lines_df, orders_df, as_of).filter(F.size("items") > int(max_items_per_basket)).count()


def association_rules(baskets_df: DataFrame, min_support: float = 0.01,
                      min_confidence: float = 0.1, min_baskets: int = 0) -> DataFrame:
    """Fit FP-Growth on ``baskets_df`` and return its rules (this runs Spark jobs).

    Args:
        baskets_df: requires ``items`` (ARRAY<STRING> of distinct values).
        min_support: least share of baskets holding a rule's items ...
        min_confidence: least confidence of a rule.
        min_baskets: ... or, when that share is more baskets than this, this many baskets
            (0: the share alone). A share fit for a few thousand baskets asks hundreds of
            baskets of a pair of a large catalogue's products at millions of baskets, and no
            rule is left; a count keeps the rules that enough baskets show.

    Returns:
        ``antecedent`` (ARRAY<STRING>, sorted), ``consequent`` (STRING), ``support, confidence,
        lift`` (DOUBLE).
    """
    support = float(min_support)
    if min_baskets:
        baskets = baskets_df.count()
        support = min(support, min_baskets / baskets) if baskets else support
    model = FPGrowth(itemsCol="items", minSupport=support,
                     minConfidence=float(min_confidence)).fit(baskets_df)
    log.info("fp-growth fitted (min_support=%.3g, min_confidence=%s)", support, min_confidence)
    # FP-Growth rules always have a single-item consequent.
    return model.associationRules.select(
        F.array_sort("antecedent").alias("antecedent"), F.col("consequent")[0].alias("consequent"),
        *[F.col(c).cast("double").alias(c) for c in ("support", "confidence", "lift")])


def with_product_names(rules_df: DataFrame, products_df: DataFrame) -> DataFrame:
    """Add the antecedent's product names (same order as its skus) and the consequent's name and
    category; skus missing from ``products_df`` get null names.

    Args:
        rules_df: ``association_rules`` output.
        products_df: silver.products; requires ``sku`` (unique), ``name, category``.

    Returns:
        ``rules_df``'s columns plus ``antecedent_names`` (ARRAY<STRING>), ``consequent_name``,
        ``consequent_category``.
    """
    products = products_df.select("sku", "name", "category")
    rule_key = ["antecedent", "consequent", "support", "confidence", "lift"]
    named_df = (
        rules_df.select(*rule_key, F.posexplode("antecedent").alias("pos", "sku")).alias("r")
        .join(products.alias("p"), on="sku", how="left")
        .groupBy(*rule_key)
        .agg(F.array_sort(F.collect_list(F.struct("pos", "name"))).alias("named"))
        .withColumn("antecedent_names", F.transform("named", lambda n: n["name"]))
    )
    return named_df.alias("r").join(
        products.select(F.col("sku").alias("consequent"), F.col("name").alias("consequent_name"),
                        F.col("category").alias("consequent_category")).alias("c"),
        on="consequent", how="left",
    ).select(*rule_key, "antecedent_names", "consequent_name", "consequent_category")


def product_affinity(lines_df: DataFrame, orders_df: DataFrame, products_df: DataFrame, as_of: dt.date,
                     min_support: float = 0.01, min_confidence: float = 0.1,
                     max_items_per_basket: int = MAX_ITEMS_PER_BASKET, min_baskets: int = 0) -> DataFrame:
    """gold.product_affinity: association rules between products bought together.

    Args:
        lines_df: silver.order_lines (as ``baskets_of``).
        orders_df: silver.orders (as ``order_revenue``).
        products_df: silver.products (as ``with_product_names``).
        as_of: last UTC order date included.
        min_support, min_baskets: least share of baskets holding a rule's items, or least
            count when that is fewer baskets (``association_rules``).
        min_confidence: least confidence of a rule.
        max_items_per_basket: larger baskets are not mined (module doc).

    Returns:
        ``antecedent`` (ARRAY<STRING> of skus, sorted), ``consequent`` (STRING sku), ``support,
        confidence, lift`` (DOUBLE), ``antecedent_names`` (ARRAY<STRING>), ``consequent_name``,
        ``consequent_category``, ``as_of`` (DATE); one row per rule. Top rules are an orderBy on
        ``lift`` or ``confidence``.
    """
    baskets_df = baskets_of(lines_df, orders_df, as_of, max_items_per_basket)
    rules_df = association_rules(baskets_df, min_support, min_confidence, min_baskets)
    return with_product_names(rules_df, products_df).select(
        "antecedent", "consequent", "support", "confidence", "lift", "antecedent_names", "consequent_name",
        "consequent_category", F.lit(as_of).cast("date").alias("as_of"))
