"""``crm-spark init``: types, date patterns, entity kinds and mappings guessed from small inline
exports (CSV, JSON lines, Parquet). Expected values are written by hand from the files."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from crm_spark import cli
from crm_spark.onboard.infer import ColumnProfile
from crm_spark.onboard.inspect import InspectError, inspect_file
from crm_spark.onboard.propose import propose

CONTACTS_CSV = """member_id;first_name;surname;email;birth_date;joined;zip;points;vip
0012;Ann;Lee;ann@example.org;31/01/1980;2023-05-01T10:00:00Z;02139;12;true
0013;Bob;Ray;bob@example.org;05/11/1975;2023-06-02T11:30:15+01:00;10001;7;false
0014;Cy;Woo;;;2023-07-03T09:00:00Z;;;
"""

ORDERS_JSONL = """\
{"customer": "C1", "date": "3/1/2024", "amount": 12.5, "qty": 2, "paid_at": "2024-03-01T10:00:00.5Z"}
{"customer": "C2", "date": "12/13/2024", "amount": 7, "qty": 1, "paid_at": "2024-12-13T09:00:00+01:00"}

{"customer": "C1", "date": "12/14/2024", "amount": 0.25, "qty": 10, "paid_at": null}
"""

INVOICE_LINES_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom
536414,22139,,56,2010-12-01 11:52:00,0.001,,United Kingdom
"""


def guess(*values: str, name: str = "value"):
    profile = ColumnProfile(name)
    for value in values:
        profile.add(value)
    return profile.guess()


@pytest.mark.parametrize("values, expected", [
    (("1", "-20", "300"), ("INT", None)),
    (("1", "30000000000"), ("BIGINT", None)),
    (("2.55", "27.5", "0.001", "4"), ("DECIMAL(12,3)", None)),
    (("1.5e3", "2"), ("DOUBLE", None)),
    (("true", "FALSE"), ("BOOLEAN", None)),
    (("2024-01-31", "2023-12-01"), ("DATE", "yyyy-MM-dd")),
    (("31.01.2024", "1.2.2023"), ("DATE", "d.M.yyyy")),
    (("1/5/2011 8:26", "12/13/2010 14:05"), ("TIMESTAMP", "M/d/yyyy H:mm")),
    (("2010-12-01 08:26:00", "2010-12-01 08:26"), ("TIMESTAMP", "yyyy-MM-dd HH:mm[:ss]")),
    (("2024-01-31T10:00:00.123Z", "2024-01-31T10:00:00Z"),
     ("TIMESTAMP", "yyyy-MM-dd'T'HH:mm:ss[.SSS]X")),
    (("2024-01-31", "2024-01-31 10:00:00"), ("STRING", None)),   # two layouts: text
    (("0012", "13"), ("STRING", None)),                           # leading zeros
    (("2024-02-30x",), ("STRING", None)),
])
def test_types_and_patterns_are_inferred_from_the_values(values, expected):
    result = guess(*values)
    assert (result.type, result.format) == expected


def test_a_number_named_like_an_id_stays_text():
    assert guess("17850", "12", name="CustomerID").type == "STRING"
    assert guess("17850", "12", name="visits").type == "INT"


def test_a_stray_na_in_a_large_sample_keeps_the_columns_type_and_is_named():
    days = [f"2024-{month:02d}-{day:02d} 10:00:00" for month in range(1, 13) for day in range(1, 29)]
    result = guess(*days, "n/a", "n/a ", "unknown")          # 336 dates, 3 of 339 values do not fit
    assert (result.type, result.format) == ("TIMESTAMP", "yyyy-MM-dd HH:mm:ss")
    assert any(note.startswith("3 of 339 distinct values do not read as TIMESTAMP (e.g. 'n/a')")
               for note in result.notes)
    assert guess(*days, *["n/a"] * 4, *[f"x{i}" for i in range(4)]).type == "STRING"   # 8 > 1 %
    assert guess("2024-01-31", "n/a").type == "STRING"        # a small sample: every value fits


