"""Standardisation transforms on tricky inline values: each row is (raw, expected standard,
expected validity flag); a null input has a null flag, garbage has a null value and a false flag."""

from __future__ import annotations

from pyspark.sql import functions as F

from crm_spark.silver import standardise as st


def run(spark, rows, *expressions):
    df = spark.createDataFrame(rows, "raw STRING")
    return [tuple(r) for r in df.select("raw", *expressions).collect()]


def test_phone_numbers_become_e164_in_the_default_region(spark):
    cases = [
        ("07700 900123", "+447700900123", True),
        ("07700900123", "+447700900123", True),
        ("(0)7700-900123", "+447700900123", True),
        ("07700 900 123", "+447700900123", True),
        ("+44 7700 900123", "+447700900123", True),
        ("+447700900123", "+447700900123", True),
        ("0044 7700 900123", "+447700900123", True),
        ("+44 (0)7700900123", "+447700900123", True),
        (" +1 (415) 555-2671 ", "+14155552671", True),   # another country's plan
        ("7700 900123", "+447700900123", True),         # trunk prefix lost (a spreadsheet): still national
        ("0770090012345", None, False),                 # too long for the UK plan
        ("+44 77", None, False),
        ("call me", None, False),
        ("07700 900123 ext 4", None, False),            # letters: not guessed away
        ("", None, None),
        (None, None, None),
    ]
    got = run(spark, [(c[0],) for c in cases], st.phone_e164_of("raw", "GB"), st.is_phone_valid("raw", "GB"))
    assert got == cases


def test_email_is_trimmed_lowercased_and_validated(spark):
    cases = [
        ("  Ava.Wood@Gmail.COM ", "ava.wood@gmail.com", True),
        ("o'brien+news@example.org", "o'brien+news@example.org", True),
        ("ava.wood@gmail", None, False),
        ("ava wood@gmail.com", None, False),
        ("@gmail.com", None, False),
        ("ava..wood@gmail.com", None, False),
        ("n/a", None, False),
        (None, None, None),
    ]
    got = run(spark, [(c[0],) for c in cases], st.email_of("raw"), st.is_email_valid("raw"))
    assert got == cases


def test_mailbox_folding_only_where_the_provider_ignores_dots_or_tags(spark):
    key = st.email_match_key(st.email_of("raw"), ignore_dots=["gmail.com"],
                             plus_tags=["gmail.com", "outlook.com"],
                             aliases={"googlemail.com": "gmail.com"})
    cases = [
        ("Ava.Wood+shop@gmail.com", "avawood@gmail.com"),
        ("a.v.a.wood@googlemail.com", "avawood@gmail.com"),
        ("ava.wood+x@outlook.com", "ava.wood@outlook.com"),      # tags yes, dots no
        ("ava.wood+x@yahoo.co.uk", "ava.wood+x@yahoo.co.uk"),    # neither
        ("not an address", None),
        (None, None),
    ]
    assert run(spark, [(c[0],) for c in cases], key) == cases


def test_names_keep_accents_for_display_and_fold_them_for_matching(spark):
    cases = [
        ("  JOSÉ  ", "José", "jose"),
        ("müller", "Müller", "muller"),
        ("McDonald", "McDonald", "mcdonald"),        # mixed case is kept
        ("O'Brien", "O'Brien", "obrien"),
        ("Zoe\u0301", "Zoé", "zoe"),                  # combining accent composed (NFC)
        ("   ", None, None),
        (None, None, None),
    ]
    got = run(spark, [(c[0],) for c in cases], st.display_name_of("raw"), st.match_name_of("raw"))
    assert got == cases


def test_full_names_split_in_both_orders(spark):
    first, last = st.split_full_name("raw")
    cases = [
        ("Ava Wood", "Ava", "Wood"),
        ("WOOD, Ava", "Ava", "WOOD"),
        ("Mary Ann Smith", "Mary", "Smith"),
        ("Cher", None, "Cher"),
        (None, None, None),
    ]
    assert run(spark, [(c[0],) for c in cases], first, last) == cases


