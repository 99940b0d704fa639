"""Customer journeys (the channel paths that lead to a purchase or not) and the web funnel.

A *touch* is a web session of a known customer (at its first event, channel = ``utm_medium`` of
that event, 'direct' when null) or an e-mail click of a known customer (channel 'email'). A
newsletter click and the session it opens give 'email > email', which the collapsing of repeated
channels turns into one step.

Every touch belongs to at most one journey. A touch followed by a purchase of the same customer
within ``lookback_days`` (``0 <= purchase_ts - touch_ts < lookback``, the window of
``crm_spark.gold.attribution``) belongs to the converted journey of the *first* such purchase, so a
second purchase does not count its predecessor's touches again. The other touches form
unconverted journeys: a customer's run of them, split at a purchase and where two touches are
``lookback`` or more apart. An unconverted journey whose last touch is less than ``lookback``
before ``as_of + 1 day`` may still convert and is left out until it cannot. Purchases without any
touch in their lookback (most shop purchases) are not journeys.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.gold.sales import MONEY, filter_as_of

DIRECT = "direct"
EMAIL = "email"
MICROS_PER_DAY = 86_400 * 10**6
FUNNEL_STEPS = ("visit", "product_view", "add_to_cart", "checkout", "purchase")
# A session's purchase may come up to a day after its last event (module doc of ``funnel``).
PURCHASE_WINDOW_MICROS = MICROS_PER_DAY
PATH_SEPARATOR = " > "


def _horizon_micros(as_of: dt.date) -> int:
    """Microseconds since the epoch of ``as_of + 1 day`` 00:00 UTC: data before it is used."""
    start = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(start.timestamp()) * 10**6


def _step_of(event_type: Column) -> Column:
    """Funnel step order of one event: 1 visit (any event) .. 4 checkout."""
    return (F.when(event_type == "checkout", 4).when(event_type == "add_to_cart", 3)
            .when(event_type == "product_view", 2).otherwise(1))


def sessions_of(web_events_df: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per web session, from its events with ``event_ts < as_of + 1 day`` (UTC).

    A session belongs to the customer of its first event that carries a ``customer_id`` (null for
    sessions that never identify); its channel is the first event's ``utm_medium``, or 'direct'.

    Args:
        web_events_df: silver.web_events; requires ``session_key, event_id, event_ts, customer_id,
            event_type, utm_medium``.
        as_of: last UTC day included.

    Returns:
        ``session_key, customer_id, channel, start_micros, end_micros`` (LONG, first and last event,
        microseconds since the epoch), ``furthest_step`` (INT 1..4, see ``FUNNEL_STEPS``).
    """
    micros = F.unix_micros("event_ts")
    first = F.struct(F.col("event_ts"), F.col("event_id"))
    # min_by skips rows whose ordering value is null, so the null here skips anonymous events.
    first_known = F.when(F.col("customer_id").isNotNull(), first)
    return (
        web_events_df.filter(micros < _horizon_micros(as_of))
        .groupBy("session_key")
        .agg(F.min_by("customer_id", first_known).alias("customer_id"),
             F.min_by("utm_medium", first).alias("utm_medium"),
             F.min(micros).alias("start_micros"), F.max(micros).alias("end_micros"),
             F.max(_step_of(F.col("event_type"))).alias("furthest_step"))
        .select("session_key", "customer_id", F.coalesce("utm_medium", F.lit(DIRECT)).alias("channel"),
                "start_micros", "end_micros", F.col("furthest_step").cast("int").alias("furthest_step"))
    )


