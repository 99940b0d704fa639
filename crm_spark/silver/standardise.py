"""Standardisation of contact fields: pure column expressions, no I/O.

Each ``*_of`` function maps a raw column to its standard form and returns null for a value
that is present but invalid; the matching ``is_*_valid`` expression says which case a null is
(null input: null flag, invalid input: false). Nothing is guessed: a phone number without a
country code is read in the configured default region, and one that does not fit that
region's numbering plan is invalid, not repaired.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType, StructField, StructType

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})*\.[a-z]{{2,}}$"


@dataclass(frozen=True)
class PhoneRegion:
    """A region's numbering plan as far as E.164 conversion needs it."""

    country_code: str
    trunk_prefix: str
    national_lengths: tuple[int, ...]  # digits after the trunk prefix


PHONE_REGIONS: Mapping[str, PhoneRegion] = {
    "GB": PhoneRegion("44", "0", (9, 10)),
    "IE": PhoneRegion("353", "0", (7, 8, 9)),
    "US": PhoneRegion("1", "1", (10,)),
    "CA": PhoneRegion("1", "1", (10,)),
    "DE": PhoneRegion("49", "0", tuple(range(6, 12))),
    "FR": PhoneRegion("33", "0", (9,)),
    "NL": PhoneRegion("31", "0", (9,)),
    "ES": PhoneRegion("34", "", (9,)),
    "IT": PhoneRegion("39", "", tuple(range(6, 12))),
}

POSTCODE_PATTERNS: Mapping[str, str] = {
    # outward code, then the three-character inward code
    "GB": r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$",
    "US": r"^([0-9]{5})(-[0-9]{4})?$",
    "DE": r"^([0-9]{5})$",
    "FR": r"^([0-9]{5})$",
    "NL": r"^([0-9]{4}) ?([A-Z]{2})$",
}


def clean_text(column: Column | str) -> Column:
    """Trim, collapse inner whitespace; empty becomes null."""
    text = F.trim(F.regexp_replace(_col(column), r"\s+", " "))
    return F.when(text != "", text)


def _display(value):
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFC", value)
    if text in (text.upper(), text.lower()):
        # all upper or all lower: initial capitals; mixed case (McDonald) is kept
        text = "".join(part[:1].upper() + part[1:].lower() for part in re.split(r"(\W)", text))
    return text


def _fold(value):
    """Decompose, drop accents and anything but letters, lower-case: the matching form."""
    if not isinstance(value, str):
        return None
    decomposed = unicodedata.normalize("NFKD", value)
    letters = "".join(c for c in decomposed if c.isalpha() or c == " ")
    return " ".join(letters.lower().split()) or None


NAME_FORMS = StructType([StructField("display", StringType()), StructField("match", StringType())])


@pandas_udf(NAME_FORMS)
def _name_forms(values: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"display": values.map(_display), "match": values.map(_fold)})


def name_forms_of(column: Column | str) -> Column:
    """A struct of the display form (NFC, trimmed, initial capitals only for all-upper or
    all-lower text, accents kept) and the matching form (accents folded, lower case, letters and
    single spaces only) of a name, in one pass through Python."""
    return _name_forms(clean_text(column))


def display_name_of(column: Column | str) -> Column:
    return name_forms_of(column)["display"]


def match_name_of(column: Column | str) -> Column:
    return name_forms_of(column)["match"]


def split_full_name(column: Column | str) -> tuple[Column, Column]:
    """(first, last) from ``First [Middle] Last`` or ``LAST, First``; a single word is a last
    name."""
    text = clean_text(column)
    has_comma = F.instr(text, ",") > 0
    before = F.trim(F.substring_index(text, ",", 1))
    after = F.trim(F.regexp_extract(text, r",\s*(.*)$", 1))
    words = F.split(text, " ")
    first = F.when(has_comma, F.when(after != "", F.element_at(F.split(after, " "), 1))).otherwise(
        F.when(F.size(words) > 1, F.element_at(words, 1)))
    last = F.when(has_comma, before).otherwise(F.element_at(words, -1))
    return first, last


def email_of(column: Column | str) -> Column:
    """Lower-case, trimmed e-mail; null when it is not a plausible address."""
    email = F.lower(clean_text(column))
    return F.when(email.rlike(EMAIL_PATTERN), email)


def is_email_valid(column: Column | str) -> Column:
    return _flag(column, email_of(column))


