"""Support tickets and consent changes."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws

CHURN_TICKET_DAYS = 30   # the extra ticket of a person who drops out comes this close before it
TICKET_CATEGORIES = ["delivery", "refund", "product", "account", "billing"]
TICKET_BODIES = {
    "delivery": "My parcel has not arrived yet, the tracking page says \"in transit\" since {d} days.",
    "refund": "I returned the item, but I am still waiting for my refund. Order ref {d}.",
    "product": "The product arrived damaged, the lid is cracked; could you send a replacement?",
    "account": "I can't log in to my account, the password reset e-mail never comes.",
    "billing": "I was charged twice for the same order, please check: {d} GBP.",
}


def support_tickets(persons: DataFrame, churn: DataFrame, gen: GenerateConfig) -> DataFrame:
    """0-3 tickets per person keyed by the e-mail they wrote from; a person who drops out rates
    lower and, three times in ten, writes one more ticket in the ``CHURN_TICKET_DAYS`` before
    dropping out (a churn signal)."""
    seed = gen.seed
    pid = F.col("person_id")
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    churn_ticket = F.col("churned_at").isNotNull() & draws.chance(0.3, seed, "t_churn", pid)
    base = persons.join(churn, "person_id", "left").select(
        "person_id", "email", "acquired_at", "churned_at", churn_ticket.alias("churn_ticket"),
        (draws.chance(0.25, seed, "t1", pid).cast("int") + draws.chance(0.08, seed, "t2", pid)
         .cast("int") + draws.chance(0.02, seed, "t3", pid).cast("int") + churn_ticket.cast("int"))
        .alias("n"))
    tickets = base.select("*", F.explode(draws.ordinals(F.col("n"))).alias("k"))
    key = [pid, F.col("k")]
    acquired = F.unix_timestamp("acquired_at")
    last = F.least(F.coalesce(F.unix_timestamp("churned_at") + 86400 * 14, end), end)
    anytime = acquired + F.floor(draws.uniform(seed, "t_ts", *key) * F.greatest(F.lit(3600), last - acquired))
    # the last ticket of a person who drops out is the complaint just before it
    before_dropout = F.greatest(acquired, F.unix_timestamp("churned_at") - F.floor(
        draws.uniform(seed, "t_ts", *key) * CHURN_TICKET_DAYS * 86400))
    created = F.when(F.col("churn_ticket") & (F.col("k") == F.col("n")), before_dropout).otherwise(anytime)
    closed = created + draws.integer(1800, 6 * 86400, seed, "t_close", *key)
    is_open = closed >= end
    category = draws.pick(TICKET_CATEGORIES, seed, "t_cat", *key)
    bodies = F.create_map(*[x for c, b in TICKET_BODIES.items() for x in (F.lit(c), F.lit(b))])
    unhappy = F.col("churned_at").isNotNull()
    score = F.when(unhappy, draws.integer(1, 3, seed, "t_score", *key)) \
        .otherwise(draws.integer(2, 5, seed, "t_score", *key))
    return tickets.select(
        "person_id",
        F.concat(F.lit("T"), F.lpad(F.hex(F.xxhash64(F.lit(seed), F.lit("ticket"), *key)
                                          .bitwiseAND(F.lit(0xFFFFFFFFFF))), 10, "0")).alias("ticket_id"),
        F.when(draws.chance(0.1, seed, "t_case", *key), F.upper("email")).otherwise(F.col("email"))
        .alias("email"),
        F.timestamp_seconds(created).alias("created_at"),
        F.when(~is_open, F.timestamp_seconds(closed)).alias("closed_at"),
        F.when(is_open, "open").otherwise("closed").alias("status"),
        category.alias("category"),
        F.regexp_replace(F.element_at(bodies, category), r"\{d\}",
                         draws.integer(2, 99, seed, "t_d", *key).cast("string")).alias("body"),
        F.when(~is_open & draws.chance(0.7, seed, "t_rated", *key), score).alias("satisfaction"),
    )


def consent_changes(persons: DataFrame, email_rows: DataFrame, gen: GenerateConfig) -> DataFrame:
    """Opt-ins at acquisition (e-mail, SMS), withdrawals on newsletter unsubscribes, and a few
    SMS withdrawals; keyed by e-mail."""
    seed = gen.seed
    pid = F.col("person_id")
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    email_in = persons.where("email_opt_in").select(
        "person_id", "email", F.lit("email").alias("channel"), F.lit("granted").alias("status"),
        "acquired_at", F.lit("shop").alias("source_system"))
    sms_in = persons.where("sms_opt_in").select(
        "person_id", "email", F.lit("sms").alias("channel"), F.lit("granted").alias("status"),
        "acquired_at", F.lit("crm").alias("source_system"))
    unsub = email_rows.where("event_type = 'unsubscribe'").select(
        "person_id", "email", F.lit("email").alias("channel"), F.lit("withdrawn").alias("status"),
        F.col("event_ts").alias("acquired_at"), F.lit("email_platform").alias("source_system"))
    sms_out = persons.where(F.col("sms_opt_in") & draws.chance(0.15, seed, "sms_out", pid)).select(
        "person_id", "email", F.lit("sms").alias("channel"), F.lit("withdrawn").alias("status"),
        F.timestamp_seconds(F.unix_timestamp("acquired_at") + F.floor(
            draws.uniform(seed, "sms_out_ts", pid) * (end - F.unix_timestamp("acquired_at"))))
        .alias("acquired_at"), F.lit("preference_centre").alias("source_system"))
    return email_in.unionByName(sms_in).unionByName(unsub).unionByName(sms_out) \
        .withColumnRenamed("acquired_at", "changed_at")
