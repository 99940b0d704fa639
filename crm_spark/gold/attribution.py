"""Multi-touch marketing attribution: which channels and campaigns earned each purchase.

Touches are campaign web visits (UTM) and newsletter clicks of known customers; conversions are
purchases (orders of a known customer with revenue > 0). A conversion's journey is its customer's
touches in ``(conversion_ts - lookback, conversion_ts]``, nothing else: a touch can count for two
purchases inside one lookback. Six models split each conversion (1.0) and its revenue over the
journey: first_touch, last_touch, linear, time_decay, position_based (40/20/40) and markov
(removal effects, ``crm_spark.gold.markov``: all touched conversions are shared out by each
channel's share of the removal effects, then over the channel's campaigns like the linear model).
A conversion without touches goes to ('direct', null campaign) in every model, so each model's
credits add up to all conversions.

Revenue is split in whole cents, deterministically: each share gets the floor of its exact cents
and the cents left over go to the largest remainders (ties: channel, then campaign), so every
model sums to the conversions' revenue exactly. ``conversions_credited`` stays fractional (DOUBLE).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.gold import markov
from crm_spark.gold.sales import MONEY, order_revenue

log = logging.getLogger(__name__)

RULE_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
MODELS = (*RULE_MODELS, "markov")
DIRECT = "direct"
# customer_id leads every conversion key: the join on it partitions the data once for all windows.
CONVERSION_KEY = ("customer_id", "order_channel", "order_id")
MICROS_PER_DAY = 86_400 * 10**6
EMAIL_COUNTS = (("send", "sends"), ("open", "opens"), ("click", "clicks"), ("unsubscribe", "unsubscribes"))
WHOLE = (Window.unboundedPreceding, Window.unboundedFollowing)


@dataclass(frozen=True)
class AttributionConfig:
    """Attribution settings: lookback in whole days, time-decay half-life in days, and how long
    after a newsletter click its landing visit is the same touch."""

    lookback_days: int = 30
    half_life_days: float = 7.0
    click_visit_minutes: int = 30


def _horizon_micros(as_of: dt.date) -> int:
    """Microseconds since the epoch of ``as_of + 1 day`` 00:00 UTC: data before it is used."""
    start = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(start.timestamp()) * 10**6


def touchpoints_of(web_events_df: DataFrame, email_events_df: DataFrame, campaigns_df: DataFrame,
                   click_visit_minutes: int = 30) -> DataFrame:
    """Marketing touches of known customers: UTM web visits and newsletter clicks.

    A visit is the first event of a session carrying ``utm_campaign``; its channel is the
    campaign's channel, or ``utm_medium`` for campaigns missing from ``campaigns_df`` ('unknown'
    when both are null). A click opens a visit of the same campaign, so a visit starting within
    ``click_visit_minutes`` after a click of the same customer and campaign is that click, not a
    second touch. Sends and opens are not touches.

    Args:
        web_events_df: silver.web_events (customer_id, session_key, event_id, event_ts,
            utm_medium, utm_campaign).
        email_events_df: silver.email_events (customer_id, campaign_id, event_type, event_ts).
        campaigns_df: silver.campaigns (campaign_id, channel).
        click_visit_minutes: how long after a click its landing visit may start.

    Returns:
        ``customer_id, touch_ts, channel, campaign_id``.
    """
    first_event = Window.partitionBy("customer_id", "session_key", "utm_campaign").orderBy(
        "event_ts", "event_id")
    visits_df = (
        web_events_df.filter(F.col("utm_campaign").isNotNull() & F.col("customer_id").isNotNull())
        .withColumn("_n", F.row_number().over(first_event))
        .filter(F.col("_n") == 1)
        .select("customer_id", F.col("event_ts").alias("touch_ts"),
                F.col("utm_campaign").alias("campaign_id"), "utm_medium")
    )
    clicks_df = email_events_df.filter(
        (F.col("event_type") == "click") & F.col("customer_id").isNotNull() & F.col("event_ts").isNotNull()
    ).select("customer_id", F.col("event_ts").alias("touch_ts"), F.lit("email").alias("channel"),
             "campaign_id")
    landing_gap = F.expr(f"INTERVAL {int(click_visit_minutes)} MINUTES")
    is_landing = (
        (F.col("v.customer_id") == F.col("k.customer_id"))
        & (F.col("v.campaign_id") == F.col("k.campaign_id"))
        & F.col("k.touch_ts").between(F.col("v.touch_ts") - landing_gap, F.col("v.touch_ts"))
    )
    visits_df = visits_df.alias("v").join(clicks_df.alias("k"), is_landing, how="left_anti")
    channels_df = campaigns_df.select("campaign_id", F.col("channel").alias("campaign_channel"))
    visits_df = visits_df.alias("v").join(channels_df.alias("c"), on="campaign_id", how="left").select(
        "customer_id", "touch_ts",
        F.coalesce("campaign_channel", "utm_medium", F.lit("unknown")).alias("channel"), "campaign_id")
    return visits_df.unionByName(clicks_df).select("customer_id", "touch_ts", "channel", "campaign_id")


def conversions_of(orders_df: DataFrame, lines_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Purchases up to ``as_of``: orders of a known customer with revenue > 0, revenue as
    ``crm_spark.gold.sales.order_revenue`` defines it (Σ line amounts, rounded half up to the cent).

    Args:
        orders_df: silver.orders (channel, sales_channel, order_id, customer_id, order_ts, total).
        lines_df: silver.order_lines (channel, order_id, amount).
        as_of: last day included (orders with order_ts < as_of + 1 day, UTC).

    Returns:
        ``customer_id, order_channel, order_id, conversion_ts, revenue`` (DECIMAL(18,2));
        ``order_channel`` is silver's ``channel``, part of the order key.
    """
    return (
        order_revenue(orders_df, lines_df, as_of)
        .filter(F.col("is_purchase") & F.col("customer_id").isNotNull())
        .select("customer_id", F.col("channel").alias("order_channel"), "order_id",
                F.col("order_ts").alias("conversion_ts"), F.col("revenue").cast(MONEY).alias("revenue"))
    )


