"""Right to erasure on a generated lake (a copy of demo_lake): 350 of its ~400 customers out of
every table, kept out of later ingests, audited without raw ids, and gone from time travel after
vacuum.

The checks name each source's identifier columns by hand (the generator's exports), so they do
not reuse the erasure code's own idea of where a person appears.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from crm_spark import bronze
from crm_spark.cli import main
from crm_spark.pipeline import RunContext
from crm_spark.privacy import erase
from tests.bronze.test_exactly_once import wait_for
from tests.conftest import PROJECT
from tests.privacy.conftest import HASH_KEY

pytestmark = pytest.mark.integration

ERASED = 350    # of demo_lake's ~400 customers: most of them, and still some kept
# bronze table -> (column, what it holds): the generator's exports as conf/sources.yml maps them
BRONZE_IDS = {
    "bronze.crm_contacts": [("contact_id", "crm_contacts"), ("email", "email")],
    "bronze.shop_accounts": [("account_id", "shop_accounts"), ("login", "email")],
    "bronze.loyalty_members": [("member_id", "loyalty_members")],
    "bronze.shop_orders": [("account_id", "shop_accounts"), ("order_id", "order")],
    "bronze.shop_order_lines": [("order_id", "order")],
    "bronze.pos_transactions": [("member_id", "loyalty_members")],
    "bronze.web_events": [("account_id", "shop_accounts"), ("cookie_id", "cookie")],
    "bronze.email_events": [("email", "email")],
    "bronze.support_tickets": [("email", "email")],
    "bronze.consent": [("email", "email")],
}


# tables whose every version the vacuum test reads back
VACUUMED = ("bronze.crm_contacts", "silver.contacts", "silver.identity_map", "gold.customer_360")


def person_values(lake, customer_ids):
    """What the erased people left in silver before the erasure, by kind."""
    ids_df = lake.spark.createDataFrame([(c,) for c in customer_ids], "customer_id STRING")
    records = (
        lake.read("silver.identity_map")
        .join(ids_df, "customer_id", "left_semi")
        .select("source", "source_id")
        .collect()
    )
    values = {"customer": set(customer_ids)}
    for r in records:
        values.setdefault(r.source, set()).add(r.source_id)
    contacts = lake.read("silver.contacts").join(
        lake.read("silver.identity_map").join(ids_df, "customer_id", "left_semi"),
        ["source", "source_id"],
        "left_semi",
    )
    values["email"] = {r.email for r in contacts.select("email").collect() if r.email}
    events = lake.read("silver.web_events").where(F.col("customer_id").isNotNull())
    cookies = {
        r.cookie_id for r in events.join(ids_df, "customer_id", "left_semi").select("cookie_id").collect()
    }
    # a device another customer also used stays: its anonymous events cannot be told apart
    shared = {
        r.cookie_id for r in events.join(ids_df, "customer_id", "left_anti").select("cookie_id").collect()
    }
    values["cookie"] = cookies - shared
    values["order"] = {
        r.order_id
        for r in lake.read("silver.orders")
        .join(ids_df, "customer_id", "left_semi")
        .select("order_id")
        .collect()
    }
    # their tickets' text (raw, redacted, sentiment) lives in silver and gold.ticket_insights
    values["ticket"] = {
        r.ticket_id
        for r in lake.read("silver.support_tickets")
        .join(ids_df, "customer_id", "left_semi")
        .select("ticket_id")
        .collect()
    }
    return values


def leftovers(lake, values):
    """table -> rows still holding one of the erased people's values."""
    found = {}
    for table in erase.tables_to_scan(lake):
        df = lake.read(table)
        checks = []
        if "customer_id" in df.columns:
            checks.append(F.col("customer_id").isin(list(values["customer"])))
        if "ticket_id" in df.columns and values.get("ticket"):
            checks.append(F.col("ticket_id").isin(list(values["ticket"])))
        for column, kind in BRONZE_IDS.get(table, []):
            held = values.get(kind, set())
            if held:
                checks.append(
                    F.lower(F.trim(F.col(column))).isin([v.lower() for v in held])
                    if kind == "email"
                    else F.col(column).isin(list(held))
                )
        if checks:
            condition = checks[0]
            for check in checks[1:]:
                condition = condition | check
            n = df.where(condition).count()
            if n:
                found[table] = n
    return found


