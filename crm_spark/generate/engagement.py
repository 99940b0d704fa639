"""E-mail campaigns, the purchases their clicks cause, and web sessions with their events."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws, population
from crm_spark.generate.catalog import PAID_CHANNELS, SKUS_PER_CATEGORY, email_campaign_dates, sku
from crm_spark.generate.systems import _source_id

SEND_RATE = 0.7          # share of opted-in persons each newsletter is sent to
CLICK_GIVEN_OPEN = 0.35
UNSUBSCRIBE_PER_SEND = 0.015
CLICK_CONVERSION = 0.3   # a click buys within days with this probability (attribution signal)
PAID_TOUCH_RATE = 0.3    # persons whose first order follows a paid-campaign visit
BROWSE_PER_30_DAYS = (0.15, 0.75)  # per-person browsing rate, uniform in this range, while alive
BROWSE_TAIL_DAYS = 14    # a dropped-out person may still look around this long
OPEN_AFTER_DROPOUT = 0.2  # factor on the open probability of newsletters sent after dropping out
TS = "yyyy-MM-dd HH:mm:ss"


def email_events(persons: DataFrame, churn: DataFrame, gen: GenerateConfig) -> tuple[DataFrame, DataFrame]:
    """Sends, opens, clicks and unsubscribes of the monthly newsletters, keyed by e-mail.

    Returns:
        (events: person_id, campaign_id, email, event_type, event_ts;
         purchases caused by clicks: person_id, seq, order_ts, value, origin, campaign_id)
    """
    seed = gen.seed
    pid = F.col("person_id")
    dates = email_campaign_dates(gen)
    calendar = F.array(*[F.struct(F.lit(i).alias("idx"), F.lit(f"EM{i + 1:03d}").alias("id"),
                                  F.lit(d).alias("day")) for i, d in enumerate(dates)])
    unsubscribe_after = F.floor(F.log(draws.uniform(seed, "unsub", pid))
                                / F.log(F.lit(1 - UNSUBSCRIBE_PER_SEND)))
    eligible = persons.where("email_opt_in").join(churn, "person_id", "left").select(
        "person_id", "email", "engagement", "nu", "churned_at",
        F.filter(calendar, lambda c: c["day"] > F.to_date("acquired_at")).alias("campaigns"),
        unsubscribe_after.alias("unsub_n"),
    )
    sent = (
        eligible.select("*", F.posexplode("campaigns").alias("n", "c"))
        .where(F.col("n") <= F.col("unsub_n"))
        .select("person_id", "email", "engagement", "nu", "churned_at", F.col("c.id").alias("campaign_id"),
                F.col("c.day").alias("day"), (F.col("n") == F.col("unsub_n")).alias("unsubscribes"))
    )
    key = [pid, F.col("campaign_id")]
    sent = sent.where(draws.chance(SEND_RATE, seed, "send", *key) | F.col("unsubscribes"))
    send_ts = F.unix_timestamp(F.col("day").cast("timestamp")) + 8 * 3600 \
        + draws.integer(0, 4 * 3600, seed, "send_ts", *key)
    dropped_out = F.col("churned_at").isNotNull() & (send_ts > F.unix_timestamp("churned_at"))
    open_rate = F.col("engagement") * 1.6 * F.when(dropped_out, OPEN_AFTER_DROPOUT).otherwise(1.0)
    opened = draws.chance(open_rate, seed, "open", *key) | F.col("unsubscribes")
    clicked = opened & ~F.col("unsubscribes") & draws.chance(CLICK_GIVEN_OPEN, seed, "click", *key)
    open_ts = send_ts + draws.integer(300, 3 * 86400, seed, "open_ts", *key)
    click_ts = open_ts + draws.integer(5, 600, seed, "click_ts", *key)
    events = sent.select(
        "person_id", "campaign_id", "email",
        F.array(
            F.struct(F.lit("send").alias("event_type"), send_ts.alias("epoch")),
            F.when(opened, F.struct(F.lit("open").alias("event_type"), open_ts.alias("epoch"))),
            F.when(clicked, F.struct(F.lit("click").alias("event_type"), click_ts.alias("epoch"))),
            F.when(F.col("unsubscribes"), F.struct(F.lit("unsubscribe").alias("event_type"),
                                                   (open_ts + 30).alias("epoch"))),
        ).alias("events"),
        clicked.alias("clicked"), click_ts.alias("click_epoch"), "nu",
    )
    rows = events.select("person_id", "campaign_id", "email", F.explode(
        F.filter("events", lambda e: e.isNotNull())).alias("e")).select(
        "person_id", "campaign_id", "email", F.col("e.event_type").alias("event_type"),
        F.timestamp_seconds("e.epoch").alias("event_ts"))
    return rows, _click_purchases(events, churn, gen)


def _click_purchases(events: DataFrame, churn: DataFrame, gen: GenerateConfig) -> DataFrame:
    seed = gen.seed
    key = [F.col("person_id"), F.col("campaign_id")]
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    buy_epoch = F.col("click_epoch") + draws.integer(600, 4 * 86400, seed, "buy_ts", *key)
    clicks = events.where("clicked").join(churn, "person_id", "left")
    alive = F.col("churned_at").isNull() | (F.col("click_epoch") < F.unix_timestamp("churned_at"))
    return clicks.where(alive & draws.chance(CLICK_CONVERSION, seed, "convert", *key)
                        & (buy_epoch < end)).select(
        "person_id",
        F.substring("campaign_id", 3, 3).cast("int").alias("seq"),
        F.timestamp_seconds(buy_epoch).alias("order_ts"),
        draws.gamma(population.P, F.col("nu"), seed, "campaign_spend", *key).alias("value"),
        F.lit("campaign").alias("origin"),
        "campaign_id",
    )


def web_sessions(persons: DataFrame, churn: DataFrame, orders: DataFrame, order_lines: DataFrame,
                 email_rows: DataFrame, gen: GenerateConfig) -> DataFrame:
    """Sessions of four kinds: before each shop order, after each newsletter click, before a
    paid-campaign acquisition, and plain browsing (a quarter of it abandons a cart).

    Returns: person_id, session_key, start_epoch, kind, skus, utm_source, utm_medium,
    utm_campaign, logged_in
    """
    seed = gen.seed
    pid = F.col("person_id")
    order_skus = order_lines.groupBy("order_id").agg(F.sort_array(F.collect_list("sku")).alias("skus"))
    order_sessions = orders.where("channel = 'shop'").join(order_skus, "order_id", "inner").select(
        "person_id", F.concat(F.lit("o"), "order_id").alias("session_key"),
        (F.unix_timestamp("order_ts") - 900).alias("start_epoch"), F.lit("order").alias("kind"),
        "skus",
        F.when(F.col("campaign_id").isNotNull(), "newsletter").alias("utm_source"),
        F.when(F.col("campaign_id").isNotNull(), "email").alias("utm_medium"),
        F.col("campaign_id").alias("utm_campaign"), F.lit(True).alias("logged_in"))
    clicks = email_rows.where("event_type = 'click'").select(
        "person_id", F.concat(F.lit("c"), F.col("campaign_id")).alias("session_key"),
        F.unix_timestamp("event_ts").alias("start_epoch"), F.lit("campaign").alias("kind"),
        F.array().cast("array<string>").alias("skus"), F.lit("newsletter").alias("utm_source"),
        F.lit("email").alias("utm_medium"), F.col("campaign_id").alias("utm_campaign"),
        F.lit(False).alias("logged_in"))
    channel = draws.integer(0, len(PAID_CHANNELS) - 1, seed, "paid_channel", pid)
    quarter = _quarter_index(F.to_date("acquired_at"), gen.start_date)
    paid = persons.where(draws.chance(PAID_TOUCH_RATE, seed, "paid", pid)).select(
        "person_id", F.lit("paid").alias("session_key"),
        (F.unix_timestamp("acquired_at") - draws.integer(3600, 3 * 86400, seed, "paid_ts", pid))
        .alias("start_epoch"), F.lit("paid").alias("kind"),
        F.array().cast("array<string>").alias("skus"),
        F.element_at(F.array(*[F.lit(s) for _, s, _ in PAID_CHANNELS]), channel + 1).alias("utm_source"),
        F.element_at(F.array(*[F.lit(m) for _, _, m in PAID_CHANNELS]), channel + 1).alias("utm_medium"),
        F.format_string("PD%03d", quarter * len(PAID_CHANNELS) + channel + 1).alias("utm_campaign"),
        F.lit(False).alias("logged_in"))
    browse = _browse_sessions(persons, churn, gen)
    return order_sessions.unionByName(clicks).unionByName(paid).unionByName(browse)


def _browse_sessions(persons: DataFrame, churn: DataFrame, gen: GenerateConfig) -> DataFrame:
    """Browsing at a per-person rate from 30 days before acquisition until dropping out (plus a
    short tail) or the end: a person who stopped buying also stops visiting (a churn signal)."""
    seed = gen.seed
    pid = F.col("person_id")
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    first = F.unix_timestamp("acquired_at") - 30 * 86400
    last = F.least(end, F.coalesce(F.unix_timestamp("churned_at") + BROWSE_TAIL_DAYS * 86400, end))
    low, high = BROWSE_PER_30_DAYS
    rate = low + (high - low) * draws.uniform(seed, "browse_rate", pid)
    expected = rate * (last - first) / (30 * 86400)
    n = F.floor(expected + draws.uniform(seed, "browse_n", pid)).cast("int")
    sessions = persons.join(churn, "person_id", "left").select(
        "person_id", "acquired_at", "taste", "in_shop", first.alias("first"), last.alias("last"),
        F.explode(draws.ordinals(n)).alias("k"))
    key = [pid, F.col("k")]
    span = F.col("last") - F.col("first")
    start = F.col("first") + F.floor(draws.uniform(seed, "browse_ts", *key) * span)
    views = draws.integer(1, 3, seed, "views", *key)
    skus = F.transform(F.sequence(F.lit(1), views), lambda i: sku(
        F.when(draws.chance(0.7, seed, "view_cat", pid, F.col("k"), i), F.col("taste"))
        .otherwise(draws.integer(0, len(population.CATEGORIES) - 1, seed, "view_any", pid,
                                 F.col("k"), i)),
        draws.integer(0, SKUS_PER_CATEGORY - 1, seed, "view_sku", pid, F.col("k"), i)))
    logged_in = F.col("in_shop") & (start > F.unix_timestamp("acquired_at")) \
        & draws.chance(0.5, seed, "login", *key)
    return sessions.select(
        "person_id", F.concat(F.lit("b"), F.col("k").cast("string")).alias("session_key"),
        start.cast("long").alias("start_epoch"),
        F.when(draws.chance(0.25, seed, "abandon", *key), "abandon").otherwise("browse").alias("kind"),
        skus.alias("skus"), F.lit(None).cast("string").alias("utm_source"),
        F.lit(None).cast("string").alias("utm_medium"), F.lit(None).cast("string").alias("utm_campaign"),
        logged_in.alias("logged_in"))


def web_events(sessions: DataFrame, gen: GenerateConfig) -> DataFrame:
    """One row per event: page_view, login, product_view per sku, add_to_cart for order and
    abandoned sessions, checkout for order sessions. A person browses from one of two cookies;
    only logged-in events carry the shop account id."""
    seed = gen.seed
    key = [F.col("person_id"), F.col("session_key")]
    cookie = F.concat(F.lit("ck"), F.lpad(F.hex(F.xxhash64(
        F.lit(seed), F.lit("cookie"), F.col("person_id"),
        draws.integer(0, 1, seed, "device", *key)).bitwiseAND(F.lit(0xFFFFFFFFFF))), 10, "0"))
    session_id = F.concat(F.lit("s"), F.lpad(F.hex(F.xxhash64(
        F.lit(seed), F.lit("session"), *key).bitwiseAND(F.lit(0xFFFFFFFFFFFF))), 12, "0"))
    ev = lambda kind, offset, s=None: F.struct(  # noqa: E731
        F.lit(kind).alias("event_type"), offset.cast("long").alias("offset"),
        (s if s is not None else F.lit(None).cast("string")).alias("sku"))
    skus = F.col("skus")
    carted = F.col("kind").isin("order", "abandon")
    events = F.flatten(F.array(
        F.array(ev("page_view", F.lit(0))),
        F.when(F.col("logged_in"), F.array(ev("login", F.lit(20)))).otherwise(F.array()),
        F.transform(skus, lambda s, i: ev("product_view", 60 + i * 90, s)),
        F.when(carted, F.transform(skus, lambda s, i: ev("add_to_cart", 75 + i * 90, s)))
        .otherwise(F.array()),
        F.when(F.col("kind") == "order", F.array(ev("checkout", F.size(skus) * 90 + 120)))
        .otherwise(F.array()),
    ))
    account = _source_id("A", seed, "shop", "person_id", "zero")
    rows = sessions.withColumn("zero", F.lit(0)).select(
        "person_id", "start_epoch", "utm_source", "utm_medium", "utm_campaign", "logged_in",
        cookie.alias("cookie_id"), session_id.alias("session_id"), account.alias("account_id"),
        F.posexplode(events).alias("i", "e"))
    return rows.select(
        "person_id",
        F.concat(F.col("session_id"), F.lit("-"), F.col("i").cast("string")).alias("event_id"),
        F.timestamp_seconds(F.col("start_epoch") + F.col("e.offset")).alias("event_ts"),
        "cookie_id", "session_id",
        F.when(F.col("logged_in") & (F.col("i") >= 1), F.col("account_id")).alias("account_id"),
        F.col("e.event_type").alias("event_type"),
        F.when(F.col("e.sku").isNotNull(), F.concat(F.lit("/p/"), F.col("e.sku")))
        .when(F.col("i") == 0, F.lit("/")).otherwise(F.concat(F.lit("/"), F.col("e.event_type")))
        .alias("url"),
        F.col("e.sku").alias("sku"),
        F.when(F.col("i") == 0, F.col("utm_source")).alias("utm_source"),
        F.when(F.col("i") == 0, F.col("utm_medium")).alias("utm_medium"),
        F.when(F.col("i") == 0, F.col("utm_campaign")).alias("utm_campaign"),
    )


def _quarter_index(day: Column, start: dt.date) -> Column:
    first = dt.date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    months = (F.year(day) - first.year) * 12 + F.month(day) - first.month
    return F.greatest(F.lit(0), F.floor(months / 3)).cast("int")
