"""The mapping example of docs/sources.md ("What a mapping value may be") as printed: its YAML
loads, and each mapped value is what the doc says on a tiny inline export (issue 20, point 3).

Expected values are written by hand from the rows below.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from crm_spark.silver import canonical_rows
from crm_spark.sources.registry import load_sources
from crm_spark.tables import Lake
from tests.conftest import PROJECT, make_config

YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def mapping_example() -> str:
    text = (PROJECT / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = [b for b in YAML_BLOCK.findall(text) if "store_sales:" in b]
    assert len(blocks) == 1, "docs/sources.md should hold one mapping example with store_sales"
    return blocks[0]


@pytest.fixture
def example(spark, tmp_path):
    conf = tmp_path / "mapping.yml"
    conf.write_text(mapping_example(), encoding="utf-8")
    cfg = make_config(tmp_path, conf_files=[conf])
    sources = {s.name: s for s in load_sources(cfg)}
    lake = Lake(spark, cfg.lake.root)

    def mapped(name: str, rows: list[tuple]) -> dict:
        """Bronze rows of source ``name`` (in its declared column order) through its mapping."""
        source = sources[name]
        ddl = ", ".join(f"`{c.name}` {c.type}" for c in source.columns)
        bronze_df = spark.createDataFrame(rows, ddl).withColumns({
            "_source": F.lit(name), "_source_file": F.lit(f"{name}.csv"),
            "_ingested_at": F.lit(dt.datetime(2024, 5, 1)).cast("timestamp"),
            "_batch_id": F.lit(0).cast("bigint")})
        lake.append(bronze_df, f"bronze.{name}")
        return canonical_rows(lake, source, -1, 0)

    return sources, mapped


def test_the_example_declares_only_its_own_sources(example):
    sources, _ = example
    assert sorted(sources) == ["store_members", "store_sales"]


def test_order_mapping_gives_constants_a_parsed_timestamp_and_a_sum(example):
    _, mapped = example
    rows = mapped("store_sales", [
        ("R1", "M7", "29.02.2024", "17:45", Decimal("10.50"), Decimal("4.95")),
        ("R2", None, "01.03.2024", "09:05", Decimal("3.00"), None)])
    got = {r["order_id"]: r.asDict() for r in rows.collect()}
    assert {k: (v["customer_ref"], v["channel"], v["currency"], v["order_ts"], v["total"])
            for k, v in got.items()} == {
        "R1": ("M7", "store", "EUR", dt.datetime(2024, 2, 29, 17, 45), Decimal("15.45")),
        "R2": (None, "store", "EUR", dt.datetime(2024, 3, 1, 9, 5), Decimal("3.00"))}


def test_contact_mapping_joins_street_parts_and_parses_a_date(example):
    _, mapped = example
    rows = mapped("store_members", [
        ("m1", "Hauptstr. 5", "Hinterhaus", "  berlin ", "19840229"),
        ("m2", "Ring 2", None, "KÖLN", "20000101")])
    got = {r["source_id"]: (r["street"], r["city"], r["birth_date"], r["country"]) for r in rows.collect()}
    assert got == {"m1": ("Hauptstr. 5, Hinterhaus", "Berlin", dt.date(1984, 2, 29), "DE"),
                   "m2": ("Ring 2", "Köln", dt.date(2000, 1, 1), "DE")}


def test_a_value_to_date_cannot_parse_stops_the_read_as_the_doc_says(example):
    _, mapped = example
    rows = mapped("store_members", [("m3", "Weg 1", None, "Bonn", "29.02.1984")])
    with pytest.raises(Exception, match="CANNOT_PARSE|cannot be parsed|Text '29.02.1984'"):
        rows.collect()
