"""Person records for the identity tests: name, address, state and birth date, with or without
e-mail and phone, written to silver.contacts through silver's own standardisation."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from crm_spark.silver.contacts import CONTACT_COLUMNS, CONTACTS, KEYS, standardise_contacts

RAW = ("source STRING, source_id STRING, first_name STRING, last_name STRING, email STRING, "
       "phone STRING, street STRING, city STRING, postcode STRING, state STRING, country STRING, "
       "birth_date DATE, created_at TIMESTAMP, updated_at TIMESTAMP")
WRITTEN = dt.datetime(2024, 1, 1, 10, 0)


def person(source, source_id, first, last, born, street, city, postcode, state, email=None, phone=None):  # noqa: PLR0913 (one argument per column of a test row)
    return (source, source_id, first, last, email, phone, street, city, postcode, state, "AU",
            dt.date.fromisoformat(born), WRITTEN, WRITTEN)


# Ten Australian persons (4-digit postcodes, a state each), no e-mail and no phone.
PERSONS = [
    ("Olivia", "Nguyen", "1984-02-11", "12 Acacia Road", "Sydney", "2000", "NSW"),
    ("Jack", "Smith", "1990-07-23", "4 Banksia Street", "Melbourne", "3000", "VIC"),
    ("Charlotte", "Brown", "1975-12-02", "88 Wattle Avenue", "Brisbane", "4000", "QLD"),
    ("William", "Wilson", "1968-05-30", "7 Gum Tree Lane", "Perth", "6000", "WA"),
    ("Amelia", "Taylor", "2001-03-14", "19 Harbour Parade", "Hobart", "7000", "TAS"),
    ("Noah", "Martin", "1959-09-09", "3 Kookaburra Court", "Adelaide", "5000", "SA"),
    ("Isla", "Anderson", "1993-01-27", "51 Eucalypt Drive", "Darwin", "0800", "NT"),
    ("Henry", "Thomas", "1981-11-05", "22 Jacaranda Close", "Canberra", "2600", "ACT"),
    ("Mia", "White", "1972-04-18", "6 Bottlebrush Way", "Geelong", "3220", "VIC"),
    ("Leo", "Harris", "1999-08-08", "140 Coral Street", "Cairns", "4870", "QLD"),
]


def identifier_poor_contacts(source="crm", copies=2):
    """Each person ``copies`` times in ``source`` (ids P<person>-<copy>); the second copy has a
    typo in the street, the third a typo in the first name."""
    rows = []
    for index, (first, last, born, street, city, postcode, state) in enumerate(PERSONS):
        for copy in range(copies):
            typed_street = street if copy != 1 else street.replace(" ", "  ", 1) + "e"
            typed_first = first if copy != 2 else first[:-1]
            rows.append(person(source, f"P{index}-{copy}", typed_first, last, born, typed_street,
                               city, postcode, state))
    return rows


def write_contacts(spark, lake, cfg, rows):
    raw = spark.createDataFrame(rows, RAW).withColumns({
        "source_channel": F.lit("crm"), "_batch_id": F.lit(0).cast("bigint"),
        "_ingested_at": F.col("updated_at")})
    lake.merge_upsert(standardise_contacts(raw, cfg.silver).select(*CONTACT_COLUMNS), CONTACTS, KEYS,
                      update_condition="s.updated_at > t.updated_at")
