"""Cleaning, PII redaction and a language tag for free text, as Spark column expressions.

``clean_text`` makes text comparable (control and odd whitespace characters out, one space
between words); ``redact`` replaces e-mail addresses, card-like numbers and phone numbers by
``<email>``, ``<card>``, ``<phone>``; ``language_of`` tags the language from stop words or says
``und`` (undetermined) when the text does not tell. No Python UDF: all three run in the JVM.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.privacy import pii
from crm_spark.text.stopwords import STOP_WORDS

EMAIL_TOKEN = "<email>"
CARD_TOKEN = "<card>"
PHONE_TOKEN = "<phone>"
UNDETERMINED = "und"


def unanchored(pattern: str) -> str:
    """The body of a whole-value pattern ``^...$`` (the PII scanner's), to find it inside text."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"not an anchored pattern: {pattern}")
    return pattern[1:-1]


# The scanner's e-mail shape, found anywhere in the text.
EMAIL_IN_TEXT = unanchored(pii.EMAIL)
# The scanner tells a card (13-19 digits) and a phone (9-15 digits) from a whole value by
# counting digits after matching; inside text the count has to be part of the pattern, and a
# run may not start or end in the middle of a longer number (an order number, a date).
# Card: 13-19 digits in groups of 3 or more, joined by single spaces or dashes.
CARD_IN_TEXT = (
    r"(?<![\w+])(?<!\d[ -])"
    r"(?=(?:\d[ -]?){12,18}\d(?![ -]?\d))"
    r"\d{3,}(?:[ -]\d{3,})*(?![ -]?\d)"
)
# Phone: optional +, 9-15 digits, each joined by at most two of space . - ) and an optional (.
PHONE_IN_TEXT = (
    r"(?<![\w+])(?<!\d[ .-])"
    r"\+?\(?\d(?:[ .)-]{0,2}\(?\d){8,14}(?![ .)-]{0,2}\(?\d)"
)
# Dates and times are fenced off before numbers are read, so that an order number next to a date
# ("123456 (2024-03-15)") or a date and an hour ("2024-03-15 12:45") never reads as one phone
# number; the fence is a private-use character, removed afterwards.
DATE_OR_TIME = (
    r"(?<!\d)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4}|\d{1,2}:\d{2}(?::\d{2})?)(?!\d)"
)
FENCE = "\ue000"
# Zero-width characters and the soft hyphen carry no text; removed, not turned into spaces.
INVISIBLE = "[\u200b\u200c\u2060\ufeff\u00ad]"
# Every control character (C0 and C1, so also NEL U+0085) and every Unicode space or line/
# paragraph separator become one space: a control character inside a sentence stood for a
# break ("is\u0085was"), so dropping it would glue two words.
SPACE_LIKE = r"[\p{Cc}\p{Z}]+"
MIN_STOP_WORDS = 2  # fewer hits than this and the text does not tell its language


def clean_text(text: Column) -> Column:
    """Text with invisible characters removed, control characters and Unicode spaces turned
    into one space, trimmed; null when nothing is left."""
    visible = F.regexp_replace(text, INVISIBLE, "")
    spaced = F.trim(F.regexp_replace(visible, SPACE_LIKE, " "))
    return F.when(spaced != "", spaced)


def redact(text: Column) -> Column:
    """Text with e-mail addresses, card-like numbers and phone numbers replaced by ``<email>``,
    ``<card>``, ``<phone>``. Order numbers (up to 8 digits), dates, times and amounts are kept;
    the private-use character U+E000 is removed."""
    without_email = F.regexp_replace(text, EMAIL_IN_TEXT, EMAIL_TOKEN)
    fenced = F.regexp_replace(F.regexp_replace(without_email, FENCE, ""), DATE_OR_TIME, f"{FENCE}$0{FENCE}")
    without_card = F.regexp_replace(fenced, CARD_IN_TEXT, CARD_TOKEN)
    without_phone = F.regexp_replace(without_card, PHONE_IN_TEXT, PHONE_TOKEN)
    return F.regexp_replace(without_phone, FENCE, "")


ANY_STOP_WORD = tuple(sorted({w for words in STOP_WORDS.values() for w in words}))


def count_of(words: Column, stop_words: tuple[str, ...]) -> Column:
    """How many of ``words`` (with repeats) are in ``stop_words``."""
    return F.size(F.filter(words, lambda w: w.isin(*stop_words)))


def _once(value: Column, use) -> Column:
    """``use(value)`` with ``value`` computed once: higher-order functions' lambdas run outside
    Spark's common-subexpression elimination, so a lambda-built value referred to twice would
    be computed twice per row (D109)."""
    return F.element_at(F.transform(F.array(value), use), 1)


def _ranked(known: Column) -> Column:
    """(count, language) of every language in ``known`` (the text's stop words), largest first."""
    hits = [F.struct(count_of(known, stop).alias("n"), F.lit(lang).alias("lang"))
            for lang, stop in STOP_WORDS.items()]
    return F.sort_array(F.array(*hits), asc=False)


def _tag(ranked: Column) -> Column:
    best, second = ranked[0], ranked[1]
    is_clear = (best["n"] >= MIN_STOP_WORDS) & (best["n"] > second["n"])
    return F.when(is_clear, best["lang"]).otherwise(F.lit(UNDETERMINED))


def language_of(text: Column) -> Column:
    """ISO 639-1 code of the language whose stop words the text holds most of (one of
    ``STOP_WORDS``' languages), or ``und`` when it holds fewer than ``MIN_STOP_WORDS`` of them
    or two languages tie; null for null text. The text is split once and its stop words kept;
    the languages count on that short list, ranked once."""
    words = F.split(F.lower(text), r"[^\p{L}']+")
    known = F.filter(words, lambda w: w.isin(*ANY_STOP_WORD))
    return F.when(text.isNotNull(), _once(_once(known, _ranked), _tag))


def with_standardised_text(df: DataFrame, text_col: str) -> DataFrame:
    """Adds ``<text_col>_clean`` (cleaned, then redacted) and ``<text_col>_language``.

    Requires: ``text_col`` (string). The raw column is kept; a stage that stores text outside
    silver selects ``<text_col>_clean`` instead of it.
    """
    clean = clean_text(F.col(text_col))
    return df.withColumn(f"{text_col}_clean", redact(clean)).withColumn(
        f"{text_col}_language", language_of(clean)
    )
