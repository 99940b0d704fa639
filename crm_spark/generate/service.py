"""Support tickets and consent changes."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws
from crm_spark.generate import ticket_texts as tt

CHURN_TICKET_DAYS = 30   # the extra ticket of a person who drops out comes this close before it
TICKET_CATEGORIES = ["delivery", "refund", "product", "account", "billing"]
ISSUE_THEMES = [t for t in tt.THEMES if t != "praise"]


def support_tickets(persons: DataFrame, churn: DataFrame, gen: GenerateConfig) -> DataFrame:
    """0-3 tickets per person keyed by the e-mail they wrote from; a person who drops out rates
    lower and, three times in ten, writes one more ticket in the ``CHURN_TICKET_DAYS`` before
    dropping out (a churn signal). The body's wording carries a ``theme`` and a ``polarity``
    (both returned, for the truth folder; ``ticket_texts``): the tone follows the score the
    person gives (``TONE_BY_SCORE``), the complaint before dropping out is always negative; the
    last ``SURGE_DAYS`` bring a surge of one theme (an emerging issue)."""
    seed = gen.seed
    pid = F.col("person_id")
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    churn_ticket = F.col("churned_at").isNotNull() & draws.chance(0.3, seed, "t_churn", pid)
    base = persons.join(churn, "person_id", "left").select(
        "person_id", "email", "mobile", "acquired_at", "churned_at", churn_ticket.alias("churn_ticket"),
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
    unhappy = F.col("churned_at").isNotNull()
    score = F.when(unhappy, draws.integer(1, 3, seed, "t_score", *key)) \
        .otherwise(draws.integer(2, 5, seed, "t_score", *key))
    complaint = F.col("churn_ticket") & (F.col("k") == F.col("n"))
    polarity = _polarity(score, complaint, seed, key)
    theme = _theme(category, polarity, created >= end - tt.SURGE_DAYS * 86400, seed, key)
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
        _body(theme, polarity, seed, key).alias("body"),
        F.when(~is_open & draws.chance(0.7, seed, "t_rated", *key), score).alias("satisfaction"),
        theme.alias("theme"),
        polarity.alias("polarity"),
    )


def _polarity(score: Column, complaint: Column, seed: int, key: list[Column]) -> Column:
    """negative / neutral / positive, drawn by the ticket's satisfaction score."""
    u = draws.uniform(seed, "t_tone", *key)
    negative, positive = (F.element_at(F.array(*[F.lit(tt.TONE_BY_SCORE[s][i]) for s in range(1, 6)]),
                                       score) for i in (0, 1))
    return (F.when(complaint | (u < negative), "negative")
            .when(u > 1 - positive, "positive").otherwise("neutral"))


def _theme(category: Column, polarity: Column, in_surge: Column, seed: int, key: list[Column]) -> Column:
    """Praise for half of the positive tickets; otherwise the category's theme, or another
    issue theme (1 - ``CATEGORY_AGREES`` of the time: customers pick the wrong box); in the
    surge window (``in_surge``), ``SURGE_SHARE`` of the issues are the ``SURGE_THEME``."""
    themes = F.array(*[F.lit(t) for t in ISSUE_THEMES])
    position = F.array_position(themes, F.create_map(
        *[F.lit(x) for c, t in tt.CATEGORY_THEME.items() for x in (c, t)])[category]).cast("int")
    step = draws.integer(1, len(ISSUE_THEMES) - 1, seed, "t_other", *key)
    other = F.element_at(themes, (position - 1 + step) % len(ISSUE_THEMES) + 1)
    issue = F.when(draws.chance(tt.CATEGORY_AGREES, seed, "t_agree", *key), F.element_at(themes, position)) \
        .otherwise(other)
    issue = F.when(in_surge & draws.chance(tt.SURGE_SHARE, seed, "t_surge", *key), F.lit(tt.SURGE_THEME)) \
        .otherwise(issue)
    praise = (polarity == "positive") & draws.chance(tt.PRAISE_SHARE_OF_POSITIVE, seed, "t_praise", *key)
    return F.when(praise, "praise").otherwise(issue)


def _body(theme: Column, polarity: Column, seed: int, key: list[Column]) -> Column:
    """One of the theme and polarity's phrasings, its ``{d}`` a number, and
    ``CONTACT_RATE`` of the time the customer's e-mail or phone after it."""
    phrasings = F.create_map(*[x for (t, p), bodies in tt.BODIES.items()
                               for x in (F.lit(f"{t}|{p}"), F.array(*[F.lit(b) for b in bodies]))])
    options = phrasings[F.concat_ws("|", theme, polarity)]
    index = F.floor(draws.uniform(seed, "t_phrasing", *key) * F.size(options)).cast("int") + 1
    text = F.regexp_replace(F.element_at(options, index), r"\{d\}",
                            draws.integer(2, 99, seed, "t_d", *key).cast("string"))
    phone = F.concat(F.lit("0"), F.substring("mobile", 1, 4), F.lit(" "), F.substring("mobile", 5, 6))
    contact = F.regexp_replace(F.regexp_replace(
        draws.pick(list(tt.CONTACT_LINES), seed, "t_contact_line", *key), r"\{email\}", F.col("email")),
        r"\{phone\}", phone)
    return F.when(draws.chance(tt.CONTACT_RATE, seed, "t_contact", *key), F.concat(text, contact)) \
        .otherwise(text)


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