def attribute(touchpoints_df: DataFrame, conversions_df: DataFrame, lookback_days: int = 30,
              half_life_days: float = 7.0, as_of: dt.date | None = None) -> DataFrame:
    """Credit every conversion to the touches before it, in all six models.

    Args:
        touchpoints_df: output of ``touchpoints_of``.
        conversions_df: output of ``conversions_of``.
        lookback_days: a touch counts for conversions in the following ``lookback_days`` days.
        half_life_days: time decay halves a touch's weight per this many days before conversion.
        as_of: when given, touches after it are ignored and the Markov chain leaves out
            unconverted journeys whose lookback reaches past it (they may still convert).

    Returns:
        ``model, channel, campaign_id, conversions_credited`` (DOUBLE) ``, revenue_credited``
        (DECIMAL(18,2)), one row per model and (channel, campaign) with credit.
    """
    if as_of is not None:
        touchpoints_df = touchpoints_df.filter(
            F.unix_micros("touch_ts") < _horizon_micros(as_of))
    journeys_df = _journeys(touchpoints_df, conversions_df, lookback_days)
    shares_df = _rule_weights(journeys_df, half_life_days)
    free_df = _free_paths(touchpoints_df, conversions_df, lookback_days, as_of)
    credits_df = _allocate_cents(shares_df, CONVERSION_KEY + ("model",)).unionByName(
        _markov_credits(journeys_df, free_df))
    return credits_df.groupBy("model", "channel", "campaign_id").agg(
        F.sum("weight").cast("double").alias("conversions_credited"),
        (F.sum("cents").cast("decimal(18,0)") / 100).cast(MONEY).alias("revenue_credited"),
    ).select("model", "channel", "campaign_id", "conversions_credited", "revenue_credited")


def attribution_of(touchpoints_df: DataFrame, conversions_df: DataFrame, as_of: dt.date,
                   cfg: AttributionConfig = AttributionConfig()) -> DataFrame:
    """gold.attribution: ``attribute`` as of a date, with an ``as_of`` (DATE) column."""
    return attribute(touchpoints_df, conversions_df, cfg.lookback_days, cfg.half_life_days, as_of).select(
        "model", "channel", "campaign_id", "conversions_credited", "revenue_credited",
        F.lit(as_of).cast("date").alias("as_of"))


