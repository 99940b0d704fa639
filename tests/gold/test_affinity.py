"""product_affinity: baskets (purchases only, positive lines, distinct skus, as_of, size cap) and
FP-Growth rules with hand-computed support, confidence and lift, named from products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_approx_df_equality

from crm_spark.gold.affinity import oversized_baskets, product_affinity

AS_OF = dt.date(2024, 3, 31)
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
LINES = "channel string, order_id string, line_no int, sku string, quantity int, amount decimal(16,3)"
PRODUCTS = "sku string, name string, category string"
AFFINITY = ("antecedent array<string>, consequent string, support double, confidence double, lift double, "
            "antecedent_names array<string>, consequent_name string, consequent_category string, as_of date")
ON_DAY = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


def frames(spark, baskets, dated=None):
    """baskets: (channel, order_id, [(sku, quantity), ...]) at 10.000 a unit, dated ``ON_DAY`` or
    ``dated[order_id]``."""
    dated = dated or {}
    lines = [(channel, order, n, sku, q, Decimal(10 * q))
             for channel, order, items in baskets for n, (sku, q) in enumerate(items, start=1)]
    orders = [("C1", channel, channel, order, dated.get(order, ON_DAY), None)
              for channel, order, _ in baskets]
    return spark.createDataFrame(orders, ORDERS), spark.createDataFrame(lines, LINES)


def test_affinity_support_confidence_lift_from_known_proportions(spark):
    baskets = [
        ("web", "o1", [("A", 1), ("B", 2), ("C", -1)]),  # the returned C is not bought
        ("web", "o2", [("A", 1), ("B", 1), ("A", 3)]),  # A twice: one item
        ("web", "o3", [("A", 1), ("B", 1)]),
        ("web", "o4", [("A", 1), ("B", 1)]),
        ("web", "o5", [("A", 1)]),
        ("web", "o6", [("A", 2)]),
        ("web", "o7", [("B", 1), ("C", 1)]),
        ("web", "o8", [("C", 1)]),
        ("web", "o9", [("C", 1)]),
        ("store", "o1", [("C", 1)]),  # same order id, other channel: its own basket
        ("web", "x1", [("A", 1), ("C", -2)]),  # revenue 10 - 20 < 0: not a purchase
        ("web", "x2", [("A", 1), ("B", 1), ("C", 1), ("D", 1)]),  # 4 items > max 3: not mined
        ("web", "x3", [("A", 1), ("B", 1)]),  # after as_of
    ]
    orders_df, lines_df = frames(spark, baskets, {"x3": dt.datetime(2024, 4, 1, tzinfo=dt.UTC)})
    products_df = spark.createDataFrame([("A", "Apple", "fruit"), ("B", "Bread", "bakery")], PRODUCTS)
    actual = product_affinity(lines_df, orders_df, products_df, AS_OF, min_support=0.2, min_confidence=0.5,
                              max_items_per_basket=3)
    # 10 baskets: {A,B} x4 (o1-o4), {A} x2, {B,C} x1, {C} x3 (o8, o9, store o1).
    # Counts: A 6, B 5, C 4, AB 4, BC 1 (< 0.2 * 10 = 2: not frequent), AC 0.
    # A -> B: support 4/10, confidence 4/6, lift (4/6) / (5/10) = 4/3
    # B -> A: support 4/10, confidence 4/5, lift (4/5) / (6/10) = 4/3
    expected = spark.createDataFrame([
        (["A"], "B", 0.4, 4 / 6, 4 / 3, ["Apple"], "Bread", "bakery", AS_OF),
        (["B"], "A", 0.4, 0.8, 4 / 3, ["Bread"], "Apple", "fruit", AS_OF),
    ], AFFINITY)
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_affinity_names_multi_item_antecedents_in_sku_order(spark):
    baskets = [
        ("web", "o1", [("C", 1), ("B", 1), ("A", 1)]),
        ("web", "o2", [("B", 1), ("A", 1), ("C", 1)]),
        ("web", "o3", [("A", 1), ("B", 1)]),
        ("web", "o4", [("C", 1)]),
    ]
    orders_df, lines_df = frames(spark, baskets)
    products_df = spark.createDataFrame([("A", "Apple", "fruit"), ("B", "Bread", "bakery")], PRODUCTS)
    actual = product_affinity(lines_df, orders_df, products_df, AS_OF, min_support=0.5, min_confidence=0.9)
    # 4 baskets: A 3, B 3, C 3, AB 3, AC 2, BC 2, ABC 2. Rules with confidence >= 0.9:
    # A -> B and B -> A: 3/3 = 1, support 3/4, lift 1 / (3/4) = 4/3
    # {A,C} -> B: 2/2 = 1, support 2/4, lift 4/3; {B,C} -> A likewise. (A -> C etc.: 2/3 < 0.9.)
    # C is not in products: its name is null.
    expected = spark.createDataFrame([
        (["A"], "B", 0.75, 1.0, 4 / 3, ["Apple"], "Bread", "bakery", AS_OF),
        (["B"], "A", 0.75, 1.0, 4 / 3, ["Bread"], "Apple", "fruit", AS_OF),
        (["A", "C"], "B", 0.5, 1.0, 4 / 3, ["Apple", None], "Bread", "bakery", AS_OF),
        (["B", "C"], "A", 0.5, 1.0, 4 / 3, ["Bread", None], "Apple", "fruit", AS_OF),
    ], AFFINITY)
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_a_basket_count_lowers_the_support_share_only_when_the_share_asks_more(spark):
    # 20 baskets: {A,B} x2, {A} x8, {B} x10. A 10, B 12, AB 2: support 2/20 = 0.1.
    baskets = [("web", f"ab{i}", [("A", 1), ("B", 1)]) for i in range(2)]
    baskets += [("web", f"a{i}", [("A", 1)]) for i in range(8)]
    baskets += [("web", f"b{i}", [("B", 1)]) for i in range(10)]
    orders_df, lines_df = frames(spark, baskets)
    products_df = spark.createDataFrame([("A", "Apple", "fruit"), ("B", "Bread", "bakery")], PRODUCTS)

    def rules(min_support, min_baskets):
        return {(tuple(r.antecedent), r.consequent) for r in product_affinity(
            lines_df, orders_df, products_df, AS_OF, min_support=min_support, min_confidence=0.1,
            min_baskets=min_baskets).collect()}

    # a share of 0.25 asks 5 baskets: AB (2) is not frequent, unless 2 baskets are enough
    assert rules(0.25, 0) == set()
    assert rules(0.25, 3) == set()
    assert rules(0.25, 2) == {(("A",), "B"), (("B",), "A")}
    # a share of 0.1 asks 2 baskets: a larger count does not raise it
    assert rules(0.1, 10) == {(("A",), "B"), (("B",), "A")}


def test_oversized_baskets_are_counted(spark):
    baskets = [
        ("web", "o1", [("A", 1), ("B", 1)]),
        ("web", "x1", [("A", 1), ("B", 1), ("C", 1), ("D", 1)]),   # 4 skus > 3
        ("web", "x2", [("A", 1), ("B", 1), ("C", 1), ("D", 1), ("E", 1)]),
        ("web", "x3", [("A", 1), ("B", 1), ("C", 1), ("C", 2)]),   # 3 distinct skus: mined
        ("web", "x4", [("A", 1), ("B", 1), ("C", 1), ("D", -1)]),  # D returned: 3 bought
    ]
    orders_df, lines_df = frames(spark, baskets)
    assert oversized_baskets(lines_df, orders_df, AS_OF, max_items_per_basket=3) == 2
