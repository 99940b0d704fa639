"""Bad input that must not wedge a source or damage text: unreadable files (D56), text in
another encoding than declared (D55)."""

from __future__ import annotations

import base64
import gzip
import logging

import pytest

from crm_spark import bronze
from crm_spark.bronze import files
from crm_spark.config import load_config
from crm_spark.errors import ConfigError, CrmSparkError
from tests.conftest import CONF_DIR

SOURCE = """
sources:
  t_orders:
    channel: test
    entity: order
    format: csv
    location: t_orders
    options: {header: true}
    schema: order_id STRING, customer STRING, ordered_at TIMESTAMP, total DECIMAL(10,2)
    formats: {ordered_at: dd/MM/yyyy HH:mm}
    required: [order_id, ordered_at]
    mapping: {order_id: order_id, customer_ref: customer, order_ts: ordered_at, total: total}
"""
HEADER = "order_id,customer,ordered_at,total\n"


def rows(*ids: str) -> str:
    return HEADER + "".join(f"{i},c{i},01/03/2024 10:00,1.00\n" for i in ids)


def ids_in(lake, table: str = "bronze.t_orders") -> list[str]:
    return sorted(r.order_id for r in lake.read(table).collect())


def test_unreadable_files_are_set_aside_and_the_source_goes_on(landing, ctx, caplog):
    landing.drop("t_orders", "a.csv.gz", gzip.compress(rows("1", "2").encode()))
    # readable header, truncated further on: Spark's read fails
    long = gzip.compress(rows(*[str(n) for n in range(100, 5100)]).encode())
    truncated = landing.drop("t_orders", "b.csv.gz", long[: len(long) // 2])
    # not gzip at all: the header read on the driver fails
    landing.drop("t_orders", "c.csv.gz", b"\x1f\x8b\x08\x00not gzip" * 20)
    landing.drop("t_orders", "d.csv", rows("3"))
    cfg = landing.config(SOURCE)
    with caplog.at_level(logging.WARNING, logger="crm_spark.bronze.bad_files"):
        bronze.build(landing.spark, cfg, ctx)
    lake = landing.lake(cfg)
    assert ids_in(lake) == ["1", "2", "3"]
    bad = {r.path.rsplit("/", 1)[1]: r for r in lake.read("bronze._bad_files").collect()}
    assert sorted(bad) == ["b.csv.gz", "c.csv.gz"]
    assert bad["b.csv.gz"].size == truncated.stat().st_size
    assert bad["c.csv.gz"].size == 240      # 12 bytes written 20 times
    assert all(r.source == "t_orders" and "Exception" in r.error and "\n" not in r.error
               for r in bad.values())
    warned = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(warned) == 2 and all("\n" not in m for m in warned)
    assert any("b.csv.gz" in m for m in warned) and any("c.csv.gz" in m for m in warned)

    # the next run goes on with new files and does not try the bad ones again
    landing.drop("t_orders", "e.csv", rows("4"))
    bronze.build(landing.spark, cfg, ctx)
    assert ids_in(lake) == ["1", "2", "3", "4"]
    assert lake.read("bronze._bad_files").count() == 2


def test_a_listed_file_deleted_before_it_was_read_does_not_wedge_the_source(landing, ctx, monkeypatch):
    landing.drop("t_orders", "a.csv", rows("1"))
    doomed = landing.drop("t_orders", "b.csv", rows("2"))
    cfg = landing.config(SOURCE)
    written = files.write_batch

    def interrupted(*args, **kwargs):
        raise CrmSparkError("interrupted after the batch was listed")

    monkeypatch.setattr(files, "write_batch", interrupted)
    with pytest.raises(CrmSparkError):
        bronze.build(landing.spark, cfg, ctx)
    monkeypatch.setattr(files, "write_batch", written)
    doomed.unlink()
    for _ in range(2):     # the replayed batch, then a run with nothing new
        bronze.build(landing.spark, cfg, ctx)
    lake = landing.lake(cfg)
    assert ids_in(lake) == ["1"]
    [bad] = lake.read("bronze._bad_files").collect()
    assert bad.path.endswith("/t_orders/b.csv") and bad.size is None
    assert "FileNotFound" in bad.error or "does not exist" in bad.error


CP1252 = "order_id,customer,ordered_at,total\n1,Zoë Müller,01/03/2024 10:00,1.00\n".encode("cp1252")
# 0x81 is not a cp1252 character
UNDEFINED = b"2,Gr\x81n,01/03/2024 10:00,2.00"


def test_a_declared_encoding_is_decoded_and_undecodable_lines_quarantined(landing, ctx):
    landing.drop("t_orders", "a.csv", CP1252 + UNDEFINED + b"\n")
    cfg = landing.config(SOURCE.replace("format: csv", "format: csv\n    encoding: cp1252"))
    bronze.build(landing.spark, cfg, ctx)
    lake = landing.lake(cfg)
    assert [r.customer for r in lake.read("bronze.t_orders").collect()] == ["Zoë Müller"]
    [q] = lake.read("bronze._quarantine").collect()
    assert q.raw == "base64:" + base64.b64encode(UNDEFINED).decode()
    assert q.reason == "not valid cp1252 (the source's encoding): raw holds the line's bytes in " \
                       "base64 after 'base64:'"


def test_lines_not_in_the_default_utf8_are_quarantined_readably(landing, ctx):
    latin = "3,Zoë,01/03/2024 10:00,3.00".encode("cp1252")
    landing.drop("t_orders", "a.csv", rows("1").encode() + latin + b"\n")
    cfg = landing.config(SOURCE)
    bronze.build(landing.spark, cfg, ctx)
    lake = landing.lake(cfg)
    assert ids_in(lake) == ["1"]
    [q] = lake.read("bronze._quarantine").collect()
    assert q.raw == "base64:" + base64.b64encode(latin).decode()
    assert q.reason.startswith("not valid utf-8")
    [entry] = lake.read("bronze._ingest_log").collect()
    assert (entry.rows_read, entry.rows_bronze, entry.rows_quarantined) == (2, 1, 1)


@pytest.mark.parametrize("encoding, message", [
    ("klingon", "not a known text encoding"), ("utf-16", "UTF-16 and UTF-32 are not supported")])
def test_an_unusable_encoding_is_refused(tmp_path, encoding, message):
    conf = tmp_path / "s.yml"
    conf.write_text(SOURCE.replace("format: csv", f"format: csv\n    encoding: {encoding}"))
    with pytest.raises(ConfigError, match=message):
        load_config([conf], [], conf_dir=CONF_DIR, env="local")
