"""Personal data: which columns hold it (tags), pseudonyms for stable joins, and a scan that
finds personal data in columns nobody tagged.

Tags come from the canonical schemas (``is_pii``), from each source's mapping onto them (the
bronze column names), from silver's derived forms of those columns, and from
``privacy.pii_columns``. ``pii-scan`` samples every string column of every table and reports
the untagged ones whose values look like e-mail addresses, phone numbers or payment cards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from crm_spark.config import Config
from crm_spark.privacy.hashing import keyed_hash
from crm_spark.sources.canonical import ENTITIES
from crm_spark.sources.registry import Source
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

# Silver's derived forms of personal columns (matching keys, display forms, parts).
DERIVED_PII = (
    "email_match",
    "email_local",
    "first_name_match",
    "last_name_match",
    "full_name_match",
    "postcode_match",
    "display_name",
    "name",
    "subject",
    "login",
    "raw",
    "sample",
)
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
PHONE = r"^\+?\(?[0-9][0-9 ().-]{6,18}[0-9]$"
CARD = r"^[0-9][0-9 -]{11,21}[0-9]$"
SAMPLE_ROWS = 1000
MIN_SHARE = 0.5  # of a column's sampled non-empty values


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    looks_like: str  # email | phone | card
    share: float  # of the sampled non-empty values
    example: str  # masked


def canonical_pii() -> set[str]:
    return {c.name for columns in ENTITIES.values() for c in columns if c.is_pii}


def tagged_columns(table: str, sources: dict[str, Source], cfg: Config) -> set[str]:
    """The columns of ``table`` tagged as personal data."""
    layer, name = table.split(".")
    tagged = {c.split(".", 2)[2] for c in cfg.privacy.pii_columns if c.startswith(f"{table}.")}
    if layer == "bronze" and name in sources:
        personal = {c.name for c in ENTITIES[sources[name].spec.entity] if c.is_pii}
        return tagged | {
            column for canonical, column in sources[name].spec.mapping.items() if canonical in personal
        }
    return tagged | canonical_pii() | set(DERIVED_PII)


def is_luhn_valid(digits: Column) -> Column:
    """The Luhn checksum of a digit string holds (payment card numbers)."""
    reversed_digits = F.reverse(digits)
    positions = F.sequence(F.lit(1), F.length(reversed_digits))
    total = F.aggregate(
        positions,
        F.lit(0),
        lambda acc, i: (
            acc
            + F.when(
                i % 2 == 0,
                F.when(
                    F.substring(reversed_digits, i, 1).cast("int") * 2 > 9,
                    F.substring(reversed_digits, i, 1).cast("int") * 2 - 9,
                ).otherwise(F.substring(reversed_digits, i, 1).cast("int") * 2),
            ).otherwise(F.substring(reversed_digits, i, 1).cast("int"))
        ),
    )
    return (total % 10) == 0


def looks_like(value: Column) -> Column:
    """'email', 'card', 'phone' or null for one string value."""
    text = F.trim(value)
    digits = F.regexp_replace(text, r"[^0-9]", "")
    is_card = text.rlike(CARD) & F.length(digits).between(13, 19) & is_luhn_valid(digits)
    return (
        F.when(text.rlike(EMAIL), "email")
        .when(is_card, "card")
        .when(text.rlike(PHONE) & F.length(digits).between(9, 15), "phone")
    )


def scan_frame(
    table: str, df: DataFrame, columns: Iterable[str], sample_rows: int = SAMPLE_ROWS
) -> list[Finding]:
    """Findings for ``columns`` of ``df`` from its first ``sample_rows`` rows."""
    columns = list(columns)
    if not columns:
        return []
    sample = df.select(*[F.col(f"`{c}`") for c in columns]).limit(sample_rows)
    stacked = sample.select(
        F.explode(
            F.array(*[F.struct(F.lit(c).alias("column"), F.col(f"`{c}`").alias("value")) for c in columns])
        ).alias("v")
    )
    kinds = (
        stacked.select("v.column", F.col("v.value").alias("value"))
        .where(F.trim("value") != "")
        .withColumn("kind", looks_like(F.col("value")))
    )
    rows = (
        kinds.groupBy("column")
        .agg(
            F.count("*").alias("n"),
            F.count(F.when(F.col("kind") == "email", 1)).alias("email"),
            F.count(F.when(F.col("kind") == "phone", 1)).alias("phone"),
            F.count(F.when(F.col("kind") == "card", 1)).alias("card"),
            F.min(F.when(F.col("kind").isNotNull(), F.col("value"))).alias("example"),
        )
        .collect()
    )
    findings = []
    for row in rows:
        for kind in ("email", "card", "phone"):
            share = row[kind] / row["n"]
            if share >= MIN_SHARE:
                findings.append(Finding(table, row["column"], kind, round(share, 3), mask(row["example"])))
                break
    return findings


def mask(value: str | None) -> str:
    """A value with all but its first and last character hidden, to show its shape."""
    if not value:
        return ""
    text = str(value)
    return text[0] + "*" * max(len(text) - 2, 0) + text[-1] if len(text) > 2 else "*" * len(text)


def scan(lake: Lake, tables: Sequence[str], sources: dict[str, Source], cfg: Config) -> list[Finding]:
    """Untagged string columns that look like personal data, in every table of ``tables``."""
    findings = []
    for table in tables:
        df = lake.read(table)
        tagged = tagged_columns(table, sources, cfg)
        untagged = [
            f.name for f in df.schema.fields if isinstance(f.dataType, StringType) and f.name not in tagged
        ]
        found = scan_frame(table, df, untagged)
        log.info("pii-scan %s: %d untagged string column(s), %d finding(s)", table, len(untagged), len(found))
        findings += found
    return findings


def with_pseudonyms(df: DataFrame, customers_df: DataFrame, fields: Sequence[str], key: str) -> DataFrame:
    """Adds ``<field>_key``: the keyed hash of the customer's golden ``field`` (a join key that
    is stable across runs and useless without the key).

    Requires: ``customer_id`` on both; ``fields`` on ``customers_df``.
    """
    if not fields:
        return df
    keys_df = customers_df.select(
        "customer_id", *[keyed_hash(field, F.col(field), key).alias(f"{field}_key") for field in fields]
    )
    return df.join(keys_df, on="customer_id", how="left")
