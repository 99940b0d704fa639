"""The person records of each source system, each with its own ids, formats and mess.

Mess planted here (rates in docs/generator.md): name typos, case and whitespace noise, e-mail
variants, phone numbers in several national and international formats, moved addresses,
missing fields, re-exported duplicates (same id, later ``updated_at``) and second records of
one person under a new id.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws

TS_FORMAT = "yyyy-MM-dd HH:mm:ss"


def crm_contacts(persons: DataFrame, gen: GenerateConfig) -> DataFrame:
    """CRM export: contact_id, names, email, phone (national formats), address, birth date
    (dd/MM/yyyy), created_at and updated_at."""
    seed = gen.seed
    records = _with_copies(persons.where("in_crm"), gen, "crm")
    key = [F.col("person_id"), F.col("copy")]
    addr = F.when(F.col("copy") > 0, F.coalesce("new_address", "address")).otherwise(F.col("address"))
    return records.select(
        "person_id", "copy", "is_reexport",
        _source_id("C", seed, "crm", "person_id", "copy").alias("contact_id"),
        _noisy_name("first_name", seed, "crm:first", *key).alias("first_name"),
        _noisy_name("last_name", seed, "crm:last", *key).alias("last_name"),
        _missing(_email_variant(seed, "crm:email", *key), 0.08, seed, "crm:email_na", *key)
        .alias("email"),
        _missing(_phone_national(seed, "crm:phone", *key), 0.15, seed, "crm:phone_na", *key)
        .alias("phone"),
        addr.street.alias("street"), addr.city.alias("city"), addr.postcode.alias("postcode"),
        _missing(F.date_format("birth_date", "dd/MM/yyyy"), 0.2, seed, "crm:dob_na", *key)
        .alias("birth_date"),
        F.date_format("created_at", TS_FORMAT).alias("created_at"),
        F.date_format("updated_at", TS_FORMAT).alias("updated_at"),
    )


def shop_accounts(persons: DataFrame, gen: GenerateConfig) -> DataFrame:
    """Web-shop accounts (JSON): account_id, login e-mail, full name, phone, current address."""
    seed = gen.seed
    records = _with_copies(persons.where("in_shop"), gen, "shop")
    key = [F.col("person_id"), F.col("copy")]
    addr = F.coalesce("new_address", "address")
    full_name = F.when(
        draws.chance(0.1, seed, "shop:lastfirst", *key),
        F.concat(F.upper(F.col("last_name")), F.lit(", "), F.col("first_name")),
    ).otherwise(F.concat_ws(" ", _noisy_name("first_name", seed, "shop:first", *key),
                            _noisy_name("last_name", seed, "shop:last", *key)))
    return records.select(
        "person_id", "copy", "is_reexport",
        _source_id("A", seed, "shop", "person_id", "copy").alias("account_id"),
        _email_variant(seed, "shop:email", *key).alias("login"),
        full_name.alias("full_name"),
        _missing(_phone_any(seed, "shop:phone", *key), 0.25, seed, "shop:phone_na", *key)
        .alias("phone"),
        addr.street.alias("street"), addr.city.alias("city"), addr.postcode.alias("postcode"),
        F.date_format("created_at", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("created_at"),
        F.date_format("updated_at", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("updated_at"),
    )


def loyalty_members(persons: DataFrame, gen: GenerateConfig) -> DataFrame:
    """Store loyalty members (CSV): member_id, names, international phone, postcode, birth date
    (yyyy-MM-dd), home store and joining date."""
    seed = gen.seed
    records = _with_copies(persons.where("in_loyalty"), gen, "loyalty")
    key = [F.col("person_id"), F.col("copy")]
    return records.select(
        "person_id", "copy", "is_reexport",
        _source_id("L", seed, "loyalty", "person_id", "copy").alias("member_id"),
        _noisy_name("first_name", seed, "loy:first", *key).alias("first_name"),
        _noisy_name("last_name", seed, "loy:last", *key).alias("last_name"),
        _missing(_phone_international(seed, "loy:phone", *key), 0.1, seed, "loy:phone_na", *key)
        .alias("phone"),
        _missing(F.col("address.postcode"), 0.1, seed, "loy:pc_na", *key).alias("postcode"),
        _missing(F.date_format("birth_date", "yyyy-MM-dd"), 0.3, seed, "loy:dob_na", *key)
        .alias("birth_date"),
        home_store(seed).alias("store_id"),
        F.date_format("created_at", "yyyy-MM-dd").alias("joined_on"),
        F.date_format("updated_at", TS_FORMAT).alias("updated_at"),
    )


def home_store(seed: int) -> Column:
    """A person's home store (``S001``-``S040``): the loyalty card's store and the store of
    their in-store purchases."""
    return F.concat(F.lit("S"), F.lpad(draws.integer(1, 40, seed, "loy:store", "person_id")
                                       .cast("string"), 3, "0"))


def _with_copies(persons: DataFrame, gen: GenerateConfig, system: str) -> DataFrame:
    """Each person's record (copy 0), a second record under a new id for some (copy 1), and
    re-exports of some records with a later ``updated_at`` (``is_reexport``)."""
    seed = gen.seed
    pid = F.col("person_id")
    period = (gen.end_date - gen.start_date).days * 86400
    created = F.timestamp_seconds(
        F.unix_timestamp("acquired_at") - draws.integer(0, 30 * 86400, seed, system + ":cr", pid)
    )
    second = draws.chance(gen.duplicate_rate, seed, system + ":second", pid)
    records = persons.withColumn("created_at", created).withColumn(
        "copy", F.explode(F.when(second, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0))))
    )
    key = [pid, F.col("copy")]
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    created = F.timestamp_seconds(
        F.least(end, F.unix_timestamp("created_at")
                + F.col("copy") * draws.integer(86400, period // 2, seed, system + ":c2", *key))
    )
    records = records.withColumn("created_at", created).withColumn(
        "updated_at",
        F.timestamp_seconds(F.least(end, F.unix_timestamp("created_at")
                                    + draws.integer(0, 90 * 86400, seed, system + ":up", *key))),
    )
    reexport = draws.chance(gen.duplicate_rate, seed, system + ":reexport", *key)
    return records.withColumn(
        "is_reexport", F.explode(F.when(reexport, F.array(F.lit(False), F.lit(True)))
                                 .otherwise(F.array(F.lit(False))))
    ).withColumn(
        "updated_at",
        F.when(F.col("is_reexport"), F.timestamp_seconds(F.least(
            end, F.unix_timestamp("updated_at")
            + draws.integer(3600, 200 * 86400, seed, system + ":re", *key))))
        .otherwise(F.col("updated_at")),
    )


def _source_id(prefix: str, seed: int, system: str, *keys: str) -> Column:
    """A 48-bit hashed id: no order or meaning shared with other systems."""
    hashed = F.xxhash64(F.lit(seed), F.lit(system + ":id"), *keys)
    return F.concat(F.lit(prefix), F.lpad(F.hex(hashed.bitwiseAND(F.lit(0xFFFFFFFFFFFF))), 12, "0"))


def _noisy_name(column: str, seed: int, stream: str, *keys: Column) -> Column:
    """Typos (2%: adjacent swap, dropped or doubled letter), case noise (8%), stray spaces (8%)."""
    name = F.col(column)
    u = draws.uniform(seed, stream + ":typo", *keys)
    at = draws.integer(2, 4, seed, stream + ":at", *keys)
    length = F.length(name)
    swapped = F.concat(F.substring(name, 1, at - 1), F.substring(name, at + 1, 1),
                       F.substring(name, at, 1), F.substring(name, at + 2, 100))
    dropped = F.concat(F.substring(name, 1, at - 1), F.substring(name, at + 1, 100))
    doubled = F.concat(F.substring(name, 1, at), F.substring(name, at, 100))
    typo = (F.when((u < 0.007) & (length > at + 1), swapped)
            .when((u < 0.014) & (length > at + 1), dropped)
            .when(u < 0.02, doubled).otherwise(name))
    v = draws.uniform(seed, stream + ":case", *keys)
    cased = F.when(v < 0.04, F.upper(typo)).when(v < 0.08, F.lower(typo)).otherwise(typo)
    w = draws.uniform(seed, stream + ":space", *keys)
    return (F.when(w < 0.04, F.concat(F.lit(" "), cased, F.lit(" ")))
            .when(w < 0.08, F.concat(cased, F.lit("  "))).otherwise(cased))


def _email_variant(seed: int, stream: str, *keys: Column) -> Column:
    """The person's address, sometimes upper-cased, padded, or (on Gmail) with dots removed or
    a ``+tag`` added — all of which Gmail delivers to the same mailbox."""
    email = F.col("email")
    local = F.substring_index(email, "@", 1)
    domain = F.substring_index(email, "@", -1)
    is_gmail = domain.isin("gmail.com", "googlemail.com")
    u = draws.uniform(seed, stream, *keys)
    return (
        F.when(u < 0.05, F.upper(email))
        .when(u < 0.08, F.concat(F.lit(" "), email))
        .when(is_gmail & (u < 0.14), F.concat(F.regexp_replace(local, r"\.", ""), F.lit("@"), domain))
        .when(is_gmail & (u < 0.20), F.concat(local, F.lit("+shop@"), domain))
        .otherwise(email)
    )


def _phone_national(seed: int, stream: str, *keys: Column) -> Column:
    m = F.col("mobile")
    u = draws.uniform(seed, stream, *keys)
    return (F.when(u < 0.4, F.concat(F.lit("0"), F.substring(m, 1, 4), F.lit(" "), F.substring(m, 5, 6)))
            .when(u < 0.7, F.concat(F.lit("0"), m))
            .when(u < 0.85, F.concat(F.lit("(0)"), F.substring(m, 1, 4), F.lit("-"), F.substring(m, 5, 6)))
            .otherwise(F.concat(F.lit("0"), F.substring(m, 1, 4), F.lit(" "), F.substring(m, 5, 3),
                                F.lit(" "), F.substring(m, 8, 3))))


def _phone_international(seed: int, stream: str, *keys: Column) -> Column:
    m = F.col("mobile")
    u = draws.uniform(seed, stream, *keys)
    return (F.when(u < 0.4, F.concat(F.lit("+44 "), F.substring(m, 1, 4), F.lit(" "), F.substring(m, 5, 6)))
            .when(u < 0.7, F.concat(F.lit("+44"), m))
            .when(u < 0.85, F.concat(F.lit("0044 "), F.substring(m, 1, 4), F.lit(" "), F.substring(m, 5, 6)))
            .otherwise(F.concat(F.lit("+44 (0)"), m)))


def _phone_any(seed: int, stream: str, *keys: Column) -> Column:
    return F.when(draws.chance(0.5, seed, stream + ":kind", *keys),
                  _phone_national(seed, stream, *keys)).otherwise(
        _phone_international(seed, stream, *keys))


def _missing(value: Column, rate: float, seed: int, stream: str, *keys: Column) -> Column:
    return F.when(draws.chance(rate, seed, stream, *keys), F.lit(None).cast("string")).otherwise(value)
