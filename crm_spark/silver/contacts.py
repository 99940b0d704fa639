"""``silver.contacts``: the contact records of every source in canonical columns, standardised
for display and for matching, one row per (source, source_id) — the latest version wins."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.config import SilverConfig
from crm_spark.silver import standardise as st
from crm_spark.sources.canonical import ENTITIES

CONTACTS = "silver.contacts"
KEYS = ("source", "source_id")
# standardised columns and the flag that says a null there was an invalid value
VALIDATED = {"email": "is_email_valid", "phone": "is_phone_valid", "postcode": "is_postcode_valid",
             "birth_date": "is_birth_date_valid"}

# The output contract (order matters: it is the table's column order).
CONTACT_COLUMNS = (
    "source", "source_id", "channel",
    "first_name", "last_name", "first_name_match", "last_name_match",
    "email", "email_match", "email_local", "is_email_valid",
    "phone", "is_phone_valid",
    "street", "street_match", "city", "city_match", "postcode", "postcode_match", "is_postcode_valid",
    "state", "state_match", "country",
    "birth_date", "is_birth_date_valid", "login",
    "created_at", "updated_at", "_batch_id", "_ingested_at",
)


def standardise_contacts(raw_df: DataFrame, cfg: SilverConfig) -> DataFrame:
    """Canonical contact rows -> standardised contacts.

    Requires the canonical contact columns (one that is missing is read as null) plus
    ``source``, ``source_channel``, ``_batch_id`` and ``_ingested_at``; returns
    :data:`CONTACT_COLUMNS`. Raw values that fail validation are null with their ``is_*_valid``
    flag false. Phones and postcodes are read in the record's country
    (``country`` when it names one, else ``cfg.default_region``); ``house_number`` is joined
    in front of the street.
    """
    # a frame built before a canonical column existed (house_number, state) reads it as null
    raw_df = raw_df.withColumns({c.name: F.lit(None).cast(c.type) for c in ENTITIES["contact"]
                                 if c.name not in raw_df.columns})
    stated_region = st.stated_region_of("country")
    region = F.coalesce(stated_region, F.lit(cfg.default_region))
    split_first, split_last = st.split_full_name("full_name")
    first_raw = F.coalesce(st.clean_text("first_name"), split_first)
    last_raw = F.coalesce(st.clean_text("last_name"), split_last)
    email = st.email_of("email")
    email_match = st.email_match_key(email, cfg.email_ignore_dots, cfg.email_plus_tags,
                                     cfg.email_domain_aliases)
    postcode = st.postcode_of("postcode", region, cfg.postcode_mode, stated_region.isNotNull())
    recorded_at = F.coalesce("updated_at", "created_at", "_ingested_at")
    street = st.clean_text(F.concat_ws(" ", st.clean_text("house_number"), st.clean_text("street")))
    named_df = raw_df.withColumns({"_first": st.name_forms_of(first_raw), "_last": st.name_forms_of(last_raw),
                                   "_city": st.name_forms_of("city"), "_street": street,
                                   "_state": st.clean_text("state"),
                                   "_phone": st.phone_e164_of("phone", region)})
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
        F.col("_phone").alias("phone"),
        st.is_valid_flag("phone", F.col("_phone")).alias("is_phone_valid"),
        F.col("_street").alias("street"),
        st.match_text_of("_street").alias("street_match"),
        F.col("_city.display").alias("city"),
        F.col("_city.match").alias("city_match"),
        postcode.alias("postcode"),
        F.regexp_replace(postcode, " ", "").alias("postcode_match"),
        st.is_postcode_valid("postcode", region).alias("is_postcode_valid"),
        F.col("_state").alias("state"),
        st.match_text_of("_state").alias("state_match"),
        F.upper(st.clean_text("country")).alias("country"),
        st.birth_date_of("birth_date", recorded_at).alias("birth_date"),
        st.is_birth_date_valid("birth_date", recorded_at).alias("is_birth_date_valid"),
        F.lower(st.clean_text("login")).alias("login"),
        "created_at", "updated_at", "_batch_id", "_ingested_at",
    )


def invalid_value_counts(contacts_df: DataFrame) -> DataFrame:
    """Per source, the values of each :data:`VALIDATED` column that silver nulled as invalid
    (present in bronze, null here, flag false). A postcode kept off its format
    (``silver.postcode_mode``) is not counted: it was not nulled.

    Requires ``source`` and the columns and flags of :data:`VALIDATED`; returns ``source`` and
    one count column per validated column."""
    return contacts_df.groupBy("source").agg(*[
        F.count(F.when(~F.col(flag) & F.col(column).isNull(), 1)).alias(column)
        for column, flag in VALIDATED.items()])


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
