"""The identifier-poor profile, checked against its files as a reader sees them: no e-mail or
phone, Australian addresses, the truth of every record, the planted rates, and one seed giving
the same bytes."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import glob
import re
from pathlib import Path

import pytest

from crm_spark.cli import build_parser
from crm_spark.generate import identifier_poor

PERSONS = 3000
HEADER = ["rec_id", "given_name", "surname", "street_number", "address_1", "suburb", "postcode",
          "state", "date_of_birth"]
STATES = {"NSW", "VIC", "QLD", "SA", "WA", "TAS", "ACT", "NT", "new south wales", "victoria",
          "queensland", "south australia", "western australia", "tasmania",
          "australian capital territory", "northern territory"}


def settings(base_config, seed=11):
    return dataclasses.replace(base_config.generate, persons=PERSONS, seed=seed, malformed_rate=0.0)


@pytest.fixture(scope="module")
def generated(spark, base_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("poor")
    counts = identifier_poor.generate(spark, settings(base_config), str(root / "landing"),
                                      str(root / "truth"))
    return root, counts


def rows(root: Path, source: str) -> tuple[list[str], list[dict]]:
    files = sorted(glob.glob(str(root / "landing" / source / "*.csv")))
    assert files, source
    header, records = None, []
    for file in files:
        with open(file, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            records += [dict(zip(header, (v or None for v in r), strict=True)) for r in reader]
    return header, records


def truth(root: Path, name: str) -> list[dict]:
    with open(root / "truth" / name / f"{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_command_line_offers_the_profile():
    args = build_parser().parse_args(["generate", "--profile", "identifier-poor", "--persons", "10"])
    assert args.profile == "identifier-poor"


def test_two_sources_of_person_records_without_email_or_phone(generated):
    root, counts = generated
    assert set(counts) == {"people_a", "people_b"}
    for source in counts:
        header, records = rows(root, source)
        assert header == HEADER
        assert len(records) == counts[source]
        postcodes = [r["postcode"] for r in records if r["postcode"]]
        assert all(re.fullmatch(r"\d{4}", p) for p in postcodes)
        assert {r["state"] for r in records if r["state"]} <= STATES
    # people_a holds 80 % of persons and everyone not in people_b (1 - 0.2 * 0.6 = 0.88),
    # people_b 60 %
    assert abs(counts["people_a"] / PERSONS - 0.88) < 0.03
    assert abs(counts["people_b"] / PERSONS - 0.60) < 0.03


def test_the_truth_names_the_person_of_every_record_once_per_source(generated):
    root, counts = generated
    records = truth(root, "source_records")
    assert len(records) == sum(counts.values())
    for source in counts:
        in_truth = [r for r in records if r["source"] == source]
        _, exported = rows(root, source)
        assert sorted(r["source_id"] for r in in_truth) == sorted(r["rec_id"] for r in exported)
        assert len({r["person_id"] for r in in_truth}) == len(in_truth)   # deduplicated source
    persons = {r["person_id"] for r in truth(root, "persons")}
    assert len(persons) == PERSONS
    assert {r["person_id"] for r in records} == persons   # everyone is in some source


def test_planted_rates(generated):
    root, _ = generated
    persons = {p["person_id"]: p for p in truth(root, "persons")}
    person_of = {(r["source"], r["source_id"]): r["person_id"] for r in truth(root, "source_records")}
    records = []
    for source in ("people_a", "people_b"):
        records += [(persons[person_of[(source, r["rec_id"])]], r) for r in rows(root, source)[1]]
    n = len(records)

    def share(predicate):
        return sum(1 for p, r in records if predicate(p, r)) / n

    def parses(text):
        try:
            dt.datetime.strptime(text, "%d/%m/%Y")
            return True
        except ValueError:
            return False

    assert abs(share(lambda p, r: r["date_of_birth"] is None) - 0.08) < 0.015
    assert abs(share(lambda p, r: r["street_number"] is None) - 0.10) < 0.015
    assert abs(share(lambda p, r: r["state"] is None) - 0.10) < 0.015
    assert abs(share(lambda p, r: r["postcode"] is None) - 0.04) < 0.01
    # month 13 on 3 % of the birth dates present
    assert abs(share(lambda p, r: r["date_of_birth"] is not None and not parses(r["date_of_birth"]))
               - 0.03 * 0.92) < 0.01
    # given name and surname swapped on 5 %: about 0.05 * 0.9 * 0.9 * 0.98 * 0.98 = 0.039 are
    # seen as swapped (a typo or a gap in either name hides the rest)
    swapped = share(lambda p, r: (r["given_name"] or "").lower() == p["surname"]
                    and (r["surname"] or "").lower() == p["given_name"])
    assert 0.03 < swapped < 0.05
    # names exactly as the person's, but for typos (10 %), swaps (5 %) and gaps (2 %)
    exact_given = share(lambda p, r: (r["given_name"] or "").lower() == p["given_name"])
    assert 0.78 < exact_given < 0.87
    # no true birth date is more than a year and a month away from its record's (typos swap
    # day and month, or move a year)
    for person, record in records:
        if record["date_of_birth"] and parses(record["date_of_birth"]):
            written = dt.datetime.strptime(record["date_of_birth"], "%d/%m/%Y").date()
            assert abs((written - dt.date.fromisoformat(person["birth_date"])).days) <= 366


def test_one_seed_gives_the_same_bytes_and_another_seed_other_data(spark, base_config, generated,
                                                                    tmp_path):
    root, _ = generated
    identifier_poor.generate(spark, settings(base_config), str(tmp_path / "same"),
                             str(tmp_path / "same_truth"))
    identifier_poor.generate(spark, settings(base_config, seed=12), str(tmp_path / "other"),
                             str(tmp_path / "other_truth"))
    for source in ("people_a", "people_b"):
        first = sorted(glob.glob(str(root / "landing" / source / "*")))
        again = sorted(glob.glob(str(tmp_path / "same" / source / "*")))
        assert [Path(f).name for f in first] == [Path(f).name for f in again]
        assert [Path(f).read_bytes() for f in first] == [Path(f).read_bytes() for f in again]
        other = sorted(glob.glob(str(tmp_path / "other" / source / "*")))
        assert [Path(f).read_bytes() for f in first] != [Path(f).read_bytes() for f in other]
    assert (root / "truth" / "source_records" / "source_records.csv").read_bytes() == \
        (tmp_path / "same_truth" / "source_records" / "source_records.csv").read_bytes()
