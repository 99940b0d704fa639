"""Cleaning, PII redaction and language tags of free text (issue 26)."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark.text.redact import clean_text, language_of, redact, with_standardised_text

PLANTED = [
    ("Mail me at jane.doe+crm@example.co.uk.", "Mail me at <email>."),
    ("JOHN_SMITH@Mail.COM wrote twice", "<email> wrote twice"),
    ("Call +44 20 7946 0958 today", "Call <phone> today"),
    ("Call +44 (0)20 7946 0958 today", "Call <phone> today"),
    ("my mobile is 07700 900123, thanks", "my mobile is <phone>, thanks"),
    ("or +447700900123!", "or <phone>!"),
    ("US office (555) 123-4567 or 555-123-4567", "US office <phone> or <phone>"),
    ("dial 555.123.4567 / +1 555 123 4567 / 1-800-555-0199", "dial <phone> / <phone> / <phone>"),
    ("text 5551234567 now", "text <phone> now"),
    ("card 4111 1111 1111 1111 expired", "card <card> expired"),
    ("card 4111-1111-1111-1111.", "card <card>."),
    ("paid with 4111111111111111", "paid with <card>"),
    ("amex 3782 822463 10005 declined", "amex <card> declined"),
    ("typo card 4111 1111 1111 1112 too", "typo card <card> too"),
    ("on 2024-03-15 call 020 7946 0958 at 10:30", "on 2024-03-15 call <phone> at 10:30"),
]

KEPT = [
    "Order 1234567 placed on 2024-03-15 for £1,299.99",
    "order #12345678 arrived 15/03/2024, refund of $49.90 pending",
    "Order 123456 (2024-03-15) still missing",
    "ticket 98765432 on 15.03.2024 at 10:30, 3 items, 2.5 kg",
    "Paid 1299.00 EUR on 2024-03-15 12:45:00",
    "Version 2.10.3 of the app, 24/7 support, 100% sure",
    "delivered 15-03-2024 14:05, order 7654321 - call back 2024-03-16 09:00",
]


def test_redact_replaces_planted_emails_phones_and_cards(spark):
    df = spark.createDataFrame([(raw,) for raw, _ in PLANTED], "text string")
    got = df.select("text", redact(F.col("text")).alias("redacted"))
    expected = spark.createDataFrame(PLANTED, "text string, redacted string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_redact_keeps_order_numbers_dates_and_amounts(spark):
    df = spark.createDataFrame([(text,) for text in KEPT] + [(None,)], "text string")
    got = df.select("text", redact(F.col("text")).alias("redacted"))
    expected = spark.createDataFrame([(text, text) for text in KEPT] + [(None, None)],
                                     "text string, redacted string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_clean_text_strips_controls_and_collapses_whitespace(spark):
    rows = [
        ("  The script is\u0085was there a script?  ", "The script is was there a script?"),
        ("perfect \u0096 a true\tmasterpiece\r\n", "perfect a true masterpiece"),
        ("no\u00a0break\u2028line and zero\u200bwidth\ufeff", "no break line and zerowidth"),
        ("a\x00b\x1fc", "a b c"),
        (" \t\u0085 ", None),
        (None, None),
    ]
    df = spark.createDataFrame([(raw,) for raw, _ in rows], "raw string")
    got = df.select("raw", clean_text(F.col("raw")).alias("clean"))
    expected = spark.createDataFrame(rows, "raw string, clean string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


LANGUAGES = [
    ("My parcel was not delivered and I want to know where it is.", "en"),
    ("No refund after 12 days, and no answer either. Worst customer service ever.", "en"),
    ("Ich habe die Lieferung nicht bekommen und bitte um eine Antwort.", "de"),
    ("Je n'ai pas reçu mon colis et je voudrais une réponse pour le remboursement.", "fr"),
    ("No he recibido el paquete y quiero una respuesta para la devolución.", "es"),
    ("Non ho ricevuto il pacco e vorrei una risposta per il rimborso.", "it"),
    ("Ik heb mijn pakket niet ontvangen en wil graag een antwoord.", "nl"),
    ("Wow... Loved this place.", "und"),
    ("Refund!!!", "und"),
    (None, None),
]


def test_language_of_names_the_language_or_says_undetermined(spark):
    df = spark.createDataFrame([(text,) for text, _ in LANGUAGES], "text string")
    got = df.select("text", language_of(F.col("text")).alias("language"))
    expected = spark.createDataFrame(LANGUAGES, "text string, language string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_with_standardised_text_adds_clean_redacted_text_and_language(spark):
    df = spark.createDataFrame([("T1", "  Please call me on +44 20 7946 0958,\u0085it is urgent "),
                                ("T2", None)], "ticket_id string, body string")
    got = with_standardised_text(df, "body")
    expected = spark.createDataFrame(
        [("T1", "  Please call me on +44 20 7946 0958,\u0085it is urgent ",
          "Please call me on <phone>, it is urgent", "en"),
         ("T2", None, None, None)],
        "ticket_id string, body string, body_clean string, body_language string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
