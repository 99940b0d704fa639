"""The canonical columns of every entity kind: the contract between bronze and silver.

A source maps its own columns onto these names (``mapping`` in conf/sources.yml); silver reads
bronze through that mapping. Columns marked PII hold personal data (see docs/sources.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CanonicalColumn:
    name: str
    type: str
    is_pii: bool = False


def _cols(spec: str, pii: tuple[str, ...] = ()) -> tuple[CanonicalColumn, ...]:
    columns = []
    for part in re.split(r",(?![^(]*\))", spec):
        name, type_ = part.split(None, 1)
        columns.append(CanonicalColumn(name, type_, name in pii))
    return tuple(columns)


ENTITIES: dict[str, tuple[CanonicalColumn, ...]] = {
    "contact": _cols(
        "source_id STRING, first_name STRING, last_name STRING, full_name STRING, "
        "email STRING, phone STRING, house_number STRING, street STRING, city STRING, "
        "postcode STRING, state STRING, country STRING, birth_date DATE, login STRING, "
        "created_at TIMESTAMP, updated_at TIMESTAMP",
        pii=("first_name", "last_name", "full_name", "email", "phone", "house_number", "street",
             "postcode", "birth_date", "login")),
    "order": _cols(
        "order_id STRING, customer_ref STRING, order_ts TIMESTAMP, status STRING, "
        "currency STRING, total DECIMAL(14,2), channel STRING, country STRING"),
    "order_line": _cols(
        "order_id STRING, line_no INT, sku STRING, quantity INT, unit_price DECIMAL(14,3)"),
    "product": _cols("sku STRING, name STRING, category STRING, price DECIMAL(14,3)"),
    "pos_transaction": _cols(
        "txn_id STRING, customer_ref STRING, store_id STRING, txn_ts TIMESTAMP, line_no INT, "
        "sku STRING, quantity INT, unit_price DECIMAL(14,3)"),
    "web_event": _cols(
        "event_id STRING, event_ts TIMESTAMP, cookie_id STRING, account_id STRING, "
        "session_id STRING, event_type STRING, url STRING, sku STRING, utm_source STRING, "
        "utm_medium STRING, utm_campaign STRING"),
    "email_event": _cols(
        "campaign_id STRING, email STRING, event_type STRING, event_ts TIMESTAMP",
        pii=("email",)),
    "campaign": _cols(
        "campaign_id STRING, name STRING, channel STRING, start_date DATE, end_date DATE, "
        "cost DECIMAL(14,2)"),
    "ticket": _cols(
        "ticket_id STRING, email STRING, created_at TIMESTAMP, closed_at TIMESTAMP, "
        "status STRING, category STRING, body STRING, satisfaction INT",
        pii=("email", "body")),
    "consent": _cols(
        "subject STRING, channel STRING, status STRING, changed_at TIMESTAMP, "
        "source_system STRING", pii=("subject",)),
}


def canonical_names(entity: str) -> list[str]:
    return [c.name for c in ENTITIES[entity]]


def pii_columns(entity: str) -> list[str]:
    return [c.name for c in ENTITIES[entity] if c.is_pii]
