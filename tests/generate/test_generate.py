"""The generator, checked against its files as a reader sees them (not against its own code)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import glob
import json
from collections import Counter
from pathlib import Path

import pytest

from crm_spark.generate import generate
from crm_spark.generate.population import ALPHA, A, B, R

PERSONS = 800
MALFORMED_RATE = 0.03
DUPLICATE_RATE = 0.06


@pytest.fixture(scope="module")
def generated(spark, base_config, tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    counts = generate(spark, generator_settings(base_config), str(root / "landing"), str(root / "truth"))
    return root, counts


def generator_settings(base_config):
    return dataclasses.replace(base_config.generate, persons=PERSONS, seed=7,
                               malformed_rate=MALFORMED_RATE, duplicate_rate=DUPLICATE_RATE)


def lines(root: Path, name: str) -> list[str]:
    files = sorted(glob.glob(str(root / "landing" / name / "*")))
    assert files, f"no files for {name}"
    return [line for f in files for line in Path(f).read_text(encoding="utf-8").splitlines()]


def csv_rows(root: Path, name: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(lines(root, name)))
    return rows[0], rows[1:]


def truth(root: Path, name: str) -> list[dict]:
    with open(root / "truth" / name / f"{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def test_every_export_is_written_and_counted(generated):
    root, counts = generated
    for name, count in counts.items():
        header_lines = 1 if glob.glob(str(root / "landing" / name / "*.csv")) else 0
        assert len(lines(root, name)) == count + header_lines, name
    assert set(counts) == {
        "crm_contacts", "shop_accounts", "loyalty_members", "shop_orders", "shop_order_lines",
        "pos_transactions", "web_events", "email_events", "campaigns", "support_tickets",
        "products", "consent"}


def test_malformed_lines_match_the_rate_and_the_truth(generated):
    root, _ = generated
    bad_json = [line for line in lines(root, "shop_order_lines")
                if not _valid_order_line(line)]
    header, rows = csv_rows(root, "pos_transactions")
    bad_csv = [r for r in rows if len(r) != len(header) or not is_int(r[header.index("quantity")])]
    for bad, total in ((bad_json, len(lines(root, "shop_order_lines"))), (bad_csv, len(rows))):
        assert 0.4 * MALFORMED_RATE < len(bad) / total < 1.8 * MALFORMED_RATE
    listed = {row["line"] for row in truth(root, "malformed")}
    assert set(bad_json) <= listed
    assert {",".join(r) for r in bad_csv if len(r) == len(header)} <= listed


def _valid_order_line(line: str) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record.get("quantity"), int)


def test_crm_reexports_duplicate_ids_at_the_configured_rate(generated):
    root, _ = generated
    header, rows = csv_rows(root, "crm_contacts")
    ids = Counter(r[0] for r in rows if len(r) == len(header))
    repeated = sum(1 for n in ids.values() if n > 1)
    assert 0.4 * DUPLICATE_RATE < repeated / len(ids) < 1.8 * DUPLICATE_RATE


def test_truth_covers_every_person_record(generated):
    root, _ = generated
    known = {(r["source"], r["source_id"]) for r in truth(root, "source_records")}
    header, rows = csv_rows(root, "crm_contacts")
    crm_ids = {r[0] for r in rows if r and r[0]}
    members = {r[0] for r in csv_rows(root, "loyalty_members")[1] if r and r[0]}
    accounts = set()
    for line in lines(root, "shop_accounts"):
        try:
            accounts.add(json.loads(line)["account_id"])
        except (json.JSONDecodeError, KeyError):
            continue
    for source, ids in (("crm_contacts", crm_ids), ("loyalty_members", members),
                        ("shop_accounts", accounts)):
        assert ids and all((source, i) in known for i in ids), source


def test_true_parameters_follow_the_documented_distributions(generated):
    root, _ = generated
    persons = truth(root, "persons")
    assert len(persons) == PERSONS
    mean_lam = sum(float(p["lam"]) for p in persons) / PERSONS
    mean_p = sum(float(p["p"]) for p in persons) / PERSONS
    assert mean_lam == pytest.approx(R / ALPHA, rel=0.2)
    assert mean_p == pytest.approx(A / (A + B), rel=0.15)


def test_purchase_rate_and_taste_are_planted(generated):
    root, _ = generated
    persons = {p["person_id"]: p for p in truth(root, "persons")}
    orders_per_person = Counter(o["person_id"] for o in truth(root, "orders")
                                if o["origin"] == "btyd")
    ranked = sorted(persons, key=lambda pid: float(persons[pid]["lam"]))
    quarter = len(ranked) // 4
    low = sum(orders_per_person[p] for p in ranked[:quarter]) / quarter
    high = sum(orders_per_person[p] for p in ranked[-quarter:]) / quarter
    assert high > 2 * low

    category = {r[0]: r[2] for r in csv_rows(root, "products")[1] if len(r) == 4}
    order_person = {o["order_id"]: o["person_id"] for o in truth(root, "orders")}
    in_taste = total = 0
    for line in lines(root, "shop_order_lines"):
        if not _valid_order_line(line):
            continue
        record = json.loads(line)
        person = persons[order_person[record["order_id"]]]
        total += 1
        in_taste += category.get(record["sku"]) == person["taste"]
    assert in_taste / total > 0.6  # 0.7 planted + 0.3/8 by chance


def _json_records(root: Path, name: str) -> list[dict]:
    records = []
    for line in lines(root, name):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the planted malformed lines
    return records


def _when(text) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None  # a planted wrong type


def test_people_who_drop_out_stop_visiting_and_complain_before_it(generated):
    root, _ = generated
    persons = {p["person_id"]: p for p in truth(root, "persons")}
    dropout = {pid: _when(p["churned_at"]) for pid, p in persons.items() if p["churned_at"]}
    account_person = {r["source_id"]: r["person_id"] for r in truth(root, "source_records")
                      if r["source"] == "shop_accounts"}
    visits = [(account_person.get(e.get("account_id")), _when(e.get("event_ts")))
              for e in _json_records(root, "web_events")]
    late_visits = [(pid, at) for pid, at in visits
                   if pid in dropout and at and at > dropout[pid] + dt.timedelta(days=15)]
    assert not late_visits, late_visits[:3]

    mailbox_person = {p["email"].lower(): pid for pid, p in persons.items()}
    tickets = [(mailbox_person.get(t["email"].strip().lower()), _when(t.get("created_at")))
               for t in _json_records(root, "support_tickets") if isinstance(t.get("email"), str)]
    with_ticket = {pid for pid, _ in tickets}
    assert 0.4 < 1 - len(with_ticket & set(persons)) / len(persons) < 0.8  # 0-3 tickets, 0 most often
    complained = {pid for pid, at in tickets
                  if pid in dropout and at and dt.timedelta(0) <= dropout[pid] - at <= dt.timedelta(days=30)}
    assert len(complained) / len(dropout) > 0.2  # 0.3 planted; a ticket at any time would give ~0.03


def test_same_seed_gives_identical_files(spark, base_config, generated, tmp_path):
    first, _ = generated
    again = tmp_path / "again"
    generate(spark, generator_settings(base_config), str(again / "landing"), str(again / "truth"))
    files_first = sorted(p.relative_to(first) for p in first.rglob("*.*"))
    files_again = sorted(p.relative_to(again) for p in again.rglob("*.*"))
    assert files_first == files_again and files_first
    for rel in files_first:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_no_two_persons_share_a_mailbox(generated):
    root, _ = generated
    mailboxes = {}
    for person in truth(root, "persons"):
        local, domain = person["email"].split("@")
        if domain in ("gmail.com", "googlemail.com"):
            local, domain = local.replace(".", ""), "gmail.com"
        mailboxes.setdefault(f"{local}@{domain}", set()).add(person["person_id"])
    shared = {box: ids for box, ids in mailboxes.items() if len(ids) > 1}
    assert not shared, list(shared.items())[:3]