def _purchases(sales_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Purchases of known customers up to ``as_of``: customer_id, order_id, micros, revenue."""
    is_known_purchase = F.col("is_purchase") & F.col("customer_id").isNotNull()
    return filter_as_of(sales_df, as_of).filter(is_known_purchase).select(
        "customer_id", "order_id", F.unix_micros("order_ts").alias("micros"), "revenue")


def touches_of(web_events_df: DataFrame, email_events_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Touches of known customers before ``as_of + 1 day``: sessions and e-mail clicks.

    Args:
        web_events_df: silver.web_events (as ``sessions_of``).
        email_events_df: silver.email_events; requires ``customer_id, event_type, event_ts``.
        as_of: last UTC day included.

    Returns:
        ``customer_id, micros`` (LONG, touch time in microseconds since the epoch), ``channel``.
    """
    sessions_df = sessions_of(web_events_df, as_of).filter(F.col("customer_id").isNotNull()).select(
        "customer_id", F.col("start_micros").alias("micros"), "channel")
    micros = F.unix_micros("event_ts")
    is_click = F.col("event_type") == "click"
    clicks_df = email_events_df.filter(
        is_click & F.col("customer_id").isNotNull() & (micros < _horizon_micros(as_of))
    ).select("customer_id", micros.alias("micros"), F.lit(EMAIL).alias("channel"))
    return sessions_df.unionByName(clicks_df)


def journeys(web_events_df: DataFrame, email_events_df: DataFrame, sales_df: DataFrame, as_of: dt.date,
             lookback_days: int = 30, max_steps: int = 8) -> DataFrame:
    """gold.journeys: how many journeys took each channel path, and whether they converted.

    A journey's path is its touches' channels in time order (ties by channel), with consecutive
    repeats collapsed ('email > email > direct' is 'email > direct') and, when longer than
    ``max_steps``, only its last ``max_steps`` steps kept. See the module doc for what a journey is.

    Args:
        web_events_df: silver.web_events (as ``sessions_of``).
        email_events_df: silver.email_events (as ``touches_of``).
        sales_df: ``order_revenue`` output; requires ``customer_id, order_id, order_ts, order_date,
            revenue, is_purchase``.
        as_of: last UTC day included.
        lookback_days: a touch leads to a purchase at most this many days later.
        max_steps: longest path kept.

    Returns:
        ``path`` (STRING, channels joined by ' > '), ``steps`` (INT, channels in ``path``),
        ``converted`` (BOOLEAN), ``journeys`` (LONG), ``revenue`` (DECIMAL(18,2), the purchases'
        revenue; 0 for unconverted paths), ``as_of`` (DATE); one row per (path, converted).
    """
    lookback = int(lookback_days) * MICROS_PER_DAY
    null_text = F.lit(None).cast("string")
    events_df = touches_of(web_events_df, email_events_df, as_of).select(
        "customer_id", "micros", "channel", F.lit(0).alias("kind"), null_text.alias("order_id"),
        F.lit(None).cast(MONEY).alias("revenue")
    ).unionByName(_purchases(sales_df, as_of).select(
        "customer_id", "micros", null_text.alias("channel"), F.lit(1).alias("kind"), "order_id",
        F.col("revenue").cast(MONEY).alias("revenue")))
    # Touches sort before a purchase at the same instant: that purchase's lookback includes them.
    by_customer = Window.partitionBy("customer_id").orderBy("micros", "kind", "channel", "order_id")
    next_purchase = F.min(F.when(F.col("kind") == 1, F.col("micros"))).over(
        by_customer.rowsBetween(Window.currentRow, Window.unboundedFollowing))
    is_free = (F.col("kind") == 0) & ~F.coalesce(next_purchase - F.col("micros") < lookback, F.lit(False))
    # A converted journey is keyed by the purchases before it; its purchase has the same key.
    purchases_before = F.coalesce(F.sum("kind").over(
        by_customer.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0))
    starts_free_run = ~F.coalesce(F.lag("is_free").over(by_customer), F.lit(False)) | (
        F.col("micros") - F.lag("micros").over(by_customer) >= lookback)
    free_run = F.sum(starts_free_run.cast("int")).over(
        by_customer.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    keyed_df = (
        events_df.withColumn("is_free", is_free)
        .withColumn("converted", ~F.col("is_free"))
        .withColumn("journey_no", F.when(F.col("is_free"), free_run).otherwise(purchases_before))
    )
    touch = F.when(F.col("kind") == 0, F.struct("micros", "channel"))
    per_journey_df = (
        keyed_df.groupBy("customer_id", "converted", "journey_no")
        .agg(F.array_sort(F.collect_list(touch)).alias("touches"),
             F.max(F.when(F.col("kind") == 0, F.col("micros"))).alias("last_touch_micros"),
             F.sum("revenue").alias("revenue"))
        .filter(F.size("touches") > 0)
        .filter(F.col("converted") | (F.col("last_touch_micros") + lookback <= _horizon_micros(as_of)))
        .withColumn("channels", F.transform("touches", lambda t: t["channel"]))
        # get() is null before the first element, where [] would fail under ANSI mode.
        .withColumn("channels", F.filter("channels",
                                         lambda c, i: (i == 0) | (c != F.get(F.col("channels"), i - 1))))
        .withColumn("channels", F.slice("channels", F.greatest(F.size("channels") - max_steps + 1, F.lit(1)),
                                        int(max_steps)))
    )
    return (
        per_journey_df.groupBy(F.array_join("channels", PATH_SEPARATOR).alias("path"),
                               F.size("channels").alias("steps"), "converted")
        .agg(F.count(F.lit(1)).alias("journeys"), F.sum("revenue").alias("revenue"))
        .select("path", F.col("steps").cast("int").alias("steps"), "converted",
                F.col("journeys").cast("long").alias("journeys"),
                F.coalesce(F.col("revenue"), F.lit(0)).cast(MONEY).alias("revenue"),
                F.lit(as_of).cast("date").alias("as_of"))
    )


def funnel(web_events_df: DataFrame, sales_df: DataFrame, as_of: dt.date,
           segments_df: DataFrame | None = None) -> DataFrame:
    """gold.funnel: sessions reaching each step of visit > product_view > add_to_cart > checkout >
    purchase, by channel and segment.

    A session reaches the furthest step among its events (every event is a visit) and every step
    before it. Web events carry no order id, so a session reaches *purchase* when its customer has
    a purchase (``is_purchase``, any sales channel) from the session's first event up to 24 hours
    after its last one: a purchase counts for every session in the day before it, and anonymous
    sessions never purchase. Only events with ``event_ts < as_of + 1 day`` and orders dated up to
    ``as_of`` count, so a session of the last day may purchase after the snapshot.

    Args:
        web_events_df: silver.web_events (as ``sessions_of``).
        sales_df: ``order_revenue`` output (as ``journeys``).
        as_of: last UTC day included.
        segments_df: optional ``customer_id, segment`` (one row per customer); sessions of other
            customers and anonymous ones get 'unknown'. Without it every session is in 'all'.

    Returns:
        ``channel, segment, step, step_order`` (INT 1..5), ``sessions_reaching`` (LONG),
        ``conversion_from_previous`` (DOUBLE, null for visit or when no session reached the
        previous step), ``conversion_from_visit`` (DOUBLE), ``as_of`` (DATE); five rows per
        (channel, segment) with sessions.
    """
    sessions_df = sessions_of(web_events_df, as_of)
    in_window = (
        (F.col("s.customer_id") == F.col("p.customer_id"))
        & (F.col("p.micros") >= F.col("s.start_micros"))
        & (F.col("p.micros") <= F.col("s.end_micros") + PURCHASE_WINDOW_MICROS)
    )
    purchases_df = _purchases(sales_df, as_of)
    bought_df = sessions_df.alias("s").join(purchases_df.alias("p"), in_window, how="left_semi")
    sessions_df = sessions_df.alias("s").join(
        bought_df.select("session_key", F.lit(True).alias("has_purchase")).alias("b"), on="session_key",
        how="left",
    ).withColumn("furthest", F.when(F.col("has_purchase"), F.lit(5)).otherwise(F.col("furthest_step")))
    if segments_df is None:
        sessions_df = sessions_df.withColumn("segment", F.lit("all"))
    else:
        sessions_df = sessions_df.alias("s").join(
            segments_df.select("customer_id", F.col("segment").alias("_segment")).alias("g"),
            on="customer_id", how="left",
        ).withColumn("segment", F.coalesce(F.col("_segment"), F.lit("unknown")))
    counts_df = sessions_df.groupBy("channel", "segment").agg(
        *[F.count(F.when(F.col("furthest") >= k, F.lit(1))).alias(f"r{k}")
          for k in range(1, len(FUNNEL_STEPS) + 1)])
    steps = F.array(*[
        F.struct(F.lit(name).alias("step"), F.lit(k).alias("step_order"), F.col(f"r{k}").alias("reaching"),
                 (F.try_divide(F.col(f"r{k}").cast("double"), F.col(f"r{k - 1}")) if k > 1
                  else F.lit(None).cast("double")).alias("from_previous"),
                 F.try_divide(F.col(f"r{k}").cast("double"), F.col("r1")).alias("from_visit"))
        for k, name in enumerate(FUNNEL_STEPS, start=1)])
    return counts_df.select("channel", "segment", F.explode(steps).alias("s")).select(
        "channel", "segment", F.col("s.step").alias("step"),
        F.col("s.step_order").cast("int").alias("step_order"),
        F.col("s.reaching").cast("long").alias("sessions_reaching"),
        F.col("s.from_previous").alias("conversion_from_previous"),
        F.col("s.from_visit").alias("conversion_from_visit"), F.lit(as_of).cast("date").alias("as_of"))
