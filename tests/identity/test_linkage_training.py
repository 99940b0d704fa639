"""Training the probabilistic model on sources that lack some identifiers: person records with
no e-mail and no phone resolve (the prior comes from the rules that find pairs in the data); a
training rule that gives no record pairs is left out before training and leaves the model whole;
when no rule gives pairs, resolve stops with one line."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest

from crm_spark import identity
from crm_spark.errors import CrmSparkError
from crm_spark.identity import linkage, training
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake
from tests.conftest import make_config
from tests.identity.people import PERSONS, identifier_poor_contacts, write_contacts
from tests.identity.test_stable_ids import add_contacts, contact, ids, resolve

# no phone, postcode or birth date anywhere (like splink's fake_1000); two records share a mailbox
CONTACTS = [contact("crm", f"C{i}", first, last, email)
            for i, (first, last, email) in enumerate([
                ("Ann", "Lee", "ann.lee@example.org"), ("Anne", "Lee", "ann.lee@example.org"),
                ("Bob", "Stone", "bob@example.org"), ("Cara", "Diaz", "cara@example.org"),
                ("Dan", "Moss", "dan@example.org"), ("Eve", "Hart", "eve@example.org"),
                ("Finn", "Ray", "finn@example.org"), ("Gus", "Hale", "gus@example.org")])]

EVERY_COMPARISON = ["first_name_match", "last_name_match", "email_match", "phone", "birth_date",
                    "postcode", "street_match", "city_match", "state_match", "country"]


def test_no_training_rule_with_pairs_stops_resolve_in_one_line(spark, tmp_path):
    cfg = make_config(tmp_path, ["identity.training_blocking=[[phone], [birth_date, postcode_match]]"])
    lake = Lake(spark, cfg.lake.root)
    add_contacts(spark, lake, cfg, CONTACTS)

    with pytest.raises(CrmSparkError) as raised:
        resolve(spark, cfg, 1)

    message = str(raised.value)
    assert "\n" not in message
    assert "phone, birth_date+postcode_match" in message and "identity.probabilistic=false" in message
    assert not lake.exists("silver.identity_map")


def test_person_records_without_email_or_phone_resolve_with_default_settings(spark, tmp_path):
    # names, street, city, 4-digit postcode, state, birth date; each person twice (the second
    # with a typo in the street). Before: the prior came from e-mail and phone rules only, was
    # 0, and resolve died with "ValueError: math domain error".
    cfg = make_config(tmp_path)
    lake = Lake(spark, cfg.lake.root)
    write_contacts(spark, lake, cfg, identifier_poor_contacts())

    resolve(spark, cfg, 1)

    mapped = ids(lake)
    assert len(mapped) == 20
    for index in range(len(PERSONS)):
        assert mapped[("crm", f"P{index}-0")] == mapped[("crm", f"P{index}-1")], PERSONS[index]
    assert len(set(mapped.values())) == 10


def trained_model(spark, root, training_rules, *settings):
    cfg = make_config(root, [f"identity.training_blocking={training_rules}", *settings])
    lake = Lake(spark, cfg.lake.root)
    write_contacts(spark, lake, cfg, identifier_poor_contacts(copies=3))
    contacts_df = lake.read("silver.contacts").withColumn("record_id", identity.record_id())
    contacts = identity.pairs.with_dedupe_scope(identity.with_match_columns(contacts_df), cfg.identity)
    ctx = RunContext("train", dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    linkage.score_pairs(spark, lake, contacts, cfg.identity, ctx, str(root / "scratch")).count()
    return json.loads(linkage.load_model(lake)["settings_json"])


def test_a_training_rule_without_pairs_leaves_the_model_whole(spark, tmp_path):
    # no phone in the data: the [phone] rule is left out. Before, Splink's EM session had
    # already dropped the phone comparison from the live settings and multiplied the prior by
    # the phone match's Bayes factor when it found no pairs.
    with_phone_rule = trained_model(spark, tmp_path / "a", "[[phone], [birth_date, postcode_match]]")
    without = trained_model(spark, tmp_path / "b", "[[birth_date, postcode_match]]")

    assert [c["output_column_name"] for c in with_phone_rule["comparisons"]] == EVERY_COMPARISON
    assert with_phone_rule["probability_two_random_records_match"] == pytest.approx(
        without["probability_two_random_records_match"], rel=1e-9)
    # 30 records, 435 pairs; the prior rules find the 3 pairs of each of the 10 persons
    assert without["probability_two_random_records_match"] == pytest.approx(30 / 0.8 / 435)


def test_records_no_blocking_rule_pairs_resolve_without_training(spark, tmp_path):
    # every record has its own mailbox and nothing else in common: no blocking rule gives a
    # candidate pair. Before, Splink was set up and resolve stopped because no training rule
    # gives pairs; now nothing is trained and each record is its own customer (D72).
    cfg = make_config(tmp_path)
    lake = Lake(spark, cfg.lake.root)
    add_contacts(spark, lake, cfg, CONTACTS[2:6])

    resolve(spark, cfg, 1)

    mapped = ids(lake)
    assert sorted(mapped) == [("crm", "C2"), ("crm", "C3"), ("crm", "C4"), ("crm", "C5")]
    assert len(set(mapped.values())) == 4
    assert {r["rule"] for r in lake.read("silver.identity_map").collect()} == {"unique"}
    assert not lake.exists(linkage.MODEL)


RULES = "[[birth_date, postcode_match]]"
ON_SPARK = "identity.train_on_driver_max_records=0"


@pytest.fixture(scope="module")
def trained_on_spark(spark, tmp_path_factory):
    """The model Spark's backend learns from identifier_poor_contacts(copies=3), and its root."""
    root = tmp_path_factory.mktemp("on_spark")
    return trained_model(spark, root, RULES, ON_SPARK), root


