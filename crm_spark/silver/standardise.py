"""Standardisation of contact fields: pure column expressions, no I/O.

Each ``*_of`` function maps a raw column to its standard form and returns null for a value
that is present but invalid; the matching ``is_*_valid`` expression says which case a null is
(null input: null flag, invalid input: false). Nothing is guessed: a phone number without a
country code is read in the record's country (its ``country`` when that names one, else the
configured default region), and one that does not fit that country's numbering plan
(libphonenumber's metadata, through the ``phonenumbers`` package) is invalid, not repaired.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import phonenumbers
from phonenumbers.geodata.locale import LOCALE_DATA
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType, StructField, StructType

from crm_spark.config import POSTCODE_MODES

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})*\.[a-z]{{2,}}$"
PHONE_CHARACTERS = r"^[0-9+()./ -]+$"   # anything else (letters, "ext") is not guessed away

# Every region libphonenumber knows ("GB", "AU", ...), the names of those regions in English
# ("AUSTRALIA") and a few common aliases, upper-case, -> the region code.
REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
COUNTRY_ALIASES = {"UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB",
                   "WALES": "GB", "NORTHERN IRELAND": "GB", "USA": "US", "UNITED STATES OF AMERICA": "US",
                   "U.S.A.": "US", "U.S.": "US", "U.K.": "GB"}


def _country_codes() -> dict[str, str]:
    codes = {region: region for region in REGIONS}
    for region in REGIONS:
        names = LOCALE_DATA.get(region, {})
        name = names.get("en")
        if name and name.startswith("*"):   # the data shares a name: "*aa" is the name under "aa"
            name = names.get(name[1:])
        if name:
            codes.setdefault(name.upper(), region)
    codes.update(COUNTRY_ALIASES)
    return codes


COUNTRY_CODES: Mapping[str, str] = _country_codes()


@dataclass(frozen=True)
class PostcodeFormat:
    """A country's postcode: ``pattern`` over the upper-case text, whose groups joined by
    ``joiner`` are the canonical form."""

    pattern: str
    joiner: str = " "

    @property
    def groups(self) -> int:
        return re.compile(self.pattern).groups


_FOUR = PostcodeFormat(r"^([0-9]{4})$")
_FIVE = PostcodeFormat(r"^([0-9]{5})$")
_SIX = PostcodeFormat(r"^([0-9]{6})$")
_THREE_TWO = PostcodeFormat(r"^([0-9]{3}) ?([0-9]{2})$")

POSTCODE_FORMATS: Mapping[str, PostcodeFormat] = {
    # outward code, then the three-character inward code
    "GB": PostcodeFormat(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$"),
    "IE": PostcodeFormat(r"^([AC-FHKNPRTV-Y][0-9]{2}|D6W) ?([0-9AC-FHKNPRTV-Y]{4})$"),
    "US": PostcodeFormat(r"^([0-9]{5})(?:-?([0-9]{4}))?$", "-"),
    "CA": PostcodeFormat(r"^([A-Z][0-9][A-Z]) ?([0-9][A-Z][0-9])$"),
    "NL": PostcodeFormat(r"^([0-9]{4}) ?([A-Z]{2})$"),
    "PL": PostcodeFormat(r"^([0-9]{2})-?([0-9]{3})$", "-"),
    "PT": PostcodeFormat(r"^([0-9]{4})-?([0-9]{3})$", "-"),
    "JP": PostcodeFormat(r"^([0-9]{3})-?([0-9]{4})$", "-"),
    "BR": PostcodeFormat(r"^([0-9]{5})-?([0-9]{3})$", "-"),
    "MT": PostcodeFormat(r"^([A-Z]{3}) ?([0-9]{4})$"),
    "IN": PostcodeFormat(r"^([0-9]{3}) ?([0-9]{3})$", ""),
    "IS": PostcodeFormat(r"^([0-9]{3})$"),
    **{region: _FOUR for region in ("AU", "NZ", "AT", "BE", "BG", "CH", "CY", "DK", "HU", "LU",
                                   "NO", "PH", "SI", "ZA")},
    **{region: _FIVE for region in ("DE", "FR", "IT", "ES", "FI", "EE", "HR", "LT", "MX", "TR",
                                   "UA", "KR", "MY", "TH", "ID")},
    **{region: _SIX for region in ("CN", "RU", "SG", "RO", "KZ", "VN")},
    **{region: _THREE_TWO for region in ("SE", "CZ", "SK", "GR")},
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


@pandas_udf(NAME_FORMS)  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
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


def region_of(country: Column | str, default_region: str) -> Column:
    """The region code (``AU``) a record's ``country`` names — a code libphonenumber knows, its
    English name (``Australia``) or a common alias (``UK``) — else ``default_region``."""
    return F.coalesce(stated_region_of(country), F.lit(default_region))


def stated_region_of(country: Column | str) -> Column:
    """The region code the record's ``country`` names; null when it names none."""
    codes = F.create_map(*[F.lit(x) for kv in sorted(COUNTRY_CODES.items()) for x in kv])
    return codes[F.upper(clean_text(country))]


