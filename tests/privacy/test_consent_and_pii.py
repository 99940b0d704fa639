"""Consent decides every marketing output; personal data is found where nobody tagged it."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark.gold.audiences import audiences
from crm_spark.privacy import pii
from crm_spark.privacy.consent import consent_at
from crm_spark.privacy.hashing import keyed_hash, keyed_hash_of

CONSENT = "customer_id STRING, channel STRING, status STRING, changed_at TIMESTAMP"
DAY1, DAY2 = dt.date(2024, 6, 1), dt.date(2024, 6, 2)


def ts(text):
    return dt.datetime.fromisoformat(text)


def test_latest_consent_on_or_before_the_date_wins_and_withdrawn_wins_a_tie(spark_fn):
    consent_df = spark_fn.createDataFrame(
        [
            ("c1", "email", "granted", ts("2024-05-01 10:00:00")),
            ("c1", "email", "withdrawn", ts("2024-06-02 08:00:00")),  # after DAY1: not yet
            ("c2", "email", "granted", ts("2024-05-03 09:00:00")),
            ("c2", "email", "withdrawn", ts("2024-05-03 09:00:00")),  # same instant
            ("c3", "sms", "granted", ts("2024-06-01 23:59:59")),  # last second of DAY1
            ("c4", "email", "granted", None),  # no date: ignored
        ],
        CONSENT,
    )
    expected = spark_fn.createDataFrame(
        [
            ("c1", "email", "granted"),
            ("c2", "email", "withdrawn"),
            ("c3", "sms", "granted"),
        ],
        "customer_id STRING, channel STRING, status STRING",
    )
    assert_df_equality(consent_at(consent_df, DAY1), expected, ignore_row_order=True, ignore_nullable=True)


def test_an_opt_out_today_removes_the_customer_from_tomorrows_audiences(spark_fn):
    rfm_df = spark_fn.createDataFrame(
        [("c1", "Champions"), ("c2", "Champions"), ("c3", "Lost")], "customer_id STRING, segment STRING"
    )
    segments_df = spark_fn.createDataFrame(
        [("c1", "high spenders")], "customer_id STRING, segment_label STRING"
    )
    consent_df = spark_fn.createDataFrame(
        [
            ("c1", "email", "granted", ts("2024-01-01 00:00:00")),
            ("c1", "email", "withdrawn", ts("2024-06-02 07:30:00")),  # opts out on DAY2
            ("c1", "sms", "granted", ts("2024-01-01 00:00:00")),
            ("c2", "email", "granted", ts("2024-01-01 00:00:00")),
            # c3 was never asked: in no audience
        ],
        CONSENT,
    )
    schema = "as_of DATE, channel STRING, segment_kind STRING, segment STRING, customer_id STRING"

    day1 = audiences(rfm_df, segments_df, consent_df, DAY1)
    day2 = audiences(rfm_df, segments_df, consent_df, DAY2)

    assert_df_equality(
        day1,
        spark_fn.createDataFrame(
            [
                (DAY1, "email", "rfm", "Champions", "c1"),
                (DAY1, "email", "behavioural", "high spenders", "c1"),
                (DAY1, "sms", "rfm", "Champions", "c1"),
                (DAY1, "sms", "behavioural", "high spenders", "c1"),
                (DAY1, "email", "rfm", "Champions", "c2"),
            ],
            schema,
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert_df_equality(
        day2,
        spark_fn.createDataFrame(
            [
                (DAY2, "sms", "rfm", "Champions", "c1"),
                (DAY2, "sms", "behavioural", "high spenders", "c1"),
                (DAY2, "email", "rfm", "Champions", "c2"),
            ],
            schema,
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_values_that_look_like_personal_data(spark_fn):
    values = [
        "jane.doe@example.com",
        "+44 7700 900123",
        "(020) 7946 0958",
        "4111 1111 1111 1111",
        "4111 1111 1111 1112",
        "ORD-2024-000123",
        "12",
        "hello world",
        "2024-06-01",
    ]
    df = spark_fn.createDataFrame([(v,) for v in values], "v STRING")
    found = [r.kind for r in df.select(pii.looks_like(F.col("v")).alias("kind")).collect()]
    assert found == ["email", "phone", "phone", "card", None, None, None, None, None]


def test_scan_reports_untagged_columns_only(spark_fn):
    df = spark_fn.createDataFrame(
        [
            ("a@example.com", "a@example.com", "4539 1488 0343 6467", "x1"),
            ("b@example.org", "b@example.org", "4012 8888 8888 1881", "x2"),
            (None, "", "5500 0000 0000 0004", "x3"),
        ],
        "notes STRING, email STRING, ref STRING, code STRING",
    )
    findings = pii.scan_frame("gold.t", df, ["notes", "ref", "code"])
    assert [
        (f.column, f.looks_like, f.share, f.example) for f in sorted(findings, key=lambda f: f.column)
    ] == [("notes", "email", 1.0, "a***********m"), ("ref", "card", 1.0, "4*****************1")]


def test_keyed_hash_is_the_same_on_the_driver_and_in_spark_and_needs_the_key(spark_fn):
    df = spark_fn.createDataFrame([("jane@example.com",), (None,)], "v STRING")
    hashed = [r.h for r in df.select(keyed_hash("email", F.col("v"), "k" * 16).alias("h")).collect()]
    assert hashed == [keyed_hash_of("email", "jane@example.com", "k" * 16), None]
    assert hashed[0] != keyed_hash_of("email", "jane@example.com", "j" * 16)
