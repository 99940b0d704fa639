"""``crm-spark check-config``: the reasons ingest would give, printed per source from sample rows,
with nothing written. Expected lines are written by hand from the file."""

from __future__ import annotations

from crm_spark import cli
from tests.conftest import test_overrides as overrides_for

ORDERS_CSV = """order_id,customer,order_ts,total
A1,C1,2024-01-05 10:00:00,12.50
A2,C2,not a date,3.00
,C3,2024-01-06 11:00:00,4.00
A4,C4,2024-01-07 12:00:00,abc
A5,C5,2024-01-08 13:00:00
"""

CONFIG = """
sources:
  my_orders:
    channel: web
    entity: order
    format: csv
    location: {folder}
    options: {{header: true}}
    schema: order_id STRING, customer STRING, order_ts TIMESTAMP, total DECIMAL(10,2)
    formats: {{order_ts: yyyy-MM-dd HH:mm:ss}}
    required: [order_id, order_ts]
    mapping: {{order_id: order_id, customer_ref: customer, order_ts: order_ts, total: total}}
  my_contacts:
    channel: crm
    entity: contact
    format: json
    location: {folder}/nothing_here
    schema: id STRING
    mapping: {{source_id: id}}
"""


def run_check(tmp_path, capsys, *extra):
    args = ["--conf", str(tmp_path / "my.yml")]
    for override in overrides_for(tmp_path):
        args += ["--set", override]
    code = cli.main([*args, "check-config", *extra])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_prints_each_rejected_row_with_the_reason_ingest_gives_and_writes_nothing(spark, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS_CSV)
    (tmp_path / "my.yml").write_text(CONFIG.format(folder=folder))

    code, out, err = run_check(tmp_path, capsys, "--source", "my_orders")

    assert code == 0, err
    assert out == [
        "my_orders (order, csv): 5 sample rows of 1 file(s): 2 kept, 3 would be quarantined, "
        "1 values of kept rows would be quarantined (and nulled)",
        "  WARNING: 80% of the sample rows lose the row or a value (ingest.warn_quarantine_share 5%): "
        "is a declared type, format or delimiter wrong?",
        "         1  expected 4 fields, found 3",
        "            A5,C5,2024-01-08 13:00:00",
        "         1  order_id: required value missing",
        "            ,C3,2024-01-06 11:00:00,4.00",
        "         1  order_ts: does not convert to TIMESTAMP (yyyy-MM-dd HH:mm:ss)",
        "            A2,C2,not a date,3.00",
        "         1  total: does not convert to DECIMAL(10,2)",
        "            A4,C4,2024-01-07 12:00:00,abc",
        "check-config: 1 source(s) checked; nothing was written",
    ]
    assert not (tmp_path / "lake").exists()


def test_a_source_without_files_is_named_and_fails_the_check(spark, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS_CSV.splitlines()[0] + "\n" + ORDERS_CSV.splitlines()[1] + "\n")
    (tmp_path / "my.yml").write_text(CONFIG.format(folder=folder))

    code, out, err = run_check(tmp_path, capsys)

    assert code == 1
    assert out[0] == f"my_contacts (contact, json): NOT CHECKED: no files at {folder}/nothing_here"
    assert out[1].startswith("my_orders (order, csv): 1 sample rows of 1 file(s): 1 kept, 0 would be")
    assert err.strip().splitlines()[-1] == "crm-spark: error: 1 source(s) could not be checked: my_contacts"


def test_a_bad_config_is_one_line(tmp_path, capsys):
    bad = CONFIG.format(folder=tmp_path).replace("entity: order", "entity: orders")
    (tmp_path / "my.yml").write_text(bad)

    code, out, err = run_check(tmp_path, capsys)

    assert code == 2
    assert err.strip().splitlines() == [
        "crm-spark: error: sources.my_orders.entity: 'orders' is not one of campaign, consent, contact, "
        "email_event, order, order_line, pos_transaction, product, ticket, web_event"]


def test_what_init_proposes_for_csv_json_and_parquet_checks_clean(spark, tmp_path, capsys):
    """Spark parses every type and pattern init infers (the patterns are Spark's, not Python's)."""
    from tests.onboard.test_init import CONTACTS_CSV, ORDERS_JSONL, write_products

    for folder in ("members", "orders", "catalog"):
        (tmp_path / folder).mkdir()
    (tmp_path / "members" / "members.csv").write_text(CONTACTS_CSV)
    (tmp_path / "orders" / "orders.jsonl").write_text(ORDERS_JSONL)
    write_products(tmp_path / "catalog" / "catalog.parquet")
    assert cli.main(["init", "--from", str(tmp_path / "members" / "members.csv"),
                     str(tmp_path / "orders" / "orders.jsonl"), str(tmp_path / "catalog" / "catalog.parquet"),
                     "--out", str(tmp_path / "my.yml")]) == 0
    capsys.readouterr()

    code, out, err = run_check(tmp_path, capsys)

    assert code == 0, err
    assert out == [
        "catalog (product, parquet): 2 sample rows of 1 file(s): 2 kept, 0 would be quarantined, "
        "0 values of kept rows would be quarantined (and nulled)",
        "members (contact, csv): 3 sample rows of 1 file(s): 3 kept, 0 would be quarantined, "
        "0 values of kept rows would be quarantined (and nulled)",
        "orders (order, json): 3 sample rows of 1 file(s): 3 kept, 0 would be quarantined, "
        "0 values of kept rows would be quarantined (and nulled)",
        "check-config: 3 source(s) checked; nothing was written",
    ]