def email_match_key(email: Column | str, ignore_dots: Sequence[str], plus_tags: Sequence[str],
                    aliases: Mapping[str, str]) -> Column:
    """The mailbox an address delivers to: domain aliases applied (``googlemail.com`` ->
    ``gmail.com``), dots removed where the provider ignores them, ``+tag`` removed where the
    provider supports sub-addressing. Other providers' addresses stay as they are.

    Args:
        email: a standardised address (``email_of``).
    """
    email = _col(email)
    local = F.substring_index(email, "@", 1)
    domain = F.substring_index(email, "@", -1)
    for alias, canonical in aliases.items():
        domain = F.when(domain == alias, F.lit(canonical)).otherwise(domain)
    if plus_tags:
        local = F.when(domain.isin(*plus_tags), F.substring_index(local, "+", 1)).otherwise(local)
    if ignore_dots:
        local = F.when(domain.isin(*ignore_dots), F.regexp_replace(local, r"\.", "")).otherwise(local)
    return F.when(email.isNotNull(), F.concat(local, F.lit("@"), domain))


def phone_e164_of(column: Column | str, default_region: str) -> Column:
    """E.164 (``+447700900123``) from international (``+44``, ``0044``) or national numbers of
    ``default_region``; a national ``(0)`` after the country code is dropped. Null when the
    digits do not fit the numbering plan."""
    region = PHONE_REGIONS[default_region]
    raw = clean_text(column)
    has_plus = F.startswith(raw, F.lit("+"))
    # "+44 (0)7700..." shows the trunk prefix that international dialling leaves out, while in
    # "(0)7700 ..." it is the trunk prefix itself
    is_international = has_plus | F.startswith(raw, F.lit("00"))
    raw = F.when(is_international, F.regexp_replace(raw, r"\(0\)", "")).otherwise(
        F.regexp_replace(raw, r"\(0\)", "0"))
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    only_allowed = raw.rlike(r"^[0-9+()./ -]+$")
    international = F.when(has_plus, digits).when(F.startswith(digits, F.lit("00")),
                                                  F.substring(digits, 3, 20))
    trunk = region.trunk_prefix
    national = F.when(F.lit(trunk == "") | F.startswith(digits, F.lit(trunk or "#")),
                      F.substring(digits, len(trunk) + 1, 20))
    number = F.coalesce(international, F.concat(F.lit(region.country_code), national))
    return F.when(only_allowed & _fits_plan(number), F.concat(F.lit("+"), number))


def is_phone_valid(column: Column | str, default_region: str) -> Column:
    return _flag(column, phone_e164_of(column, default_region))


def _fits_plan(number: Column) -> Column:
    """True when ``number`` (country code + national digits) has a length its plan allows;
    numbers of countries without a plan here need 8-15 digits (E.164's range)."""
    fits = None
    known = F.lit(False)
    for plan in {r.country_code: r for r in PHONE_REGIONS.values()}.values():
        is_country = F.startswith(number, F.lit(plan.country_code))
        national_length = F.length(number) - len(plan.country_code)
        condition = is_country & national_length.isin(*plan.national_lengths)
        fits = condition if fits is None else fits | condition
        known = known | is_country
    generic = ~known & F.length(number).between(8, 15)
    return F.coalesce(fits | generic, F.lit(False))


def postcode_of(column: Column | str, default_region: str) -> Column:
    """Upper-case postcode in the region's canonical spacing (``SW1A 1AA``); null when it does
    not match the region's format. Regions without a pattern keep the cleaned text."""
    text = F.upper(clean_text(column))
    pattern = POSTCODE_PATTERNS.get(default_region)
    if pattern is None:
        return text
    outward = F.regexp_extract(text, pattern, 1)
    inward = F.regexp_extract(text, pattern, 2)
    canonical = F.trim(F.concat_ws(" ", outward, F.when(inward != "", inward)))
    if default_region == "US":
        canonical = F.concat(outward, inward)
    return F.when(text.rlike(pattern), canonical)


def is_postcode_valid(column: Column | str, default_region: str) -> Column:
    return _flag(column, postcode_of(column, default_region))


def birth_date_of(column: Column | str, recorded_at: Column | str) -> Column:
    """A birth date between 1900-01-01 and the time the record was written; else null."""
    born = _col(column)
    return F.when((born >= F.lit("1900-01-01").cast("date"))
                  & (born <= F.to_date(_col(recorded_at))), born)


def is_birth_date_valid(column: Column | str, recorded_at: Column | str) -> Column:
    return _flag(column, birth_date_of(column, recorded_at))


def _flag(raw: Column | str, standard: Column) -> Column:
    """null for a missing value, true for a valid one, false for an invalid one."""
    present = clean_text(_col(raw).cast("string")).isNotNull()
    return F.when(present, standard.isNotNull())


def _col(column: Column | str) -> Column:
    return F.col(column) if isinstance(column, str) else column