def quarantine_leftovers(lake, values):
    """source -> quarantined lines holding a word that is one of the erased people's values in
    a column of that source (BRONZE_IDS), read from the raw text as a person would search it."""
    found = {}
    for row in lake.read("bronze._quarantine").select("_source", "raw").collect():
        held = set()
        for _, kind in BRONZE_IDS.get(f"bronze.{row._source}", []):
            held |= {v.lower() for v in values.get(kind, set())}
        words = set(re.findall(r"[a-z0-9_.@+-]+", (row.raw or "").lower()))
        if words & held:
            found[row._source] = found.get(row._source, 0) + 1
    return found


@pytest.fixture(scope="module")
def bulk_erasure(erase_lake, tmp_path_factory):
    """Erase the first ERASED customers through the CLI; returns what they held before and the
    non-erased counts to compare with."""
    cfg, lake, options = erase_lake
    customers = sorted(r.customer_id for r in lake.read("silver.customers").select("customer_id").collect())
    assert len(customers) > ERASED + 50
    erased, kept = customers[:ERASED], customers[ERASED:]
    values = person_values(lake, erased)
    before = {
        "versions": {t: lake.version(t) for t in VACUUMED},
        "leftovers": leftovers(lake, values),
        "quarantine": quarantine_leftovers(lake, values),
        "kept_orders": lake.read("silver.orders").where(F.col("customer_id").isin(kept)).count(),
        "kept_contacts": lake.read("silver.contacts").count()
        - sum(len(v) for k, v in values.items() if k in cfg.sources),
    }
    id_file = tmp_path_factory.mktemp("ids") / "erase.txt"
    id_file.write_text("\n".join(erased) + "\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SPARK_PII_KEY", HASH_KEY)
        status = main(
            [*options, "--set", "privacy.vacuum_after_erase=false", "erase", "--from-file", str(id_file)]
        )
    return status, erased, kept, values, before


def test_bulk_erasure_of_350_customers_leaves_no_row_in_any_table(erase_lake, bulk_erasure):
    cfg, lake, _ = erase_lake
    status, erased, kept, values, before = bulk_erasure
    assert status == 0
    assert before["leftovers"]["bronze.crm_contacts"] > 0  # the check does find people
    assert before["leftovers"]["gold.customer_360"] > 0
    assert before["leftovers"]["gold.ticket_insights"] > 0  # their ticket texts, redacted

    assert leftovers(lake, values) == {}
    assert lake.read("silver.orders").where(F.col("customer_id").isin(kept)).count() == before["kept_orders"]
    assert lake.read("silver.contacts").count() == before["kept_contacts"]


def test_the_erased_peoples_quarantined_lines_are_gone_too(erase_lake, bulk_erasure):
    _, lake, _ = erase_lake
    _, _, _, values, before = bulk_erasure
    # a web event names a person by a cookie or a shop account id only
    assert before["quarantine"].get("web_events", 0) > 0

    assert quarantine_leftovers(lake, values) == {}


def test_the_audit_holds_one_row_per_person_and_no_raw_identifier(erase_lake, bulk_erasure):
    cfg, lake, _ = erase_lake
    _, erased, _, values, _ = bulk_erasure
    audit = lake.read("privacy.erasure_audit").collect()
    assert len(audit) == ERASED
    assert all(re.fullmatch(r"[0-9a-f]{64}", r.subject_hash) and r.tables for r in audit)
    records = sum(len(v) for k, v in values.items() if k in cfg.sources)
    assert sum(r.rows_deleted.get("silver.identity_map", 0) for r in audit) == records
    stored = json.dumps([r.asDict(recursive=True) for r in audit], default=str) + json.dumps(
        [r.asDict() for r in lake.read("privacy.suppression").collect()], default=str
    )
    assert not any(c in stored for c in erased)
    assert not any(e in stored for e in values["email"])


def test_repeating_an_erasure_is_accepted_and_deletes_nothing_more(erase_lake, bulk_erasure, hash_key):
    cfg, lake, options = erase_lake
    _, erased, _, _, _ = bulk_erasure
    versions = {t: lake.version(t) for t in ("silver.contacts", "gold.customer_360", "bronze.crm_contacts")}
    ctx = RunContext("again", dt.datetime(2025, 1, 5, tzinfo=dt.UTC))

    result = erase.erase(lake.spark, cfg, ctx, erased[:3])

    assert result.rows_deleted == {}
    assert {t: lake.version(t) for t in versions} == versions


