"""Where a person shows up in each table: the identifier columns of a row, by kind.

An identifier is a ``(kind, value)`` pair; the same person's identifiers have the same value in
every layer because bronze values are standardised here exactly as silver standardises them:

- ``customer``: a ``customer_id`` (current, or one merged into it);
- ``record``: ``<source>:<source id>`` of a contact record;
- ``email``: the mailbox an address delivers to (silver's ``email_match``);
- ``phone``: the E.164 number;
- ``cookie``: a web cookie id;
- ``order``: an order or store-sale id.

Erasure and the ingest suppression list match rows by the keyed hashes of these values.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from crm_spark.config import SilverConfig
from crm_spark.silver.standardise import email_match_key, email_of, phone_e164_of
from crm_spark.sources.registry import Source

EMAIL_TOKEN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
ID_TOKEN = r"[A-Za-z0-9_-]{4,}"

# Silver, gold, features and scores tables share column names; these say what a column holds.
COLUMN_KINDS = {
    "customer_id": "customer",
    "merged_id": "customer",
    "survivor_id": "customer",
    "from_customer_id": "customer",
    "to_customer_id": "customer",
    "email_match": "email",
    "subject": "email",
    "phone": "phone",
    "cookie_id": "cookie",
}


def mailbox(raw: Column, cfg: SilverConfig) -> Column:
    """The standardised mailbox of a raw address (as silver computes ``email_match``)."""
    return email_match_key(
        email_of(raw), cfg.email_ignore_dots, cfg.email_plus_tags, cfg.email_domain_aliases
    )


def source_identifiers(source: Source, cfg: SilverConfig) -> list[tuple[str, Column]]:
    """The identifiers in a row of ``bronze.<source>`` (source column names), by kind.

    Args:
        source: a registered source; its ``mapping`` says which column holds which canonical
            column.
        cfg: silver settings, so e-mails and phones are standardised as silver does.
    """
    mapped = {canonical: F.col(f"`{column}`") for canonical, column in source.spec.mapping.items()}
    entity = source.spec.entity
    found: list[tuple[str, Column]] = []
    if entity == "contact" and "source_id" in mapped:
        found.append(("record", F.concat(F.lit(f"{source.name}:"), mapped["source_id"])))
    ref = mapped.get("customer_ref", mapped.get("account_id"))
    if source.spec.customer_source and ref is not None:
        found.append(("record", F.concat(F.lit(f"{source.spec.customer_source}:"), ref)))
    for canonical in ("email", "subject"):
        if canonical in mapped:
            found.append(("email", mailbox(mapped[canonical], cfg)))
    if "phone" in mapped:
        found.append(("phone", phone_e164_of(mapped["phone"], cfg.default_region)))
    if "cookie_id" in mapped:
        found.append(("cookie", mapped["cookie_id"]))
    for canonical in ("order_id", "txn_id"):
        if canonical in mapped:
            found.append(("order", mapped[canonical]))
    return found


def column_identifiers(table: str, columns: list[str]) -> list[tuple[str, Column]]:
    """The identifiers in a row of a silver, gold, features or scores table, by column name.

    ``silver.contacts`` and ``silver.identity_map`` also name contact records by
    ``(source, source_id)``; the orders tables name orders by ``order_id``.
    """
    found = [(kind, F.col(column)) for column, kind in COLUMN_KINDS.items() if column in columns]
    if {"source", "source_id"} <= set(columns):
        found.append(("record", F.concat_ws(":", "source", "source_id")))
    if "order_id" in columns and table.startswith("silver."):
        found.append(("order", F.col("order_id")))
    return found


def text_identifiers(text: Column, source: Column | None = None) -> list[tuple[str, Column]]:
    """Identifiers found in free text (a quarantined raw line, a failing-row sample): each
    e-mail address as a mailbox, and each word that could be an id as a customer id, an order
    id or (with ``source``) a record of that source. Returns array columns of values."""
    words = F.regexp_extract_all(text, F.lit(ID_TOKEN), 0)
    emails = F.transform(F.regexp_extract_all(text, F.lit(EMAIL_TOKEN), 0), lambda e: F.lower(F.trim(e)))
    found = [("email", emails), ("customer", words), ("order", words)]
    if source is not None:
        found.append(("record", F.transform(words, lambda w: F.concat(source, F.lit(":"), w))))
    return found