def campaign_performance(campaigns_df: DataFrame, email_events_df: DataFrame, web_events_df: DataFrame,
                         attribution_df: DataFrame, as_of: dt.date) -> DataFrame:
    """gold.campaign_performance: reach, response, last-touch outcome and return of each campaign.

    E-mail counts are distinct recipients (``email_match``) per event type; visits are distinct
    sessions that carried the campaign's ``utm_campaign`` (anonymous ones too); conversions and
    revenue are the last-touch model's credits (the campaign that closed the sale, the usual
    campaign report; other models are in gold.attribution). Events up to ``as_of`` count.

    Args:
        campaigns_df: silver.campaigns (campaign_id, name, channel, cost).
        email_events_df: silver.email_events (campaign_id, email_match, event_type, event_ts).
        web_events_df: silver.web_events (session_key, event_ts, utm_campaign).
        attribution_df: gold.attribution (or ``attribute``) for the same ``as_of``.
        as_of: last day included.

    Returns:
        ``campaign_id, name, channel, sends, opens, clicks, unsubscribes, visits`` (LONG),
        ``conversions`` (DOUBLE), ``revenue`` (DECIMAL(18,2)), ``cost``, ``roi`` (DOUBLE,
        (revenue - cost) / cost with the campaign's whole cost, null unless cost > 0), ``as_of``;
        one row per campaign in ``campaigns_df``.
    """
    before = F.unix_micros("event_ts") < _horizon_micros(as_of)
    email_df = email_events_df.filter(before).groupBy("campaign_id").agg(
        *[F.count_distinct(F.when(F.col("event_type") == kind, F.col("email_match"))).alias(name)
          for kind, name in EMAIL_COUNTS])
    visits_df = web_events_df.filter(before & F.col("utm_campaign").isNotNull()).groupBy(
        F.col("utm_campaign").alias("campaign_id")).agg(F.count_distinct("session_key").alias("visits"))
    won_df = attribution_df.filter(F.col("model") == "last_touch").groupBy("campaign_id").agg(
        F.sum("conversions_credited").alias("conversions"), F.sum("revenue_credited").alias("revenue"))
    revenue = F.coalesce(F.col("revenue"), F.lit(0)).cast(MONEY)
    cost = F.col("cost").cast("double")
    return (
        campaigns_df.select("campaign_id", "name", "channel", "cost")
        .join(email_df, on="campaign_id", how="left").join(visits_df, on="campaign_id", how="left")
        .join(won_df, on="campaign_id", how="left")
        .select("campaign_id", "name", "channel",
                *[F.coalesce(name, F.lit(0)).cast("long").alias(name) for _, name in EMAIL_COUNTS],
                F.coalesce("visits", F.lit(0)).cast("long").alias("visits"),
                F.coalesce("conversions", F.lit(0.0)).cast("double").alias("conversions"),
                revenue.alias("revenue"), "cost",
                F.when(cost > 0, (revenue.cast("double") - cost) / cost).alias("roi"),
                F.lit(as_of).cast("date").alias("as_of"))
    )


def _journeys(touchpoints_df: DataFrame, conversions_df: DataFrame, lookback_days: int) -> DataFrame:
    """One row per (conversion, touch in its lookback), or one 'direct' row without touches;
    adds ``position`` (1 = first touch) and ``touches`` (0 for direct)."""
    in_lookback = (
        (F.col("c.customer_id") == F.col("t.customer_id"))
        & (F.col("t.touch_ts") > F.col("c.conversion_ts") - F.expr(f"INTERVAL {int(lookback_days)} DAYS"))
        & (F.col("t.touch_ts") <= F.col("c.conversion_ts"))
    )
    by_conversion = Window.partitionBy(*CONVERSION_KEY)
    return (
        conversions_df.alias("c").join(touchpoints_df.alias("t"), in_lookback, how="left")
        .select(*[F.col(f"c.{k}") for k in CONVERSION_KEY], "c.conversion_ts", "c.revenue", "t.touch_ts",
                F.coalesce("t.channel", F.lit(DIRECT)).alias("channel"), "t.campaign_id")
        .withColumn("position", F.row_number().over(
            by_conversion.orderBy("touch_ts", "channel", "campaign_id")))
        .withColumn("touches", F.count("touch_ts").over(by_conversion.rowsBetween(*WHOLE)))
    )