def test_erased_people_do_not_come_back_with_the_next_export(erase_lake, bulk_erasure, hash_key):
    cfg, lake, _ = erase_lake
    _, _, _, values, _ = bulk_erasure
    erased_contact = sorted(values["crm_contacts"])[0]
    landing = Path(cfg.lake.landing) / "crm_contacts"
    header, line = next(
        (f.open(encoding="utf-8").readline(), row)
        for f in sorted(landing.glob("*.csv"))
        for row in f.read_text(encoding="utf-8").splitlines()[1:]
        if row.startswith(erased_contact + ",")
    )
    fields = line.split(",")
    fields[-1] = "2025-01-05 10:00:00"  # the same record, updated later
    new_person = [
        "CNEW0001",
        "Ada",
        "Lovelace",
        "ada.lovelace@example.org",
        "",
        "",
        "London",
        "",
        "10/12/1985",
        "2025-01-05 09:00:00",
        "2025-01-05 09:00:00",
    ]
    (landing / "zz-late-export.csv").write_text(
        header + ",".join(fields) + "\n" + ",".join(new_person) + "\n", encoding="utf-8"
    )
    ctx = RunContext("late", dt.datetime(2025, 1, 6, tzinfo=dt.UTC))

    bronze.build(lake.spark, cfg, ctx, only="crm_contacts")

    ids = {r.contact_id for r in lake.read("bronze.crm_contacts").select("contact_id").collect()}
    assert "CNEW0001" in ids and erased_contact not in ids
    last = (
        lake.read("bronze._ingest_log").where("source = 'crm_contacts'").orderBy(F.desc("batch_id")).first()
    )
    assert (last.rows_read, last.rows_bronze, last.rows_quarantined, last.rows_suppressed) == (2, 1, 0, 1)


def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    erase_lake, hash_key, tmp_path, capsys, monkeypatch
):
    cfg, lake, options = erase_lake
    versions = {
        t: lake.version(t) for t in ("silver.identity_map", "gold.customer_360", "bronze.crm_contacts")
    }
    some_id = lake.read("silver.customers").select("customer_id").orderBy("customer_id").first()[0]

    assert main([*options, "erase", "--customer-id", some_id, "--customer-id", "C_NO_SUCH"]) == 1
    assert "unknown customer id(s): C_NO_SUCH" in capsys.readouterr().err

    sql = tmp_path / "ids.txt"
    sql.write_text(f"{some_id}\nx'; DROP TABLE silver.contacts; --\n")
    assert main([*options, "erase", "--from-file", str(sql)]) == 1
    # progress lines of the log (time-stamped) may come first; the error itself is one line
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not re.match(r"\d\d:\d\d:\d\d ", line)]
    assert len(err) == 1 and "line #2" in err[0] and "is not a customer id" in err[0]

    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main([*options, "erase", "--from-file", str(empty)]) == 1
    assert "holds no customer ids" in capsys.readouterr().err

    monkeypatch.delenv("CRM_SPARK_PII_KEY")
    assert main([*options, "erase", "--customer-id", some_id]) == 2
    assert "CRM_SPARK_PII_KEY is not set" in capsys.readouterr().err
    assert {t: lake.version(t) for t in versions} == versions