def _e164(value, region):
    if not isinstance(value, str) or not re.match(PHONE_CHARACTERS, value):
        return None
    # "+44 (0)7700..." shows the trunk prefix that international dialling leaves out
    if value.startswith(("+", "00")):
        value = value.replace("(0)", "")
    if value.startswith("00"):
        value = "+" + value[2:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    # possible (a length the country's plan allows), not valid: the ranges a country has
    # assigned change over time, and a CRM keeps numbers for years
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pandas_udf(StringType())  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
def _phone_e164(values: pd.Series, regions: pd.Series) -> pd.Series:
    return pd.Series([_e164(v, r) for v, r in zip(values, regions, strict=True)], dtype=object)


def phone_e164_of(column: Column | str, region: Column | str) -> Column:
    """E.164 (``+447700900123``) from an international (``+44``, ``0044``) number, or a national
    number of ``region`` (a column of region codes, or one code such as ``"GB"``); a national
    ``(0)`` after the country code is dropped. Null when the number is not a valid number of
    its country's plan (libphonenumber), or holds anything but digits, spaces and ``+()./-``."""
    region = F.lit(region) if isinstance(region, str) else region
    return _phone_e164(clean_text(column), region)


def is_phone_valid(column: Column | str, region: Column | str) -> Column:
    return _flag(column, phone_e164_of(column, region))


def postcode_of(column: Column | str, region: Column | str, mode: str = "strict",
                is_region_stated: Column | None = None) -> Column:
    """Upper-case postcode with collapsed spaces, in the canonical form of its country's format
    (``SW1A 1AA``, ``2000``, ``100-0001``) where :data:`POSTCODE_FORMATS` has one.

    A postcode that does not fit its country's format is null in ``strict`` mode; in
    ``lenient`` mode only when the country is the record's own (``is_region_stated``), a
    postcode read in the default region keeping its normalised text; in ``normalise`` mode
    never. Countries without a format keep the normalised text.

    Args:
        region: a column of region codes, or one code such as ``"GB"``.
    """
    if mode not in POSTCODE_MODES:
        raise ValueError(f"postcode mode '{mode}' is not one of {', '.join(POSTCODE_MODES)}")
    region = F.lit(region) if isinstance(region, str) else region
    text = F.upper(clean_text(column))
    fitted = _fitted_postcode(text, region)
    has_format = region.isin(*POSTCODE_FORMATS)
    if mode == "strict":
        kept_unfitted = F.lit(False)
    elif mode == "lenient":
        kept_unfitted = F.lit(False) if is_region_stated is None else ~is_region_stated
    else:
        kept_unfitted = F.lit(True)
    return F.when(has_format, F.coalesce(fitted, F.when(kept_unfitted, text))).otherwise(text)


def is_postcode_valid(column: Column | str, region: Column | str) -> Column:
    """True when the postcode fits its country's format (or the country has none)."""
    region = F.lit(region) if isinstance(region, str) else region
    text = F.upper(clean_text(column))
    fits = F.when(region.isin(*POSTCODE_FORMATS), _fitted_postcode(text, region).isNotNull())
    return F.when(text.isNotNull(), F.coalesce(fits, F.lit(True)))


def _fitted_postcode(text: Column, region: Column) -> Column:
    """The canonical form of ``text`` in ``region``'s format; null when it does not fit or the
    region has no format."""
    fitted: Column | None = None
    for code, fmt in POSTCODE_FORMATS.items():
        parts = [F.nullif(F.regexp_extract(text, fmt.pattern, group), F.lit(""))
                 for group in range(1, fmt.groups + 1)]
        canonical = F.when(text.rlike(fmt.pattern), F.concat_ws(fmt.joiner, *parts))
        fitted = (F.when if fitted is None else fitted.when)(region == code, canonical)
    assert fitted is not None  # POSTCODE_FORMATS is not empty
    return fitted


def _fold_text(value):
    """Accents dropped, lower case, apostrophes and full stops removed (``N.S.W.`` -> ``nsw``),
    other punctuation a space (``3,12`` -> ``3 12``), spaces collapsed; digits kept."""
    if not isinstance(value, str):
        return None
    decomposed = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    text = re.sub(r"['\u2019`.]", "", text)
    text = re.sub(r"[\W_]+", " ", text)
    return " ".join(text.split()) or None


@pandas_udf(StringType())  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
def _folded_text(values: pd.Series) -> pd.Series:
    return values.map(_fold_text)


def match_text_of(column: Column | str) -> Column:
    """The matching form of an address part (street, state): accents dropped, lower case,
    punctuation removed, whitespace collapsed, digits kept; null when nothing is left."""
    return _folded_text(clean_text(column))


def birth_date_of(column: Column | str, recorded_at: Column | str) -> Column:
    """A birth date between 1900-01-01 and the time the record was written; else null."""
    born = _col(column)
    return F.when((born >= F.lit("1900-01-01").cast("date"))
                  & (born <= F.to_date(_col(recorded_at))), born)


def is_birth_date_valid(column: Column | str, recorded_at: Column | str) -> Column:
    return _flag(column, birth_date_of(column, recorded_at))


def is_valid_flag(raw: Column | str, standard: Column) -> Column:
    """The ``is_*_valid`` flag of a standard form already computed (``standard``)."""
    return _flag(raw, standard)


def _flag(raw: Column | str, standard: Column) -> Column:
    """null for a missing value, true for a valid one, false for an invalid one."""
    present = clean_text(_col(raw).cast("string")).isNotNull()
    return F.when(present, standard.isNotNull())


def _col(column: Column | str) -> Column:
    return F.col(column) if isinstance(column, str) else column
