"""Silver for records of any country, and ``silver --rebuild``: an Australian source with house
numbers and states, read first with the default region GB and then rebuilt with AU."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from crm_spark import silver
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake
from tests.conftest import make_config

SOURCES = """
sources:
  people:
    channel: test
    entity: contact
    format: csv
    location: people
    schema: rec_id STRING, given STRING, surname STRING, number STRING, street STRING, suburb STRING,
            postcode STRING, state STRING, phone STRING, updated_at TIMESTAMP
    required: [rec_id]
    mapping: {source_id: rec_id, first_name: given, last_name: surname, house_number: number,
              street: street, city: suburb, postcode: postcode, state: state, phone: phone,
              updated_at: updated_at}
  members:
    channel: test
    entity: contact
    format: csv
    location: members
    schema: member_id STRING, surname STRING, phone STRING, updated_at TIMESTAMP
    required: [member_id]
    mapping: {source_id: member_id, last_name: surname, phone: phone, updated_at: updated_at}
"""
PEOPLE = ("rec_id STRING, given STRING, surname STRING, number STRING, street STRING, suburb STRING, "
          "postcode STRING, state STRING, phone STRING, updated_at TIMESTAMP")
T0 = dt.datetime(2024, 1, 1, 9)


def config(tmp_path, *overrides):
    conf = tmp_path / "sources-test.yml"
    conf.write_text(SOURCES)
    demo = make_config(tmp_path).sources
    return make_config(tmp_path, [*(f"sources.{n}.enabled=false" for n in demo), *overrides],
                       conf_files=[conf])


def to_bronze(spark, lake, source, schema, rows):
    df = spark.createDataFrame(rows, schema).withColumns({
        "_source": F.lit(source), "_source_file": F.lit(f"{source}.csv"),
        "_ingested_at": F.lit(dt.datetime(2024, 2, 1)).cast("timestamp"),
        "_batch_id": F.lit(0).cast("bigint")})
    lake.append(df, f"bronze.{source}")


def ctx(day):
    return RunContext(f"run-{day}", dt.datetime(2024, 3, day, tzinfo=dt.UTC))


def contacts(lake, *columns):
    return sorted(tuple(r) for r in lake.read("silver.contacts").select("source_id", *columns).collect())


def test_any_country_rows_and_a_rebuild_with_another_default_region(spark, tmp_path):
    cfg = config(tmp_path)
    lake = Lake(spark, cfg.lake.root)
    to_bronze(spark, lake, "people", PEOPLE, [
        ("p1", "Ava", "Nguyen", "12", "O'Connell St.", "Sydney", "2000", "N.S.W.", "0412 345 678", T0),
        ("p2", "Ben", "Kelly", None, "Main Road", "Perth", " 6000 ", "Western Australia", "call me", T0),
    ])
    to_bronze(spark, lake, "members", "member_id STRING, surname STRING, phone STRING, updated_at TIMESTAMP",
              [("m1", "Kelly", "0412 345 678", T0)])

    written = silver.build(spark, cfg, ctx(1))
    # default settings: Australian postcodes kept; "call me" nulled as invalid, and counted
    assert written == {"silver.contacts": 3, "silver.contacts invalid phone (people)": 1}
    assert contacts(lake, "street", "street_match", "postcode", "state", "state_match") == [
        ("m1", None, None, None, None, None),
        ("p1", "12 O'Connell St.", "12 oconnell st", "2000", "N.S.W.", "nsw"),
        ("p2", "Main Road", "main road", "6000", "Western Australia", "western australia"),
    ]
    # read as a British number before the rebuild
    assert contacts(lake, "phone") == [("m1", "+44412345678"), ("p1", "+44412345678"), ("p2", None)]

    australian = config(tmp_path, "silver.default_region=AU")
    assert silver.build(spark, australian, ctx(2)) == {}        # nothing new in bronze: unchanged
    assert silver.rebuild(spark, australian, ctx(3), only="people") == {
        "silver.contacts": 2, "silver.contacts invalid phone (people)": 1}
    assert contacts(lake, "phone") == [("m1", "+44412345678"), ("p1", "+61412345678"), ("p2", None)]
    assert silver.rebuild(spark, australian, ctx(4)) == {
        "silver.contacts": 3, "silver.contacts invalid phone (people)": 1}
    assert contacts(lake, "phone") == [("m1", "+61412345678"), ("p1", "+61412345678"), ("p2", None)]
    # the progress moved to the latest batch: an incremental run afterwards finds nothing to do
    assert silver.build(spark, australian, ctx(5)) == {}