def test_day_first_is_a_guess_when_no_day_is_above_12():
    result = guess("01/02/2024", "03/04/2024")
    assert result.format == "dd/MM/yyyy"
    assert any("day first is a guess" in note for note in result.notes)
    assert guess("01/02/2024", "03/24/2024").format == "MM/dd/yyyy"


def test_a_semicolon_csv_of_contacts(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(CONTACTS_CSV)

    sample = inspect_file(path)
    [source] = propose([sample]).sources

    assert sample.options == {"header": "true", "delimiter": ";"}
    assert [(c.name, c.guess.type, c.guess.format) for c in sample.columns] == [
        ("member_id", "STRING", None), ("first_name", "STRING", None), ("surname", "STRING", None),
        ("email", "STRING", None), ("birth_date", "DATE", "dd/MM/yyyy"),
        ("joined", "TIMESTAMP", "yyyy-MM-dd'T'HH:mm:ssXXX"), ("zip", "STRING", None),
        ("points", "INT", None), ("vip", "BOOLEAN", None)]
    assert (source.name, source.entity) == ("members", "contact")
    assert source.mapping == {"source_id": "member_id", "first_name": "first_name", "last_name": "surname",
                              "email": "email", "birth_date": "birth_date", "created_at": "joined",
                              "postcode": "zip"}
    assert source.required == ["member_id"]


def test_json_orders_without_an_order_id_get_row_ids_and_their_customers(tmp_path):
    path = tmp_path / "Shop-Orders.jsonl"
    path.write_text(ORDERS_JSONL)

    sample = inspect_file(path)
    orders, customers = propose([sample]).sources

    assert sample.format == "json" and sample.rows == 3
    assert [(c.name, c.guess.type, c.guess.format) for c in sample.columns] == [
        ("customer", "STRING", None), ("date", "DATE", "M/d/yyyy"), ("amount", "DECIMAL(12,2)", None),
        ("qty", "INT", None), ("paid_at", "TIMESTAMP", "yyyy-MM-dd'T'HH:mm:ss[.S]XXX")]
    assert (orders.name, orders.entity, orders.customer_source) == (
        "shop_orders", "order", "shop_orders_customers")
    assert orders.mapping == {"customer_ref": "customer", "order_ts": "date", "total": "amount",
                              "order_id": "_row_id"}
    assert orders.required == ["date"]
    assert any("no order id column" in check for check in orders.checks)
    assert (customers.entity, customers.mapping, customers.required) == (
        "contact", {"source_id": "customer", "created_at": "date", "updated_at": "date"}, ["customer"])


def write_products(path):
    import decimal

    pq.write_table(pa.table({
        "sku": ["A1", "B2"], "product_name": ["Mug", None],
        "price": pa.array([decimal.Decimal("3.50"), decimal.Decimal("12.00")], pa.decimal128(10, 2)),
        "stock": pa.array([4, 0], pa.int64()), "active": [True, False]}), path)


def test_parquet_products_declare_the_files_own_types(tmp_path):
    path = tmp_path / "catalog.parquet"
    write_products(path)

    sample = inspect_file(path)
    [source] = propose([sample]).sources

    assert [(c.name, c.guess.type, c.empty) for c in sample.columns] == [
        ("sku", "STRING", 0), ("product_name", "STRING", 1), ("price", "DECIMAL(10,2)", 0),
        ("stock", "BIGINT", 0), ("active", "BOOLEAN", 0)]
    assert (source.entity, source.mapping, source.required) == (
        "product", {"sku": "sku", "name": "product_name", "price": "price"}, ["sku"])


def test_invoice_lines_become_the_four_sources_of_the_online_retail_example(tmp_path):
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress(INVOICE_LINES_CSV.encode()))

    proposal = propose([inspect_file(path)])

    by_entity = {s.entity: s for s in proposal.sources}
    assert [s.name for s in proposal.sources] == [
        "retail_order_lines", "retail_orders", "retail_customers", "retail_products"]
    assert [(c.name, c.guess.type) for c in proposal.sources[0].sample.columns] == [
        ("InvoiceNo", "STRING"), ("StockCode", "STRING"), ("Description", "STRING"), ("Quantity", "INT"),
        ("InvoiceDate", "TIMESTAMP"), ("UnitPrice", "DECIMAL(12,3)"), ("CustomerID", "STRING"),
        ("Country", "STRING")]
    assert by_entity["order_line"].mapping == {"order_id": "InvoiceNo", "sku": "StockCode",
                                               "quantity": "Quantity", "unit_price": "UnitPrice"}
    assert by_entity["order_line"].required == [
        "InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice"]
    assert by_entity["order"].mapping == {"order_id": "InvoiceNo", "order_ts": "InvoiceDate",
                                          "customer_ref": "CustomerID", "country": "Country"}
    assert (by_entity["order"].required, by_entity["order"].customer_source) == (
        ["InvoiceNo", "InvoiceDate"], "retail_customers")
    assert by_entity["product"].mapping == {"sku": "StockCode", "name": "Description", "price": "UnitPrice"}
    assert by_entity["contact"].mapping == {"source_id": "CustomerID", "country": "Country",
                                            "created_at": "InvoiceDate", "updated_at": "InvoiceDate"}
    assert by_entity["contact"].required == ["CustomerID"]
    assert proposal.id_only_contacts == ["retail_customers"]