def test_postcodes_get_canonical_spacing_or_null(spark):
    cases = [
        ("sw1a1aa", "SW1A 1AA", True),
        (" M1  7BN ", "M1 7BN", True),
        ("NW11 8GN", "NW11 8GN", True),
        ("12345", None, False),
        ("SW1A", None, False),
        (None, None, None),
    ]
    got = run(spark, [(c[0],) for c in cases], st.postcode_of("raw", "GB"), st.is_postcode_valid("raw", "GB"))
    assert got == cases


def test_birth_dates_after_the_record_or_before_1900_are_invalid(spark):
    df = spark.createDataFrame(
        [("1987-01-26", "2024-01-01 10:00:00"), ("2030-05-01", "2024-01-01 10:00:00"),
         ("1850-01-01", "2024-01-01 10:00:00"), (None, "2024-01-01 10:00:00")],
        "born STRING, recorded STRING",
    ).select(F.col("born").cast("date").alias("born"), F.col("recorded").cast("timestamp").alias("recorded"))
    got = [(str(r[0]) if r[0] else None, r[1]) for r in df.select(
        st.birth_date_of("born", "recorded"), st.is_birth_date_valid("born", "recorded")).collect()]
    assert got == [("1987-01-26", True), (None, False), (None, False), (None, None)]


def test_phone_numbers_of_any_country_in_the_record_region(spark):
    df = spark.createDataFrame([
        ("(415) 555-2671", "US", "+14155552671", True),
        ("0412 345 678", "AU", "+61412345678", True),
        ("(02) 9374 4000", "AU", "+61293744000", True),
        ("090-1234-5678", "JP", "+819012345678", True),
        ("03 1234", "JP", None, False),                 # too short for Japan's plan
    ], "raw STRING, region STRING, e164 STRING, valid BOOLEAN")
    got = df.select("raw", "region", st.phone_e164_of("raw", F.col("region")),
                    st.is_phone_valid("raw", F.col("region")))
    assert [tuple(r) for r in got.collect()] == [tuple(r) for r in df.collect()]


def test_country_names_codes_and_aliases_give_the_region(spark):
    cases = [("AU", "AU"), (" australia ", "AU"), ("Japan", "JP"), ("uk", "GB"), ("Narnia", "DE"),
             (None, "DE")]
    assert run(spark, [(c[0],) for c in cases], st.region_of("raw", "DE")) == [
        (raw, region) for raw, region in cases]


def test_postcodes_by_country_and_mode(spark):
    df = spark.createDataFrame([
        # raw, region, stated (the record names its country), strict, lenient, normalise, valid
        ("2000", "AU", True, "2000", "2000", "2000", True),
        ("2000", "GB", False, None, "2000", "2000", False),         # read in the default region
        ("2000", "GB", True, None, None, "2000", False),            # the record says GB
        ("1000001", "JP", True, "100-0001", "100-0001", "100-0001", True),
        ("k1a0b1", "CA", True, "K1A 0B1", "K1A 0B1", "K1A 0B1", True),
        (" 08001  ", "AR", True, "08001", "08001", "08001", True),   # no format known: kept
        ("12", "US", True, None, None, "12", False),
    ], "raw STRING, region STRING, stated BOOLEAN, strict STRING, lenient STRING, normalise STRING, "
       "valid BOOLEAN")
    got = df.select("raw", "region", "stated", *[
        st.postcode_of("raw", F.col("region"), mode, F.col("stated")).alias(mode)
        for mode in ("strict", "lenient", "normalise")],
        st.is_postcode_valid("raw", F.col("region")).alias("valid"))
    assert [tuple(r) for r in got.collect()] == [tuple(r) for r in df.collect()]


def test_street_and_state_matching_forms(spark):
    cases = [
        ("12 Rue de l'Église", "12 rue de leglise"),
        ("  Flat 3,  12 High-St. ", "flat 3 12 high st"),
        ("New South Wales", "new south wales"),
        ("N.S.W.", "nsw"),
        (" .. ", None),
        (None, None),
    ]
    assert run(spark, [(c[0],) for c in cases], st.match_text_of("raw")) == cases