def test_training_writes_the_em_input_once_and_learns_the_same_model(spark, tmp_path, monkeypatch,
                                                                     trained_on_spark):
    # Splink's Spark backend recomputed the EM input (agreement-pattern counts) from every
    # comparison vector at each iteration, and u was counted with adaptive execution on; now
    # the EM input is written once per EM session and u is counted without it (D73). The
    # model is the one Splink's own backend learns: the same u counts, the same m.
    faster, root = trained_on_spark
    assert list((root / "scratch").rglob(f"{linkage.EM_INPUT}*/*.parquet"))
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"

    from splink import SparkAPI

    monkeypatch.setattr(linkage, "_spark_api", lambda session: SparkAPI(
        spark_session=session, break_lineage_method="parquet", num_partitions_on_repartition=2))
    monkeypatch.setattr(training, "without_adaptive_execution", lambda session: contextlib.nullcontext())
    splink_own = trained_model(spark, tmp_path / "splink_own", RULES, ON_SPARK)

    def m_u(model):
        return [(c["output_column_name"], level.get("m_probability"), level.get("u_probability"))
                for c in model["comparisons"] for level in c["comparison_levels"]
                if not level.get("is_null_level")]

    for (name, m, u), (name_own, m_own, u_own) in zip(m_u(faster), m_u(splink_own), strict=True):
        assert (name, u) == (name_own, u_own)
        assert (m is None and m_own is None) or m == pytest.approx(m_own, rel=1e-9)


def test_training_on_the_driver_learns_the_model_spark_learns(spark, tmp_path, caplog,
                                                              trained_on_spark):
    # Up to identity.train_on_driver_max_records records, Splink's DuckDB backend trains on the
    # driver and its parameters go into the Spark model (D94). With fewer pairs than
    # identity.max_pairs_for_u, u counts every pair, so both backends see the same counts.
    with caplog.at_level("INFO", logger="crm_spark.identity.linkage"):
        on_driver = trained_model(spark, tmp_path / "driver", RULES)
    assert "training on the driver (DuckDB): 30 records" in caplog.text
    on_spark, _ = trained_on_spark

    assert on_driver["sql_dialect"] == on_spark["sql_dialect"] == "spark"
    assert on_driver["probability_two_random_records_match"] == pytest.approx(30 / 0.8 / 435)
    assert on_spark["probability_two_random_records_match"] == pytest.approx(30 / 0.8 / 435)
    levels = [(c["output_column_name"], c["comparison_levels"]) for c in on_spark["comparisons"]]
    for (name, spark_levels), comparison in zip(levels, on_driver["comparisons"], strict=True):
        assert comparison["output_column_name"] == name
        for level, driver_level in zip(spark_levels, comparison["comparison_levels"], strict=True):
            assert driver_level["sql_condition"] == level["sql_condition"]
            for key in ("m_probability", "u_probability"):
                assert (driver_level.get(key) is None) == (level.get(key) is None), (name, key)
                if level.get(key) is not None:
                    assert driver_level[key] == pytest.approx(level[key], rel=1e-6), (name, key)


def test_parameters_of_another_model_are_refused(base_config):
    model = linkage.settings(base_config.identity)
    other = json.loads(json.dumps(model))
    other["comparisons"][0]["comparison_levels"][1]["label_for_charts"] = "something else"

    with pytest.raises(ValueError, match="does not match"):
        training.with_learned_parameters(model, other)