def _rule_weights(journeys_df: DataFrame, half_life_days: float) -> DataFrame:
    """Per conversion, model and (channel, campaign): ``weight`` (shares summing to 1) and
    ``total_cents``; markov only gets its direct rows here."""
    n, pos = F.col("touches"), F.col("position")
    whole = Window.partitionBy(*CONVERSION_KEY).rowsBetween(*WHOLE)
    # Ages from the conversion's last touch, not from the conversion: the common factor cancels in
    # the normalisation and the last touch keeps weight 1, so a short half-life cannot underflow.
    age_days = (F.col("_last_micros") - F.unix_micros("touch_ts")) / MICROS_PER_DAY
    decay = F.pow(F.lit(2.0), -age_days / F.lit(float(half_life_days)))
    weights = {
        "first_touch": (pos == 1).cast("double"),
        "last_touch": (pos == n).cast("double"),
        "linear": 1.0 / n,
        "time_decay": F.col("_decay") / F.col("_decay_sum"),
        "position_based": F.when(n == 1, 1.0).when(n == 2, 0.5).when((pos == 1) | (pos == n), 0.4)
        .otherwise(0.2 / (n - 2)),
        "markov": F.lit(0.0),
    }
    models = F.array(*[F.struct(F.lit(m).alias("model"), F.when(n == 0, 1.0).otherwise(w).alias("weight"))
                       for m, w in weights.items()])
    return (
        journeys_df.withColumn("_last_micros", F.max(F.unix_micros("touch_ts")).over(whole))
        .withColumn("_decay", decay)
        .withColumn("_decay_sum", F.sum("_decay").over(whole))
        .select(*CONVERSION_KEY, "revenue", "channel", "campaign_id", F.explode(models).alias("m"))
        .filter(F.col("m.weight") > 0)
        .groupBy(*CONVERSION_KEY, F.col("m.model").alias("model"), "channel", "campaign_id")
        .agg(F.sum("m.weight").alias("weight"), F.max("revenue").alias("revenue"))
        .select(*CONVERSION_KEY, "model", "channel", "campaign_id", "weight",
                (F.col("revenue") * 100).cast("long").alias("total_cents"))
    )


def _allocate_cents(shares_df: DataFrame, by: tuple[str, ...], share: str = "weight") -> DataFrame:
    """Split ``total_cents`` over the rows of each ``by`` group by ``share`` (summing to 1 in the
    group) in whole cents that add up exactly: floors first, then one cent each to the largest
    remainders. Output: model, channel, campaign_id, weight, cents."""
    exact = F.col(share) * F.col("total_cents")
    group = Window.partitionBy(*by)
    by_remainder = group.orderBy(F.col("_fraction").desc(), "channel", "campaign_id")
    return (
        shares_df.withColumn("_floor", F.floor(exact).cast("long"))
        .withColumn("_fraction", exact - F.col("_floor"))
        .withColumn("_left", F.col("total_cents") - F.sum("_floor").over(group.rowsBetween(*WHOLE)))
        .withColumn("cents", F.col("_floor")
                    + (F.row_number().over(by_remainder) <= F.col("_left")).cast("long"))
        .select("model", "channel", "campaign_id", "weight", "cents")
    )