def test_init_writes_yaml_that_loads_as_a_configuration(tmp_path, capsys, monkeypatch):
    from tests.conftest import make_config

    data = tmp_path / "members.csv"
    data.write_text(CONTACTS_CSV)
    out = tmp_path / "my.yml"

    assert cli.main(["init", "--from", str(data), "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "members: contact from members.csv" in printed and f"wrote {out}" in printed
    text = out.read_text()
    assert "# check: where these rows come from" in text
    source = yaml.safe_load(text)["sources"]["members"]
    assert source["formats"] == {"birth_date": "dd/MM/yyyy", "joined": "yyyy-MM-dd'T'HH:mm:ssXXX"}
    assert source["options"] == {"header": True, "delimiter": ";"}
    cfg = make_config(tmp_path, conf_files=[out])
    assert sorted(cfg.sources) == ["members"]
    assert cfg.sources["members"].location == str(tmp_path.resolve())   # ingest reads folders


def test_an_export_that_shares_its_folder_is_flagged(tmp_path):
    (tmp_path / "members.csv").write_text(CONTACTS_CSV)
    (tmp_path / "orders.jsonl").write_text(ORDERS_JSONL)

    members, orders = propose([inspect_file(tmp_path / "members.csv"),
                                  inspect_file(tmp_path / "orders.jsonl")]).sources

    assert (members.name, orders.name, orders.customer_source) == ("members", "orders", "members")
    assert any(check.startswith(f"{tmp_path.resolve()} holds other files too (orders.jsonl)")
               for check in members.checks)


def test_init_refuses_to_overwrite_and_names_an_unreadable_file(tmp_path, capsys):
    out = tmp_path / "my.yml"
    out.write_text("sources: {}\n")
    assert cli.main(["init", "--from", str(tmp_path / "x.csv"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"crm-spark: error: {out} exists; pass --force to replace it"
    with pytest.raises(InspectError, match="no such file"):
        inspect_file(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InspectError, match="holds no rows"):
        inspect_file(tmp_path / "empty.csv")


def test_a_sample_smaller_than_the_file_says_so(tmp_path):
    (tmp_path / "members.csv").write_text(CONTACTS_CSV)
    (tmp_path / "orders.jsonl").write_text(ORDERS_JSONL)

    samples = [inspect_file(tmp_path / name, max_rows=rows)
               for name in ("members.csv", "orders.jsonl") for rows in (2, 3)]
    assert [(s.rows, s.is_whole_file) for s in samples] == [(2, False), (3, True), (2, False), (3, True)]