def test_vacuum_with_zero_retention_makes_erased_rows_unreadable_in_every_version(
    erase_lake, bulk_erasure, hash_key
):
    cfg, lake, options = erase_lake
    _, erased, _, values, before = bulk_erasure
    records = [f"{source}:{source_id}" for source in cfg.sources for source_id in values.get(source, ())]
    holds_erased = {
        "bronze.crm_contacts": F.col("contact_id").isin(list(values["crm_contacts"])),
        "silver.contacts": F.concat_ws(":", "source", "source_id").isin(records),
        "silver.identity_map": F.col("customer_id").isin(erased),
        "gold.customer_360": F.col("customer_id").isin(erased),
    }
    for table, condition in holds_erased.items():  # time travel still shows the people
        assert lake.read(table, version=before["versions"][table]).where(condition).count() > 0, table

    tables = [arg for table in holds_erased for arg in ("--table", table)]
    assert main([*options, "vacuum", "--retention-hours", "0", *tables]) == 0

    for table, condition in holds_erased.items():
        versions = DeltaTable.forPath(lake.spark, lake.path(table)).history().select("version").collect()
        readable = 0
        for row in versions:
            try:
                held = lake.read(table, version=row.version).where(condition).count()
                readable += 1
            except Exception as e:  # noqa: BLE001 - only a version whose files vacuum removed
                if "FILE_NOT_EXIST" not in str(e) and "FileNotFound" not in str(e):
                    raise
                held = 0
            assert held == 0, f"{table} version {row.version} still holds an erased customer"
        assert readable >= 1, table


def landed_line(landing: Path, contact_id: str) -> tuple[str, str]:
    """(header, line) of a contact in the generated crm_contacts export."""
    for path in sorted(landing.glob("*.csv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines[1:]:
            if line.startswith(contact_id + ","):
                return lines[0] + "\n", line
    raise AssertionError(f"{contact_id} is not in {landing}")


def test_an_erasure_while_ingest_runs_continuously_keeps_the_person_out(erase_lake, hash_key):
    cfg, lake, options = erase_lake
    victims = (
        lake.read("silver.identity_map")
        .where("source = 'crm_contacts'")
        .select("customer_id", "source_id")
        .orderBy("customer_id")
        .limit(2)
        .collect()
    )
    landing = Path(cfg.lake.landing) / "crm_contacts"
    env = {**os.environ, "CRM_SPARK_CONF_DIR": str(PROJECT / "conf"), "SPARK_LOCAL_IP": "127.0.0.1"}
    log_path = Path(cfg.lake.root).parent / "continuous.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crm_spark.cli",
                *options,
                "--set",
                "ingest.trigger_seconds=2",
                "ingest",
                "--continuous",
                "--source",
                "crm_contacts",
            ],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "ingesting continuously" in log_path.read_text() or proc.poll() is not None,
            180,
            "continuous ingest to start",
        )
        assert proc.poll() is None, log_path.read_text()[-2000:]
        read_before = rows_read(lake)
        # a re-export of the first victim lands while their erasure runs ...
        header, line = landed_line(landing, victims[0].source_id)
        (landing / "zz-during.csv").write_text(
            header + line[:-19] + "2025-01-08 10:00:00\n", encoding="utf-8"
        )
        erase.erase(
            lake.spark,
            cfg,
            RunContext("during", dt.datetime(2025, 1, 8, tzinfo=dt.UTC)),
            [v.customer_id for v in victims],
        )
        # ... and one of the second lands after it
        header, line = landed_line(landing, victims[1].source_id)
        (landing / "zz-after.csv").write_text(header + line[:-19] + "2025-01-09 10:00:00\n", encoding="utf-8")
        wait_for(lambda: rows_read(lake) == read_before + 2, 180, "both files ingested")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    ids = {r.contact_id for r in lake.read("bronze.crm_contacts").select("contact_id").collect()}
    assert not ids & {v.source_id for v in victims}
    log = lake.read("bronze._ingest_log").where("source = 'crm_contacts'").orderBy("batch_id").collect()
    assert all(r.rows_read == r.rows_bronze + r.rows_quarantined + (r.rows_suppressed or 0) for r in log)


def rows_read(lake) -> int:
    return lake.read("bronze._ingest_log").where("source = 'crm_contacts'").agg(F.sum("rows_read")).first()[0]


def test_models_trained_before_an_erasure_are_flagged(demo_lake):
    from crm_spark.models import tracking

    cfg, _, _ = demo_lake
    flagged = tracking.flag_for_retraining(cfg, dt.datetime.now(dt.UTC), "erasure-test")
    assert {f.split("/")[0] for f in flagged} == {"crm_churn", "crm_clv", "crm_recs"}
    version = tracking.model_versions(cfg, "crm_churn")[0]
    client = tracking._client(cfg).MlflowClient()
    tags = client.get_model_version("crm_churn", version.version).tags
    assert tags.get(tracking.RETRAIN_TAG) == "erasure-test"
