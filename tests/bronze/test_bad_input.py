"""Bad input that must not wedge a source or damage text: unreadable files (D56), text in
another encoding than declared (D55)."""

from __future__ import annotations

import base64
import gzip
import logging

import pytest

from crm_spark.bronze import files
from crm_spark.config import load_config
from crm_spark.errors import ConfigError, CrmSparkError
from tests.bronze.conftest import ORDERS_SOURCE, order_rows
from tests.conftest import CONF_DIR


def ids_in(lake, table: str = "bronze.t_orders") -> list[str]:
    return sorted(r.order_id for r in lake.read(table).collect())


def test_unreadable_files_are_set_aside_and_the_source_goes_on(orders, caplog):
    orders.drop("a.csv.gz", gzip.compress(order_rows("1", "2").encode()))
    # readable header, truncated further on: Spark's read fails
    long = gzip.compress(order_rows(*[str(n) for n in range(100, 5100)]).encode())
    truncated = orders.drop("b.csv.gz", long[: len(long) // 2])
    # not gzip at all: the header read on the driver fails
    orders.drop("c.csv.gz", b"\x1f\x8b\x08\x00not gzip" * 20)
    orders.drop("d.csv", order_rows("3"))
    with caplog.at_level(logging.WARNING, logger="crm_spark.bronze.bad_files"):
        orders.ingest()
    lake = orders.lake
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
    orders.drop("e.csv", order_rows("4"))
    orders.ingest()
    assert ids_in(lake) == ["1", "2", "3", "4"]
    assert lake.read("bronze._bad_files").count() == 2


def test_a_listed_file_deleted_before_it_was_read_does_not_wedge_the_source(orders, monkeypatch):
    orders.drop("a.csv", order_rows("1"))
    doomed = orders.drop("b.csv", order_rows("2"))
    written = files.write_batch

    def interrupted(*args, **kwargs):
        raise CrmSparkError("interrupted after the batch was listed")

    monkeypatch.setattr(files, "write_batch", interrupted)
    with pytest.raises(CrmSparkError):
        orders.ingest()
    monkeypatch.setattr(files, "write_batch", written)
    doomed.unlink()
    for _ in range(2):     # the replayed batch, then a run with nothing new
        orders.ingest()
    lake = orders.lake
    assert ids_in(lake) == ["1"]
    [bad] = lake.read("bronze._bad_files").collect()
    assert bad.path.endswith("/t_orders/b.csv") and bad.size is None
    assert "FileNotFound" in bad.error or "does not exist" in bad.error


CP1252 = "order_id,customer,ordered_at,total\n1,Zoë Müller,01/03/2024 10:00,1.00\n".encode("cp1252")
# 0x81 is not a cp1252 character
UNDEFINED = b"2,Gr\x81n,01/03/2024 10:00,2.00"


def test_a_declared_encoding_is_decoded_and_undecodable_lines_quarantined(orders):
    orders.drop("a.csv", CP1252 + UNDEFINED + b"\n")
    orders.yaml = ORDERS_SOURCE.replace("format: csv", "format: csv\n    encoding: cp1252")
    orders.ingest()
    lake = orders.lake
    assert [r.customer for r in lake.read("bronze.t_orders").collect()] == ["Zoë Müller"]
    [q] = lake.read("bronze._quarantine").collect()
    assert q.raw == "base64:" + base64.b64encode(UNDEFINED).decode()
    assert q.reason == "not valid cp1252 (the source's encoding): raw holds the line's bytes in " \
                       "base64 after 'base64:'"


def test_lines_not_in_the_default_utf8_are_quarantined_readably(orders):
    latin = "3,Zoë,01/03/2024 10:00,3.00".encode("cp1252")
    orders.drop("a.csv", order_rows("1").encode() + latin + b"\n")
    orders.ingest()
    lake = orders.lake
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
    conf.write_text(ORDERS_SOURCE.replace("format: csv", f"format: csv\n    encoding: {encoding}"))
    with pytest.raises(ConfigError, match=message):
        load_config([conf], [], conf_dir=CONF_DIR, env="local")
