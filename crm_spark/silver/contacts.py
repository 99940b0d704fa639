"""``silver.contacts``: the contact records of every source in canonical columns, standardised
for display and for matching, one row per (source, source_id) — the latest version wins."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.config import SilverConfig
from crm_spark.silver import standardise as st

CONTACTS = "silver.contacts"
KEYS = ("source", "source_id")

# The output contract (order matters: it is the table's column order).
CONTACT_COLUMNS = (
    "source", "source_id", "channel",
    "first_name", "last_name", "first_name_match", "last_name_match",
    "email", "email_match", "email_local", "is_email_valid",
    "phone", "is_phone_valid",
    "street", "city", "city_match", "postcode", "postcode_match", "is_postcode_valid", "country",
    "birth_date", "is_birth_date_valid", "login",
    "created_at", "updated_at", "_batch_id", "_ingested_at",
)


def standardise_contacts(raw_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Canonical contact rows -> standardised contacts.

    Requires the canonical contact columns plus ``source``, ``source_channel``, ``_batch_id`` and
    ``_ingested_at``; returns :data:`CONTACT_COLUMNS`. Raw values that fail validation are null
    with their ``is_*_valid`` flag false.
    """
    region = cfg.default_region
    split_first, split_last = st.split_full_name("full_name")
    first_raw = F.coalesce(st.clean_text("first_name"), split_first)
    last_raw = F.coalesce(st.clean_text("last_name"), split_last)
    email = st.email_of("email")
    email_match = st.email_match_key(email, cfg.email_ignore_dots, cfg.email_plus_tags,
                                     cfg.email_domain_aliases)
    postcode = st.postcode_of("postcode", region)
    recorded_at = F.coalesce("updated_at", "created_at", "_ingested_at")
    named_df = raw_df.withColumns({"_first": st.name_forms_of(first_raw), "_last": st.name_forms_of(last_raw),
                                   "_city": st.name_forms_of("city")})
    return named_df.select(
        "source", "source_id", F.col("source_channel").alias("channel"),
        F.col("_first.display").alias("first_name"),
        F.col("_last.display").alias("last_name"),
        F.col("_first.match").alias("first_name_match"),
        F.col("_last.match").alias("last_name_match"),
        email.alias("email"),
        email_match.alias("email_match"),
        F.substring_index(email_match, "@", 1).alias("email_local"),
        st.is_email_valid("email").alias("is_email_valid"),
        st.phone_e164_of("phone", region).alias("phone"),
        st.is_phone_valid("phone", region).alias("is_phone_valid"),
        st.clean_text("street").alias("street"),
        F.col("_city.display").alias("city"),
        F.col("_city.match").alias("city_match"),
        postcode.alias("postcode"),
        F.regexp_replace(postcode, " ", "").alias("postcode_match"),
        st.is_postcode_valid("postcode", region).alias("is_postcode_valid"),
        F.upper(st.clean_text("country")).alias("country"),
        st.birth_date_of("birth_date", recorded_at).alias("birth_date"),
        st.is_birth_date_valid("birth_date", recorded_at).alias("is_birth_date_valid"),
        F.lower(st.clean_text("login")).alias("login"),
        "created_at", "updated_at", "_batch_id", "_ingested_at",
    )


def dedupe_latest(df: DataFrame, keys: tuple[str, ...] = KEYS,
                  order: tuple[str, ...] = ("updated_at", "_ingested_at", "_batch_id")) -> DataFrame:
    """One row per key: the one with the latest ``order`` columns (nulls last); ties broken by
    every other column so the choice does not depend on partitioning."""
    window = Window.partitionBy(*keys).orderBy(
        *[F.col(c).desc_nulls_last() for c in order],
        *[F.col(c).asc_nulls_last() for c in df.columns if c not in keys and c not in order],
    )
    return (df.withColumn("_rank", F.row_number().over(window))
            .filter(F.col("_rank") == 1).drop("_rank"))
