"""customer_features: hand-computed values at one as_of, and no leakage of anything dated later."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark.features.customer import (
    FEATURE_COLUMNS,
    TEXT_SIGNALS,
    customer_features,
    feature_columns,
    filter_known_at,
)
from crm_spark.gold.sales import order_revenue

AS_OF = dt.date(2024, 3, 31)
BASE_AS_OF = AS_OF + dt.timedelta(days=60)  # the sales base reaches past AS_OF on purpose
ORDERS = ("customer_id string, channel string, sales_channel string, order_id string, order_ts timestamp, "
          "total decimal(14,2)")
LINES = "channel string, order_id string, amount decimal(16,3)"
WEB = "customer_id string, session_key string, event_type string, event_ts timestamp"
EMAIL = "customer_id string, event_type string, event_ts timestamp"
OLD_TICKETS = ("customer_id string, created_at timestamp, closed_at timestamp, category string, "
               "satisfaction int")
TICKETS = f"{OLD_TICKETS}, sentiment_score double, sentiment_label string"  # the text columns (D99)
CUSTOMERS = "customer_id string, first_seen_at timestamp"


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def order(customer, sales_channel, order_id, at, total):
    amount = None if total is None else Decimal(total)
    return (customer, sales_channel, sales_channel, order_id, ts(at), amount)


# c1: purchases 90 (Jan 1), 45 (Feb 15), 10 (Mar 21), 0 (Mar 31) days before AS_OF; a cancellation 6
# days before.
# c4: purchases 30 and 20 days before AS_OF, both in a store. c2 never buys. Guests count nowhere.
ORDER_ROWS = [
    order("c1", "store", "o1", "2024-01-01 12:00:00", "100.00"),
    order("c1", "web", "o2", "2024-02-15 10:00:00", None),  # revenue from its lines: 30 + 20
    order("c1", "web", "o3", "2024-03-21 12:00:00", "30.00"),
    order("c1", "web", "o4", "2024-03-25 12:00:00", "-10.00"),  # cancellation: revenue, not a purchase
    order("c1", "web", "o5", "2024-03-31 23:30:00", "20.00"),
    order("c4", "store", "o6", "2024-03-01 12:00:00", "40.00"),
    order("c4", "store", "o7", "2024-03-11 12:00:00", "60.00"),
    order(None, "web", "o8", "2024-03-30 12:00:00", "500.00"),
]
LINE_ROWS = [("web", "o2", Decimal("30.000")), ("web", "o2", Decimal("20.000"))]
WEB_ROWS = [
    # s1: a cart and no purchase within 24 h (the next one is 37.5 h later): abandoned.
    ("c1", "s1", "page_view", ts("2024-03-30 10:00:00")),
    ("c1", "s1", "product_view", ts("2024-03-30 10:01:00")),
    ("c1", "s1", "add_to_cart", ts("2024-03-30 10:02:00")),
    # s2: checked out. s3: no checkout, but o2 follows 22 h after the cart: not abandoned.
    ("c1", "s2", "product_view", ts("2024-03-21 11:00:00")),
    ("c1", "s2", "add_to_cart", ts("2024-03-21 11:05:00")),
    ("c1", "s2", "checkout", ts("2024-03-21 11:10:00")),
    ("c1", "s3", "product_view", ts("2024-02-14 12:00:00")),
    ("c1", "s3", "add_to_cart", ts("2024-02-14 12:05:00")),
    # s4: a cart after the last purchase known at AS_OF: abandoned as seen at AS_OF.
    ("c1", "s4", "add_to_cart", ts("2024-03-31 23:45:00")),
    (None, "s9", "add_to_cart", ts("2024-03-30 12:00:00")),  # anonymous cookie
]
EMAIL_ROWS = [
    ("c1", "send", ts("2024-03-30 07:00:00")), ("c1", "open", ts("2024-03-30 08:00:00")),
    ("c1", "click", ts("2024-03-30 08:05:00")), ("c1", "open", ts("2024-01-15 08:00:00")),
    ("c1", "unsubscribe", ts("2024-03-31 09:00:00")), ("c2", "open", ts("2024-03-15 08:00:00")),
]
TICKET_ROWS = [
    # 121 days back, still open: a negative text outside the 90 days
    ("c1", ts("2023-12-01 09:00:00"), None, "refund", None, -0.7, "negative"),
    ("c1", ts("2024-01-10 09:00:00"), ts("2024-01-11 09:00:00"), "billing", 4, -0.5, "negative"),
    ("c1", ts("2024-03-20 09:00:00"), ts("2024-03-22 09:00:00"), "delivery", 2, 0.4, "positive"),  # complaint
    # rated after AS_OF; a text VADER does not read (another language): no score
    ("c1", ts("2024-03-30 09:00:00"), ts("2024-04-02 09:00:00"), "product", 1, None, None),
    ("c4", ts("2024-03-25 09:00:00"), ts("2024-03-26 09:00:00"), "complaint", None, -0.9, "negative"),
]
CUSTOMER_ROWS = [
    ("c1", ts("2023-01-01 00:00:00")), ("c2", ts("2024-03-01 09:00:00")), ("c4", ts("2023-06-01 00:00:00")),
    ("c3", ts("2024-04-10 00:00:00")),  # first seen after AS_OF: no row
]

# Everything below is dated after AS_OF; each row would change a feature if it leaked.
FUTURE_ORDERS = [
    order("c1", "web", "o9", "2024-04-01 00:00:00", "70.00"),  # the first instant after AS_OF
    order("c1", "web", "o10", "2024-04-01 08:00:00", None),  # would rescue s4's cart
    order("c3", "web", "o11", "2024-04-15 12:00:00", "80.00"),
]
FUTURE_LINES = [("web", "o10", Decimal("40.000")), ("web", "o10", Decimal("5.000"))]
FUTURE_WEB = [("c1", "s4", "checkout", ts("2024-04-01 00:10:00")),  # would close s4's cart
              ("c1", "s5", "product_view", ts("2024-04-01 00:00:00")),
              ("c2", "s6", "add_to_cart", ts("2024-04-03 10:00:00"))]
FUTURE_EMAIL = [("c1", "open", ts("2024-04-01 00:00:00")), ("c2", "unsubscribe", ts("2024-05-01 10:00:00"))]
FUTURE_TICKETS = [
    ("c2", ts("2024-04-02 09:00:00"), ts("2024-04-02 10:00:00"), "complaint", 1, -0.95, "negative"),
    ("c1", ts("2024-04-01 00:00:00"), None, "refund", None, -0.8, "negative"),
]
FUTURE_CUSTOMERS = [("c5", ts("2024-04-01 00:00:00"))]


def features(spark, future: bool = False):
    def frame(rows, later, schema):
        return spark.createDataFrame(rows + (later if future else []), schema)

    sales_df = order_revenue(frame(ORDER_ROWS, FUTURE_ORDERS, ORDERS),
                             frame(LINE_ROWS, FUTURE_LINES, LINES), BASE_AS_OF)
    web_df, email_df = frame(WEB_ROWS, FUTURE_WEB, WEB), frame(EMAIL_ROWS, FUTURE_EMAIL, EMAIL)
    return customer_features(sales_df, web_df, email_df, frame(TICKET_ROWS, FUTURE_TICKETS, TICKETS),
                             frame(CUSTOMER_ROWS, FUTURE_CUSTOMERS, CUSTOMERS), AS_OF)


@pytest.fixture(scope="module")
def features_df(spark):
    """The features at AS_OF of the inline data without future rows, computed once for the module."""
    df = features(spark).cache()
    yield df
    df.unpersist()


def test_features_ignore_everything_dated_after_as_of(spark, features_df):
    now_df = features_df
    later_df = features(spark, future=True)
    assert now_df.columns == ["customer_id", "as_of", *feature_columns()]
    assert_df_equality(later_df, now_df, ignore_row_order=True)


def assert_features(spark, features_df, schema: str, rows: list[tuple], rounded: tuple[str, ...] = ()):
    """The columns of ``schema`` (``name type, ...``) in ``features_df`` equal ``rows``, in any
    order; the ``rounded`` columns are compared at 6 decimals."""
    names = [c.split()[0] for c in schema.split(", ")]
    actual = features_df.select(*[F.round(c, 6).alias(c) if c in rounded else c for c in names])
    expected = spark.createDataFrame(rows, schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


PURCHASE_COLUMNS = ("customer_id string, recency_days int, tenure_days int, purchases_lifetime long, "
                    "revenue_lifetime decimal(18,2), avg_order_value double, "
                    "purchase_trend_30_vs_prev_30 double, purchase_trend_30_vs_prev_90 double, "
                    "gap_mean_days double, gap_std_days double, recency_vs_gap_mean double, "
                    "purchases_30d long, purchases_90d long, purchases_365d long, revenue_30d decimal(18,2), "
                    "revenue_90d decimal(18,2), web_purchase_share double, store_purchase_share double")


def test_purchase_features_by_hand(spark, features_df):
    # c1: tenure 2023-01-01 -> 2024-03-31 = 365 + 90 = 455; 4 purchases, revenue 100 + 50 + 30 - 10 + 20
    # = 190, average order 200 / 4 = 50. Days before AS_OF: 90, 45, 10, 0 -> 30d: 2; 90d: 3 (90 is outside);
    # revenue 30d = 30 - 10 + 20 = 40, 90d = 50 + 40 = 90. Trends: days 30-59 hold 1, days 30-119 hold 2:
    # (2 + 1) / (1 + 1) = 1.5 and (2 + 1) / (2 / 3 + 1) = 1.8. Gaps 45, 35, 10: mean 30, sample sd
    # sqrt((15^2 + 5^2 + 20^2) / 2) = sqrt(325) = 18.027756. Recency 0 / 30 = 0. Channels: 3 web, 1 store.
    # c4: tenure 214 + 90 = 304; purchases 30 and 20 days back: recency 20, 30d 1 (revenue 60), 90d 2;
    # gap 10 (one gap: no sd), 20 / 10 = 2; trends (1 + 1) / (1 + 1) = 1 and (1 + 1) / (1 / 3 + 1) = 1.5.
    # c2: tenure 30, no purchases: counts 0, trends (0 + 1) / (0 + 1) = 1, the rest unknown.
    assert_features(spark, features_df, PURCHASE_COLUMNS, [
        ("c1", 0, 455, 4, Decimal("190.00"), 50.0, 1.5, 1.8, 30.0, 18.027756, 0.0, 2, 3, 4,
         Decimal("40.00"), Decimal("90.00"), 0.75, 0.25),
        ("c4", 20, 304, 2, Decimal("100.00"), 50.0, 1.0, 1.5, 10.0, None, 2.0, 1, 2, 2,
         Decimal("60.00"), Decimal("100.00"), 0.0, 1.0),
        ("c2", None, 30, 0, Decimal("0.00"), None, 1.0, 1.0, None, None, None, 0, 0, 0,
         Decimal("0.00"), Decimal("0.00"), None, None),
    ], rounded=("purchase_trend_30_vs_prev_90", "gap_std_days"))


ENGAGEMENT_COLUMNS = ("customer_id string, web_sessions_30d long, web_sessions_90d long, "
                      "product_views_30d long, product_views_90d long, add_to_cart_30d long, "
                      "add_to_cart_90d long, "
                      "cart_abandonments_30d long, cart_abandonments_90d long, email_opens_30d long, "
                      "email_opens_90d long, email_clicks_30d long, email_unsubscribes_30d long, "
                      "tickets_30d long, tickets_90d long, avg_satisfaction double, has_complaint_30d int")


def test_engagement_and_service_features_by_hand(spark, features_df):
    # c1 sessions (start, days back): s1 1, s2 10, s3 46, s4 0 -> 30d 3, 90d 4; product views s1, s2 (30d)
    # + s3; carts s1, s2, s4 (30d) + s3; abandoned s1 and s4. Opens 1 and 76 days back. Tickets 121, 81, 11
    # and 1 days back; the ratings known at AS_OF are 4 and 2: mean 3, and the 2 is a complaint.
    # c4: a 'complaint' ticket 6 days back without rating. c2: one open 16 days back.
    assert_features(spark, features_df, ENGAGEMENT_COLUMNS, [
        ("c1", 3, 4, 2, 3, 3, 4, 2, 2, 1, 2, 1, 1, 2, 3, 3.0, 1),
        ("c4", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, None, 1),
        ("c2", 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, None, 0),
    ])


TEXT_COLUMNS = ("customer_id string, negative_tickets_90d long, days_since_negative_ticket int, "
                "ticket_sentiment_90d double")


def test_ticket_text_signals_by_hand(spark, features_df):
    # c1: negative texts 121 and 81 days back (only the second within 90 days); the last 90 days'
    # scores are -0.5 and 0.4 (the ticket 1 day back has none): mean -0.05.
    # c4: one negative ticket 6 days back, score -0.9. c2: no ticket known at AS_OF.
    assert_features(spark, features_df, TEXT_COLUMNS, [
        ("c1", 1, 81, -0.05),
        ("c4", 1, 6, -0.9),
        ("c2", 0, None, None),
    ], rounded=("ticket_sentiment_90d",))


def test_the_churn_model_reads_every_feature_but_the_text_signals():
    # measured without gain on the out-of-time ROC-AUC (D101): in the table, not in the model
    text_signals = ("negative_tickets_90d", "days_since_negative_ticket", "ticket_sentiment_90d")
    assert TEXT_SIGNALS == text_signals
    assert FEATURE_COLUMNS == tuple(c for c in feature_columns() if c not in text_signals)
    assert set(text_signals) < set(feature_columns())


def test_tickets_without_text_columns_give_unknown_text_signals(spark, caplog):
    # a silver table written before the text work: the other ticket features still count, the text
    # signals are unknown (0 negative tickets), and the log says how to add the columns
    old_row = ("c4", ts("2024-03-25 09:00:00"), None, "complaint", None)
    tickets_df = spark.createDataFrame([old_row], OLD_TICKETS)
    orders_df = spark.createDataFrame([order("c4", "store", "o6", "2024-03-01 12:00:00", "40.00")], ORDERS)
    sales_df = order_revenue(orders_df, spark.createDataFrame([], LINES), BASE_AS_OF)
    empty = [spark.createDataFrame([], schema) for schema in (WEB, EMAIL)]
    customers_df = spark.createDataFrame([("c4", ts("2023-06-01 00:00:00"))], CUSTOMERS)
    with caplog.at_level("WARNING", logger="crm_spark.features.customer"):
        features_df = customer_features(sales_df, *empty, tickets_df, customers_df, AS_OF)
    assert_features(spark, features_df, "customer_id string, tickets_30d long, has_complaint_30d int, "
                    "negative_tickets_90d long, days_since_negative_ticket int, ticket_sentiment_90d double",
                    [("c4", 1, 1, 0, None, None)])
    assert "crm-spark silver --rebuild" in caplog.text


def test_cut_off_is_midnight_utc_in_any_session_time_zone(spark):
    rows = [("a", ts("2024-03-31 23:59:59")), ("b", ts("2024-04-01 00:00:00"))]
    df = spark.createDataFrame(rows, CUSTOMERS)
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        kept = [r["customer_id"] for r in filter_known_at(df, "first_seen_at", AS_OF).collect()]
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
    assert kept == ["a"]


RECENCY_COLUMNS = ("customer_id string, email_sends_30d long, email_sends_90d long, "
                   "email_open_rate_90d double, "
                   "days_since_web_session int, days_since_email_open int, days_since_ticket int, "
                   "web_visit_after_purchase_days int, ticket_before_purchase_days int")


def test_engagement_recency_features_by_hand(spark, features_df):
    # c1: one send 1 day back, opens 1 and 76 days back (the older open's send is not in the data, so
    # the rate is 2 / 1); sessions 0, 1, 10, 46 days back; tickets 1, 11, 81, 121 days back; the last
    # purchase on AS_OF: visited 0 days after it, a ticket 1 day before it.
    # c4: no web or e-mail; a ticket 6 days back, the last purchase 20 days back: -14 (ticket after it).
    # c2: an open 16 days back without a send; never bought, so nothing relative to a purchase.
    assert_features(spark, features_df, RECENCY_COLUMNS, [
        ("c1", 1, 1, 2.0, 0, 1, 1, 0, 1),
        ("c4", 0, 0, None, None, None, 6, None, -14),
        ("c2", 0, 0, None, None, 16, None, None, None),
    ])


def test_a_customer_who_ordered_is_known_whatever_the_record_says(spark):
    # c7's contact record comes from an order export and kept its latest row (May 1, after
    # AS_OF), but c7 ordered on Feb 1: known at AS_OF, tenure counted from that order (D63)
    orders_df = spark.createDataFrame([order("c7", "web", "o70", "2024-02-01 12:00:00", "15.00")], ORDERS)
    sales_df = order_revenue(orders_df, spark.createDataFrame([], LINES), BASE_AS_OF)
    empty = [spark.createDataFrame([], schema) for schema in (WEB, EMAIL, TICKETS)]
    customers_df = spark.createDataFrame([("c7", ts("2024-05-01 00:00:00"))], CUSTOMERS)
    features_df = customer_features(sales_df, *empty, customers_df, AS_OF)
    rows = features_df.select("customer_id", "tenure_days", "purchases_lifetime").collect()
    assert [tuple(r) for r in rows] == [("c7", 59, 1)]   # Feb 1 -> Mar 31 of a leap year


def test_customer_360_knows_a_customer_from_the_first_order_too(spark):
    # the same c7 as above in gold.customer_360: without D63 it had no row at AS_OF
    from crm_spark.gold.customer360 import customer_360

    orders_df = spark.createDataFrame([order("c7", "web", "o70", "2024-02-01 12:00:00", "15.00")], ORDERS)
    sales_df = order_revenue(orders_df, spark.createDataFrame([], LINES), AS_OF)
    empty = [spark.createDataFrame([], schema) for schema in (WEB, EMAIL, TICKETS)]
    customers_df = spark.createDataFrame(
        [("c7", ts("2024-05-01 00:00:00"), 1, ["orders"])],
        "customer_id string, first_seen_at timestamp, record_count int, sources array<string>")
    consent_df = spark.createDataFrame([], "customer_id string, channel string, status string, "
                                           "changed_at timestamp")
    rfm_df = spark.createDataFrame([], "customer_id string, r_score int, f_score int, m_score int, "
                                       "rfm_score string, segment string")
    profile_df = customer_360(customers_df, sales_df, *empty, consent_df, rfm_df, AS_OF, profile_fields=[])
    rows = profile_df.select("customer_id", "tenure_days", "orders").collect()
    assert [tuple(r) for r in rows] == [("c7", 59, 1)]