def _free_paths(touchpoints_df: DataFrame, conversions_df: DataFrame, lookback_days: int,
                as_of: dt.date | None) -> DataFrame:
    """Journeys that did not convert: a customer's consecutive touches that no conversion follows
    within the lookback, split where two are ``lookback`` or more apart. Output: path_id, step,
    channel, is_converted (false)."""
    lookback = int(lookback_days) * MICROS_PER_DAY
    micros = F.unix_micros("ts")
    events_df = touchpoints_df.select("customer_id", F.col("touch_ts").alias("ts"), "channel", "campaign_id",
                                      F.lit(0).alias("kind")).unionByName(
        conversions_df.select("customer_id", F.col("conversion_ts").alias("ts"), F.lit(None).cast("string")
                              .alias("channel"), F.lit(None).cast("string").alias("campaign_id"),
                              F.lit(1).alias("kind")))
    # Touches sort before a conversion at the same instant: that conversion's window includes them.
    by_customer = Window.partitionBy("customer_id").orderBy("ts", "kind", "channel", "campaign_id")
    next_conversion = F.min(F.when(F.col("kind") == 1, micros)).over(
        by_customer.rowsBetween(Window.currentRow, Window.unboundedFollowing))
    is_free = (F.col("kind") == 0) & ~F.coalesce(next_conversion - micros < lookback, F.lit(False))
    starts_path = ~F.coalesce(F.lag("is_free").over(by_customer), F.lit(False)) | (
        micros - F.lag(micros).over(by_customer) >= lookback)
    paths_df = (
        events_df.withColumn("is_free", is_free)
        .withColumn("path_no", F.sum(starts_path.cast("int")).over(
            by_customer.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
        .filter("is_free")
        .withColumn("path_id", F.concat_ws("|", F.lit("free"), "customer_id", "path_no"))
    )
    by_path = Window.partitionBy("customer_id", "path_no")
    if as_of is not None:
        paths_df = paths_df.withColumn("_end", F.max(micros).over(by_path.rowsBetween(*WHOLE))).filter(
            F.col("_end") + lookback <= _horizon_micros(as_of))
    return paths_df.select("path_id", F.row_number().over(by_path.orderBy("ts", "channel", "campaign_id"))
                           .alias("step"), "channel", F.lit(False).alias("is_converted"))


def _markov_credits(journeys_df: DataFrame, free_df: DataFrame) -> DataFrame:
    """Markov credits of the touched conversions: their count and revenue times each channel's
    share of the removal effects, split over the channel's campaigns like the linear model
    (conversions by linear conversions, revenue by unrounded linear revenue). Output like
    ``_allocate_cents``."""
    touched_df = journeys_df.filter(F.col("touches") > 0)
    converted_df = touched_df.select(
        F.concat_ws("|", F.lit("conv"), *CONVERSION_KEY).alias("path_id"), F.col("position").alias("step"),
        "channel", F.lit(True).alias("is_converted"))
    counts = markov.transition_counts(converted_df.unionByName(free_df)).collect()
    effects = markov.removal_effects((r.from_state, r.to_state, r.transitions) for r in counts)
    log.info("markov removal effects from %d transitions: %s", sum(r.transitions for r in counts), effects)
    total = sum(effects.values())
    # total is 0 only when nothing converted after a touch, and then there is nothing to credit.
    effect_shares = [(c, e / total) for c, e in effects.items()] if total > 0 else []
    effects_df = journeys_df.sparkSession.createDataFrame(
        effect_shares, "channel string, effect_share double")
    totals_df = touched_df.filter(F.col("position") == 1).agg(
        F.count(F.lit(1)).alias("conversions"), (F.sum("revenue") * 100).cast("long").alias("total_cents"))
    linear_df = touched_df.groupBy("channel", "campaign_id").agg(
        F.sum(1.0 / F.col("touches")).alias("linear_conversions"),
        F.sum(F.col("revenue").cast("double") * 100 / F.col("touches")).alias("linear_cents"))
    in_channel = Window.partitionBy("channel").rowsBetween(*WHOLE)
    markov_df = linear_df.join(effects_df, on="channel", how="inner").crossJoin(totals_df).select(
        F.lit("markov").alias("model"), "channel", "campaign_id", "total_cents",
        (F.col("conversions") * F.col("effect_share") * F.col("linear_conversions")
         / F.sum("linear_conversions").over(in_channel)).alias("weight"),
        (F.col("effect_share") * F.col("linear_cents") / F.sum("linear_cents").over(in_channel))
        .alias("revenue_share"))
    return _allocate_cents(markov_df, ("model",), share="revenue_share")
