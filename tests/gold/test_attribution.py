"""Attribution: each model's split of hand-sized journeys, the lookback edges, direct conversions,
exact cents, the Markov removal effects solved by hand, and a planted campaign every model finds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from crm_spark.gold import attribution as at
from crm_spark.gold import markov

TOUCHES = "customer_id string, touch_ts timestamp, channel string, campaign_id string"
CONVERSIONS = ("customer_id string, order_channel string, order_id string, conversion_ts timestamp, "
               "revenue decimal(18,2)")
CREDITS = ("model string, channel string, campaign_id string, conversions_credited double, "
           "revenue_credited decimal(18,2)")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def touches(spark, rows):
    return spark.createDataFrame([(c, ts(t), ch, k) for c, t, ch, k in rows], TOUCHES)


def conversions(spark, rows):
    return spark.createDataFrame([(c, "web", o, ts(t), Decimal(r)) for c, o, t, r in rows], CONVERSIONS)


def credits(spark, rows):
    return spark.createDataFrame([(m, ch, k, float(n), Decimal(r)) for m, ch, k, n, r in rows], CREDITS)


def assert_credits(actual_df, expected_df):
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_rule_models_and_markov_split_one_conversion_over_three_touches(spark):
    touches_df = touches(spark, [
        ("c1", "2024-03-01 12:00:00", "paid_search", "PD001"),  # 14 days before the purchase
        ("c1", "2024-03-08 12:00:00", "social", "PD002"),       # 7 days before
        ("c1", "2024-03-15 12:00:00", "email", "EM001"),        # at the purchase: (c - 30d, c] holds it
    ])
    conversions_df = conversions(spark, [("c1", "o1", "2024-03-15 12:00:00", "100.00")])
    # time decay, half-life 7 days: 2^-2 = 0.25, 2^-1 = 0.5, 2^0 = 1 -> sum 1.75 -> 1/7, 2/7, 4/7;
    #   cents 10000/7 = 1428.57, 2857.14, 5714.29 -> floors 1428 + 2857 + 5714 = 9999, the cent
    #   left goes to the largest remainder (.57, paid_search) -> 14.29, 28.57, 57.14.
    # linear: 3333.33 each -> 9999, the cent left goes by the tie-break (channel name) to email.
    # position based: 40 / 20 / 40.
    # markov: the only journey converts, removing any channel leaves P(conv) = 0, so all removal
    #   effects are 1 and the shares are 1/3 each, split and rounded like linear.
    ps, so, em = ("paid_search", "PD001"), ("social", "PD002"), ("email", "EM001")
    expected = [("first_touch", *ps, 1.0, "100.00"), ("last_touch", *em, 1.0, "100.00")]
    for model in ("linear", "markov"):
        expected += [(model, *ps, 1 / 3, "33.33"), (model, *so, 1 / 3, "33.33"), (model, *em, 1 / 3, "33.34")]
    expected += [("time_decay", *ps, 1 / 7, "14.29"), ("time_decay", *so, 2 / 7, "28.57"),
                 ("time_decay", *em, 4 / 7, "57.14"), ("position_based", *ps, 0.4, "40.00"),
                 ("position_based", *so, 0.2, "20.00"), ("position_based", *em, 0.4, "40.00")]
    assert_credits(at.attribute(touches_df, conversions_df), credits(spark, expected))


def test_conversion_without_touches_goes_to_direct_in_every_model(spark):
    touches_df = touches(spark, [
        ("c2", "2024-03-16 09:00:00", "email", "EM001"),   # after the purchase
        ("c9", "2024-03-14 09:00:00", "social", "PD002"),  # another customer's
    ])
    conversions_df = conversions(spark, [("c2", "o2", "2024-03-15 12:00:00", "25.50")])
    expected = credits(spark, [(m, "direct", None, 1.0, "25.50") for m in at.MODELS])
    assert_credits(at.attribute(touches_df, conversions_df), expected)


def test_position_based_gives_one_touch_everything_and_two_touches_half_each(spark):
    touches_df = touches(spark, [
        ("a", "2024-03-14 12:00:00", "social", "PD002"),
        ("b", "2024-03-13 12:00:00", "paid_search", "PD001"),
        ("b", "2024-03-14 12:00:00", "email", "EM001"),
    ])
    conversions_df = conversions(spark, [("a", "oa", "2024-03-15 12:00:00", "10.00"),
                                         ("b", "ob", "2024-03-15 12:00:00", "10.01")])
    # b: 1001 cents / 2 = 500.5 each -> 500 + 500, the cent left goes by channel name to email.
    expected = credits(spark, [("position_based", "social", "PD002", 1.0, "10.00"),
                               ("position_based", "paid_search", "PD001", 0.5, "5.00"),
                               ("position_based", "email", "EM001", 0.5, "5.01")])
    actual_df = at.attribute(touches_df, conversions_df).filter(F.col("model") == "position_based")
    assert_credits(actual_df, expected)


def test_lookback_holds_touches_after_conversion_minus_lookback_up_to_conversion(spark):
    touches_df = touches(spark, [
        ("c1", "2024-03-01 11:59:59", "display", "PD003"),      # 30 days + 1 s before: out
        ("c1", "2024-03-01 12:00:00", "social", "PD002"),       # exactly 30 days before: out
        ("c1", "2024-03-01 12:00:01", "paid_search", "PD001"),  # 30 days - 1 s before: in
        ("c1", "2024-03-31 12:00:01", "email", "EM001"),        # 1 s after: out
    ])
    conversions_df = conversions(spark, [("c1", "o1", "2024-03-31 12:00:00", "50.00")])
    actual_df = at.attribute(touches_df, conversions_df, lookback_days=30).filter(
        F.col("model").isin("linear", "first_touch"))
    expected = credits(spark, [(m, "paid_search", "PD001", 1.0, "50.00") for m in ("linear", "first_touch")])
    assert_credits(actual_df, expected)


def test_touch_before_midnight_counts_for_purchase_after_midnight_utc(spark):
    touches_df = touches(spark, [("c1", "2024-03-01 23:59:50", "social", "PD002")])
    conversions_df = conversions(spark, [("c1", "o1", "2024-03-02 00:00:30", "15.00")])
    actual_df = at.attribute(touches_df, conversions_df).filter(
        F.col("model").isin("last_touch", "time_decay"))
    expected = credits(spark, [(m, "social", "PD002", 1.0, "15.00") for m in ("last_touch", "time_decay")])
    assert_credits(actual_df, expected)


def test_every_model_credits_exactly_the_revenue_and_the_number_of_conversions(spark):
    rows = [("c1", "2024-03-10 10:00:00", "email", "EM001"), ("c1", "2024-03-11 10:00:00", "social", "PD002"),
            ("c1", "2024-03-12 10:00:00", "display", "PD003")]
    rows += [("c2", f"2024-03-0{d} 08:00:00", ch, k) for d, (ch, k) in zip(range(1, 8), [
        ("email", "EM001"), ("social", "PD002"), ("display", "PD003"), ("paid_search", "PD001"),
        ("email", "EM002"), ("social", "PD002"), ("display", "PD004")], strict=True)]
    rows += [("c3", "2024-03-13 10:00:00", "social", "PD002"),
             ("c3", "2024-03-14 10:00:00", "email", "EM002")]
    rows += [("c5", "2024-03-10 10:00:00", "display", "PD003")]   # c5 never buys
    conversions_df = conversions(spark, [("c1", "o1", "2024-03-12 11:00:00", "0.01"),
                                         ("c2", "o2", "2024-03-08 08:00:00", "33.33"),
                                         ("c3", "o3", "2024-03-15 10:00:00", "99.99"),
                                         ("c4", "o4", "2024-03-15 10:00:00", "10.00")])
    totals_df = at.attribute(touches(spark, rows), conversions_df).groupBy("model").agg(
        F.sum("conversions_credited").alias("conversions"), F.sum("revenue_credited").alias("revenue"))
    # 0.01 + 33.33 + 99.99 + 10.00 = 143.33 over 4 purchases (c4's is direct), in every model.
    expected_df = spark.createDataFrame([(m, 4.0, Decimal("143.33")) for m in at.MODELS],
                                        "model string, conversions double, revenue decimal(28,2)")
    assert_approx_df_equality(totals_df, expected_df, 1e-9, ignore_row_order=True, ignore_nullable=True)


# Journeys [A, conv], [A, B, conv], [B, null]. From start: A 2/3, B 1/3; A: conv 1/2, B 1/2;
# B: conv 1/2, null 1/2. P(B) = 1/2, P(A) = 1/2 + 1/2 * 1/2 = 3/4, P = 2/3 * 3/4 + 1/3 * 1/2 = 2/3.
# Without A: P = 1/3 * 1/2 = 1/6 -> effect 1 - (1/6) / (2/3) = 3/4.
# Without B: P(A) = 1/2, P = 2/3 * 1/2 = 1/3 -> effect 1 - (1/3) / (2/3) = 1/2.
HAND_COUNTS = [(markov.START, "A", 2), ("A", markov.CONVERSION, 1), ("A", "B", 1),
               (markov.START, "B", 1), ("B", markov.CONVERSION, 1), ("B", markov.NULL, 1)]


def test_transition_counts_of_journeys(spark):
    paths_df = spark.createDataFrame(
        [("p1", 1, "A", True), ("p2", 1, "A", True), ("p2", 2, "B", True), ("p3", 1, "B", False)],
        "path_id string, step int, channel string, is_converted boolean")
    expected_df = spark.createDataFrame(HAND_COUNTS, "from_state string, to_state string, transitions long")
    assert_df_equality(markov.transition_counts(paths_df), expected_df, ignore_row_order=True,
                       ignore_nullable=True)


def test_removal_effects_solved_by_hand():
    assert markov.removal_effects(HAND_COUNTS) == pytest.approx({"A": 0.75, "B": 0.5}, abs=1e-12)
    assert markov.removal_effects([]) == {}


def test_markov_credits_follow_removal_effects_and_leave_out_journeys_that_may_still_convert(spark):
    touches_df = touches(spark, [
        ("u1", "2024-03-10 10:00:00", "paid_search", "PA1"),
        ("u2", "2024-03-10 09:00:00", "paid_search", "PA2"), ("u2", "2024-03-10 10:00:00", "social", "SB1"),
        ("u3", "2024-03-10 10:00:00", "social", "SB1"),
    ])
    conversions_df = conversions(spark, [("u1", "o1", "2024-03-10 12:00:00", "100.00"),
                                         ("u2", "o2", "2024-03-10 12:00:00", "100.00")])
    # The hand example with A = paid_search, B = social: effects 3/4 and 1/2 -> shares 3/5 and 2/5
    # of 2 purchases / 200.00: paid_search 1.2 / 120.00, social 0.8 / 80.00. Linear gives PA1 1.0
    # and PA2 0.5 of paid_search, so PA1 takes 2/3: 0.8 / 80.00, PA2 1/3: 0.4 / 40.00.
    expected = credits(spark, [("markov", "paid_search", "PA1", 0.8, "80.00"),
                               ("markov", "paid_search", "PA2", 0.4, "40.00"),
                               ("markov", "social", "SB1", 0.8, "80.00")])
    is_markov = F.col("model") == "markov"
    assert_credits(at.attribute(touches_df, conversions_df).filter(is_markov), expected)
    # As of 2024-03-20, u3's touch may still convert until 2024-04-09: its journey is left out.
    # [A, conv], [A, B, conv]: P = 1; without A 0 -> effect 1; without B 1/2 -> effect 1/2;
    # shares 2/3, 1/3: paid_search 4/3 -> PA1 8/9, PA2 4/9; social 2/3. Cents 20000 * 4/9 =
    # 8888.89, 20000 * 2/9 = 4444.44, 20000 / 3 = 6666.67 -> floors 19998, the two cents left go
    # to the largest remainders (.89 PA1, .67 SB1) -> 88.89, 44.44, 66.67.
    as_of = dt.date(2024, 3, 20)
    expected = credits(spark, [("markov", "paid_search", "PA1", 8 / 9, "88.89"),
                               ("markov", "paid_search", "PA2", 4 / 9, "44.44"),
                               ("markov", "social", "SB1", 2 / 3, "66.67")]).withColumn("as_of", F.lit(as_of))
    actual_df = at.attribution_of(touches_df, conversions_df, as_of).filter(is_markov)
    assert_credits(actual_df, expected)


def test_every_model_ranks_the_campaign_that_precedes_purchases_first(spark):
    x, y = ("paid_search", "PX"), ("social", "PY")
    rows, purchases = [], []
    for i in range(6):   # X alone, then a purchase
        rows.append((f"x{i}", f"2024-03-{i + 1:02d} 10:00:00", *x))
        purchases.append((f"x{i}", f"ox{i}", f"2024-03-{i + 2:02d} 10:00:00", "10.00"))
    for i in range(2):   # Y, then X, then a purchase
        rows += [(f"yx{i}", f"2024-03-{i + 1:02d} 10:00:00", *y),
                 (f"yx{i}", f"2024-03-{i + 3:02d} 10:00:00", *x)]
        purchases.append((f"yx{i}", f"oyx{i}", f"2024-03-{i + 4:02d} 10:00:00", "10.00"))
    for i in range(6):   # Y alone, nothing bought
        rows.append((f"y{i}", f"2024-03-{i + 1:02d} 10:00:00", *y))
    rows.append(("yc", "2024-03-05 10:00:00", *y))
    purchases.append(("yc", "oyc", "2024-03-06 10:00:00", "10.00"))
    # Credits of X vs Y: first 6 vs 3, last 8 vs 1, linear and position 7 vs 2; markov effects
    # X 8/9, Y 1/3 (P = 9/15; without X 1/15; without Y 6/15) -> 9 * 8/11 vs 9 * 3/11.
    credits_df = at.attribute(touches(spark, rows), conversions(spark, purchases))
    revenue = {(r.model, r.campaign_id): r.revenue_credited for r in credits_df.collect()}
    assert {m for m, _ in revenue} == set(at.MODELS)
    assert all(revenue[(m, "PX")] > revenue[(m, "PY")] for m in at.MODELS), revenue


def test_touchpoints_are_visits_with_utm_and_email_clicks_without_their_landing_visit(spark):
    web_df = spark.createDataFrame([
        ("c1", "s1", "e1", ts("2024-03-01 10:00:00"), "cpc", "PD001"),
        ("c1", "s1", "e2", ts("2024-03-01 10:01:00"), None, None),
        (None, "s2", "e3", ts("2024-03-01 10:00:00"), "cpc", "PD001"),       # anonymous: no touch
        ("c2", "s3", "e4", ts("2024-03-01 11:00:00"), "referral", "ZZ9"),    # unknown campaign
        ("c2", "s4", "e5", ts("2024-03-01 11:30:00"), None, "ZZ8"),
        ("c1", "s5", "e6", ts("2024-03-05 08:00:00"), "email", "EM001"),     # landing of the click
        ("c1", "s6", "e7", ts("2024-03-05 09:00:00"), "email", "EM001"),     # an hour later: a touch
    ], "customer_id string, session_key string, event_id string, event_ts timestamp, utm_medium string, "
       "utm_campaign string")
    email_df = spark.createDataFrame([("EM001", c, e, ts(t)) for c, e, t in [
        ("c1", "send", "2024-03-04 08:00:00"), ("c1", "open", "2024-03-05 07:59:00"),
        ("c1", "click", "2024-03-05 08:00:00"), (None, "click", "2024-03-05 08:00:00"),
    ]], "campaign_id string, customer_id string, event_type string, event_ts timestamp")
    campaigns_df = spark.createDataFrame([("PD001", "paid_search"), ("EM001", "email")],
                                         "campaign_id string, channel string")
    expected_df = touches(spark, [
        ("c1", "2024-03-01 10:00:00", "paid_search", "PD001"),   # the campaign's channel, not "cpc"
        ("c2", "2024-03-01 11:00:00", "referral", "ZZ9"), ("c2", "2024-03-01 11:30:00", "unknown", "ZZ8"),
        ("c1", "2024-03-05 08:00:00", "email", "EM001"), ("c1", "2024-03-05 09:00:00", "email", "EM001"),
    ])
    assert_df_equality(at.touchpoints_of(web_df, email_df, campaigns_df), expected_df, ignore_row_order=True,
                       ignore_nullable=True)


def test_conversions_are_orders_of_known_customers_with_positive_line_revenue_up_to_as_of(spark):
    orders_df = spark.createDataFrame([(c, c, o, k, ts(t), None) for c, o, k, t in [
        ("web", "A1", "k1", "2024-03-02 00:00:30"),
        ("store", "A1", "k3", "2024-03-02 10:00:00"),   # same id, other channel: another order
        ("web", "A2", "k1", "2024-03-02 23:59:59"),
        ("web", "A3", "k1", "2024-03-03 00:00:00"),     # after as_of
        ("web", "A4", None, "2024-03-02 10:00:00"),     # guest
        ("web", "A5", "k2", "2024-03-02 10:00:00"),     # 10 - 10 = 0: not a purchase
        ("web", "A6", "k2", "2024-03-02 10:00:00"),     # a return only
    ]], "channel string, sales_channel string, order_id string, customer_id string, order_ts timestamp, "
        "total decimal(14,2)")
    lines_df = spark.createDataFrame([(c, o, Decimal(a)) for c, o, a in [
        ("web", "A1", "20.000"), ("web", "A1", "-5.000"), ("store", "A1", "10.005"), ("web", "A2", "7.004"),
        ("web", "A3", "9.000"), ("web", "A4", "30.000"), ("web", "A5", "10.000"), ("web", "A5", "-10.000"),
        ("web", "A6", "-5.000")]], "channel string, order_id string, amount decimal(16,3)")
    # A1 web 20 - 5 = 15.00; A1 store 10.005 -> 10.01 (half up); A2 7.004 -> 7.00.
    expected_df = spark.createDataFrame([
        ("k1", "web", "A1", ts("2024-03-02 00:00:30"), Decimal("15.00")),
        ("k3", "store", "A1", ts("2024-03-02 10:00:00"), Decimal("10.01")),
        ("k1", "web", "A2", ts("2024-03-02 23:59:59"), Decimal("7.00")),
    ], CONVERSIONS)
    assert_df_equality(at.conversions_of(orders_df, lines_df, dt.date(2024, 3, 2)), expected_df,
                       ignore_row_order=True, ignore_nullable=True)


def test_campaign_performance_counts_reach_and_last_touch_return(spark):
    campaigns_df = spark.createDataFrame([
        ("PD001", "Spring search", "paid_search", Decimal("50.00")),
        ("EM001", "March news", "email", Decimal("0")), ("PD002", "Social test", "social", None),
    ], "campaign_id string, name string, channel string, cost decimal(14,2)")
    email_df = spark.createDataFrame([("EM001", m, e, ts(t)) for m, e, t in [
        ("a", "send", "2024-03-01 08:00:00"), ("b", "send", "2024-03-01 08:00:00"),
        ("c", "send", "2024-03-01 08:00:00"), ("a", "send", "2024-03-02 08:00:00"),  # a twice: 3 recipients
        ("a", "open", "2024-03-01 09:00:00"), ("a", "open", "2024-03-03 09:00:00"),
        ("b", "open", "2024-03-01 09:00:00"), ("a", "click", "2024-03-01 09:01:00"),
        ("c", "unsubscribe", "2024-03-01 10:00:00"), ("d", "open", "2024-04-01 00:00:00"),  # after as_of
    ]], "campaign_id string, email_match string, event_type string, event_ts timestamp")
    web_df = spark.createDataFrame([(s, ts(t), "PD001") for s, t in [
        ("s1", "2024-03-05 10:00:00"), ("s1", "2024-03-05 10:02:00"), ("s2", "2024-03-06 10:00:00"),
        ("s3", "2024-04-01 00:00:00"),   # after as_of
    ]], "session_key string, event_ts timestamp, utm_campaign string")
    attribution_df = credits(spark, [("last_touch", "paid_search", "PD001", 1.5, "200.00"),
                                     ("last_touch", "email", "EM001", 0.5, "20.00"),
                                     ("linear", "paid_search", "PD001", 2.0, "220.00"),
                                     ("last_touch", "direct", None, 1.0, "10.00")])
    as_of = dt.date(2024, 3, 31)
    # PD001: roi (200 - 50) / 50 = 3.0; EM001 costs 0 and PD002 nothing known: roi null.
    expected_df = spark.createDataFrame([
        ("PD001", "Spring search", "paid_search", 0, 0, 0, 0, 2, 1.5, Decimal("200.00"), Decimal("50.00"),
         3.0, as_of),
        ("EM001", "March news", "email", 3, 2, 1, 1, 0, 0.5, Decimal("20.00"), Decimal("0.00"), None, as_of),
        ("PD002", "Social test", "social", 0, 0, 0, 0, 0, 0.0, Decimal("0.00"), None, None, as_of),
    ], "campaign_id string, name string, channel string, sends long, opens long, clicks long, "
       "unsubscribes long, visits long, conversions double, revenue decimal(18,2), cost decimal(14,2), "
       "roi double, as_of date")
    actual_df = at.campaign_performance(campaigns_df, email_df, web_df, attribution_df, as_of)
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_row_order=True, ignore_nullable=True)
