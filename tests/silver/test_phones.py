"""Phone numbers of any country through libphonenumber (issue 23): national numbers read in the
default region or the record's country, international ones in their own; a number that does not
fit its country's plan is nulled and counted per source. Every E.164 below is written by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from crm_spark.silver import standardise as st
from crm_spark.silver.contacts import invalid_value_counts, standardise_contacts


@pytest.mark.parametrize("region, cases", [
    ("US", [("(212) 555-0142", "+12125550142"), ("1-212-555-0142", "+12125550142"),
            ("011 44 7700 900123", "+447700900123"),   # the US international prefix
            ("1-212-555-01", None)]),
    ("DE", [("030 12345678", "+493012345678"), ("0151 23456789", "+4915123456789")]),
    ("FR", [("01 23 45 67 89", "+33123456789"), ("06 12 34 56 78", "+33612345678"),
            ("06 12 34 56", None)]),
    ("AU", [("0412 345 678", "+61412345678"), ("(02) 9374 4000", "+61293744000")]),
    ("IN", [("098765 43210", "+919876543210"), ("98765 43210", "+919876543210")]),
    ("BR", [("(11) 91234-5678", "+5511912345678"), ("(11) 1234", None)]),
    ("JP", [("090-1234-5678", "+819012345678"), ("03-1234-5678", "+81312345678"),
            ("+81 90 1234", None)]),
    ("GB", [("+55 11 91234-5678", "+5511912345678"), ("0081 90 1234 5678", "+819012345678"),
            ("+91 98765 43210", "+919876543210")]),
])
def test_numbers_of_many_countries_in_their_default_region(spark, region, cases):
    # before libphonenumber only nine regions had a plan: AU, IN, BR and JP were a KeyError
    df = spark.createDataFrame(cases, "raw STRING, e164 STRING")
    got = df.select("raw", st.phone_e164_of("raw", region), st.is_phone_valid("raw", region))
    assert [tuple(r) for r in got.collect()] == [(raw, e164, e164 is not None) for raw, e164 in cases]


def test_each_record_read_in_its_country_and_invalid_numbers_counted_per_source(spark, base_config):
    rows = [
        # source, source_id, phone, country, expected E.164, expected flag
        ("crm", "c1", "07700 900123", None, "+447700900123", True),          # default region GB
        ("crm", "c2", "(11) 91234-5678", "Brazil", "+5511912345678", True),
        ("crm", "c3", "090-1234-5678", "JP", "+819012345678", True),
        ("crm", "c4", "03 1234", "Japan", None, False),                      # too short in Japan
        ("crm", "c5", None, "JP", None, None),                               # missing: not counted
        ("shop", "s1", "098765 43210", "India", "+919876543210", True),
        ("shop", "s2", "0412 345 678", "AU", "+61412345678", True),
        ("shop", "s3", "+44 77", None, None, False),
        ("shop", "s4", "0412 345 678 ext 2", "AU", None, False),             # letters: not guessed
    ]
    at = dt.datetime(2024, 1, 1)
    raw_df = spark.createDataFrame(
        [(r[0], r[1], r[2], r[3]) for r in rows],
        "source STRING, source_id STRING, phone STRING, country STRING",
    ).withColumns({"source_channel": F.lit("test"), "_batch_id": F.lit(0).cast("bigint"),
                   "_ingested_at": F.lit(at).cast("timestamp")})
    contacts_df = standardise_contacts(raw_df, base_config.silver)

    got = sorted(tuple(r) for r in contacts_df.select("source", "source_id", "phone",
                                                       "is_phone_valid").collect())
    assert got == sorted((r[0], r[1], r[4], r[5]) for r in rows)
    counts = sorted(tuple(r) for r in invalid_value_counts(contacts_df).select("source", "phone").collect())
    assert counts == [("crm", 1), ("shop", 2)]
