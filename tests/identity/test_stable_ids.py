"""Identity resolution across runs on inline contacts (deterministic keys only, so every link
is known by construction): ids stay stable, new records attach, a bridging record merges two
customers into the older id and logs it, a re-run with no new data changes nothing, and a
changed e-mail gives the golden record an SCD type 2 history, and a customer whose records split
apart keeps its id on the side of its oldest record."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from crm_spark import identity
from crm_spark.identity import stable_ids
from crm_spark.pipeline import RunContext
from crm_spark.silver.contacts import CONTACT_COLUMNS, CONTACTS, KEYS, standardise_contacts
from crm_spark.tables import Lake
from tests.conftest import make_config

RAW = ("source STRING, source_id STRING, first_name STRING, last_name STRING, full_name STRING, "
       "email STRING, phone STRING, street STRING, city STRING, postcode STRING, country STRING, "
       "birth_date DATE, login STRING, created_at TIMESTAMP, updated_at TIMESTAMP")


def contact(source, source_id, first, last, email=None, phone=None, updated="2024-01-01 10:00:00",
            city=None):
    ts = dt.datetime.fromisoformat(updated)
    return (source, source_id, first, last, None, email, phone, None, city, None, None, None, None, ts, ts)


def add_contacts(spark, lake, cfg, rows):
    raw = spark.createDataFrame(rows, RAW).withColumns({
        "source_channel": F.lit("crm"), "_batch_id": F.lit(0).cast("bigint"),
        "_ingested_at": F.col("updated_at")})
    lake.merge_upsert(standardise_contacts(raw, cfg.silver).select(*CONTACT_COLUMNS), CONTACTS, KEYS,
                      update_condition="s.updated_at > t.updated_at")


def resolve(spark, cfg, day):
    ctx = RunContext(f"run-{day}", dt.datetime(2024, 3, day, tzinfo=dt.UTC))
    return identity.build(spark, cfg, ctx)


def ids(lake):
    return {(r["source"], r["source_id"]): r["customer_id"]
            for r in lake.read("silver.identity_map").collect()}


@pytest.fixture
def setup(spark, tmp_path):
    cfg = make_config(tmp_path, ["identity.probabilistic=false"])
    return cfg, Lake(spark, cfg.lake.root)


def test_ids_stay_stable_new_records_attach_and_a_bridge_merges_into_the_older_id(spark, setup):
    cfg, lake = setup
    add_contacts(spark, lake, cfg, [
        contact("crm", "1", "Ava", "Wood", "ava@example.org", "07700 900001"),
        contact("shop", "1", "Ava", "Wood", " AVA@example.org", None),
        contact("crm", "2", "Ben", "Lee", "ben@example.org", "07700 900002"),
        contact("loyalty", "1", "Ben", "Lee", None, "+44 7700 900002"),
    ])
    resolve(spark, cfg, 1)
    first = ids(lake)
    ava, ben = first[("crm", "1")], first[("crm", "2")]
    assert first == {("crm", "1"): ava, ("shop", "1"): ava, ("crm", "2"): ben, ("loyalty", "1"): ben}
    assert ava != ben

    add_contacts(spark, lake, cfg, [
        contact("shop", "2", "Ava", "Wood", "ava@example.org"),        # an existing person
        contact("crm", "3", "Cat", "Ray", "cat@example.org", "07700 900003"),   # a new person
    ])
    resolve(spark, cfg, 2)
    second = ids(lake)
    cat = second[("crm", "3")]
    assert cat not in (ava, ben)
    assert second == {**first, ("shop", "2"): ava, ("crm", "3"): cat}

    # one record with Cat's e-mail and Ben's phone: Cat (created in run 2) joins Ben (run 1)
    add_contacts(spark, lake, cfg, [contact("shop", "3", "Cat", "Ray", "cat@example.org", "07700900002")])
    resolve(spark, cfg, 3)
    third = ids(lake)
    assert third == {**second, ("crm", "3"): ben, ("crm", "2"): ben, ("loyalty", "1"): ben,
                     ("shop", "3"): ben}
    merges = [(r["merged_id"], r["into_id"], r["run_id"])
              for r in lake.read("silver.identity_merges").collect()]
    assert merges == [(cat, ben, "run-3")]
    registry = {r["customer_id"]: r["merged_into"] for r in lake.read("silver.customer_ids").collect()}
    assert registry == {ava: None, ben: None, cat: ben}
    assert sorted(r["customer_id"] for r in lake.read("silver.customers").collect()) == sorted([ava, ben])
    history = lake.read("silver.customers_history").filter(F.col("customer_id") == cat)
    assert [(r["is_current"], r["valid_to"]) for r in history.collect()] == [
        (False, dt.datetime(2024, 3, 3))]


def test_a_rerun_with_no_new_data_changes_nothing(spark, setup):
    cfg, lake = setup
    add_contacts(spark, lake, cfg, [
        contact("crm", "1", "Ava", "Wood", "ava@example.org", "07700 900001"),
        contact("shop", "1", "Ava", "Wood", "ava@example.org"),
        contact("crm", "2", "Ben", "Lee", "ben@example.org"),
    ])
    resolve(spark, cfg, 1)
    tables = ["silver.identity_map", "silver.customers", "silver.customers_history", "silver.customer_ids"]
    before = {t: lake.read(t).localCheckpoint() for t in tables}
    resolve(spark, cfg, 2)
    for table in tables:
        assert_df_equality(lake.read(table), before[table], ignore_row_order=True)
    assert not lake.exists("silver.identity_merges")


def test_a_changed_email_closes_the_golden_row_and_opens_a_new_one(spark, setup):
    cfg, lake = setup
    add_contacts(spark, lake, cfg, [
        contact("crm", "1", "Ava", "Wood", "ava@example.org", "07700 900001", "2024-01-01 10:00:00"),
        contact("shop", "1", "Ava", "Wood", "ava@example.org", "07700 900001", "2024-01-01 10:00:00"),
    ])
    resolve(spark, cfg, 1)
    add_contacts(spark, lake, cfg, [
        contact("crm", "1", "Ava", "Wood", "ava.wood@example.net", "07700 900001", "2024-02-01 10:00:00")])
    resolve(spark, cfg, 2)
    customer = ids(lake)[("crm", "1")]
    assert ids(lake)[("shop", "1")] == customer   # still linked by the phone
    history = (lake.read("silver.customers_history").filter(F.col("customer_id") == customer)
               .orderBy("valid_from").select("email", "valid_from", "valid_to", "is_current").collect())
    assert [tuple(r) for r in history] == [
        ("ava@example.org", dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2), False),
        ("ava.wood@example.net", dt.datetime(2024, 3, 2), None, True),
    ]
    golden = lake.read("silver.customers").filter(F.col("customer_id") == customer).first()
    assert golden["email"] == "ava.wood@example.net"   # crm is trusted over shop


def dated(source_id, email, phone, created, updated="2024-01-01 10:00:00"):
    row = list(contact("crm", source_id, "Ava", "Wood", email, phone, updated))
    row[-2] = dt.datetime.fromisoformat(created)
    return tuple(row)


def test_a_split_customer_keeps_its_id_on_the_side_of_its_oldest_record(spark, setup):
    # crm 1 and 2 share a mailbox, 2 and 3 a phone: one customer. Then crm 2 changes its
    # e-mail: {1} and {2, 3} split apart. The id stays with crm 3, the oldest record (created
    # first, though its id is not the smallest and its side not the largest); crm 1's side is
    # split off with a new id, logged in silver.identity_splits.
    cfg, lake = setup
    add_contacts(spark, lake, cfg, [
        dated("1", "ava@example.org", None, "2023-06-01 00:00:00"),
        dated("2", "ava@example.org", "07700 900001", "2023-09-01 00:00:00"),
        dated("3", None, "07700 900001", "2023-01-01 00:00:00"),
    ])
    resolve(spark, cfg, 1)
    first = ids(lake)
    ava = first[("crm", "1")]
    assert first == {("crm", "1"): ava, ("crm", "2"): ava, ("crm", "3"): ava}

    add_contacts(spark, lake, cfg, [
        dated("2", "ava.wood@example.net", "07700 900001", "2023-09-01 00:00:00", "2024-02-01 10:00:00")])
    resolve(spark, cfg, 2)
    second = ids(lake)
    split_off = second[("crm", "1")]
    assert split_off != ava
    assert second == {("crm", "1"): split_off, ("crm", "2"): ava, ("crm", "3"): ava}
    assert [(r["new_id"], r["from_id"], r["run_id"]) for r in lake.read("silver.identity_splits").collect()] \
        == [(split_off, ava, "run-2")]
    registry = {r["customer_id"]: (r["created_run"], r["merged_into"])
                for r in lake.read("silver.customer_ids").collect()}
    assert registry == {ava: ("run-1", None), split_off: ("run-2", None)}
    assert not lake.exists("silver.identity_merges")

    resolve(spark, cfg, 3)   # a re-run keeps both ids and logs the split once
    assert ids(lake) == second
    assert lake.read("silver.identity_splits").count() == 1


def test_a_split_with_no_record_ages_keeps_the_id_with_the_smallest_record_id(spark, setup):
    # one customer over records a, b, c (its id minted from a, the smallest); then the
    # components {a} and {b, c}: a keeps the id, {b, c} gets a new one logged as a split
    _, lake = setup
    run1 = RunContext("run-1", dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    together = spark.createDataFrame([("a", "a"), ("b", "a"), ("c", "a")],
                                     "record_id STRING, component STRING")
    previous, new_rows, merges, splits = stable_ids.assign_ids(lake, together, None, run1, "C")
    stable_ids.record_ids(lake, new_rows, merges, run1, splits)
    [customer] = {r["customer_id"] for r in previous.collect()}

    run2 = RunContext("run-2", dt.datetime(2024, 3, 2, tzinfo=dt.UTC))
    apart = spark.createDataFrame([("a", "a"), ("b", "b"), ("c", "b")],
                                  "record_id STRING, component STRING")
    mapping, new_rows, merges, splits = stable_ids.assign_ids(lake, apart, previous, run2, "C")
    assigned = {r["record_id"]: r["customer_id"] for r in mapping.collect()}
    assert assigned["a"] == customer
    assert assigned["b"] == assigned["c"] != customer
    assert [tuple(r) for r in splits.collect()] == [(assigned["b"], customer)]
    assert [r["customer_id"] for r in new_rows.collect()] == [assigned["b"]]
    assert merges.count() == 0
