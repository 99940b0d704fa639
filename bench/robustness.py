"""Bad input, class by class: does any row get lost, does any source wedge? (issue 21)

    python bench/robustness.py [--work bench/work/robustness] [--out bench/results/robustness.json]

Each case drops one file into a fresh landing folder of a CSV source (``r_orders``) or a JSON
lines source (``r_events``) and ingests it in one local Spark session; then it drops a good
file and ingests again. For every case it reports:

- ``records``: the data records the file holds, counted here from the bytes written (a record
  split over two lines by a quoted line break is one record);
- ``bronze``, ``quarantined``: rows of ``bronze.<source>`` and ``bronze._quarantine`` whose
  ``_source_file`` is the file; ``set_aside``: whether the file is in ``bronze._bad_files``
  (then its records are kept as the file itself, still in the landing folder);
- ``lost``: records neither in bronze, nor in the quarantine, nor in a set-aside file;
- ``wedged``: the good file dropped afterwards did not reach bronze;
- ``error``: the first line of what the ingest raised, if anything, and its line count.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import gzip
import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

CSV_YAML = """
sources:
  r_orders:
    channel: test
    entity: order
    format: csv
    location: r_orders
    options: {header: true}
    schema: order_id STRING, customer STRING, ordered_at TIMESTAMP, total DECIMAL(10,2)
    formats: {ordered_at: dd/MM/yyyy HH:mm}
    required: [order_id, ordered_at]
    mapping: {order_id: order_id, customer_ref: customer, order_ts: ordered_at, total: total}
  r_events:
    channel: test
    entity: web_event
    format: json
    location: r_events
    schema: event_id STRING, event_ts TIMESTAMP, clicks INT
    required: [event_id, event_ts]
    mapping: {event_id: event_id, event_ts: event_ts}
"""
HEADER = "order_id,customer,ordered_at,total\n"


def orders(*ids: str) -> str:
    return "".join(f"{i},c{i},01/03/2024 10:00,1.00\n" for i in ids)


def events(*ids: str) -> str:
    return "".join(f'{{"event_id":"{i}","event_ts":"2024-03-01T10:00:00Z","clicks":1}}\n' for i in ids)


@dataclass
class Case:
    name: str
    source: str          # r_orders or r_events
    file: str
    data: bytes
    records: int


def csv(name: str, file: str, body: str, records: int) -> Case:
    """A CSV case: the header, then ``body``."""
    return Case(name, "r_orders", file, (HEADER + body).encode(), records)


def jsonl(name: str, file: str, text: bytes, records: int) -> Case:
    return Case(name, "r_events", file, text, records)


TS = "01/03/2024 10:00"
EVENT = '"event_id":"e1","event_ts":"2024-03-01T10:00:00Z"'


def cases() -> list[Case]:
    many = HEADER + orders(*[str(n) for n in range(5000)])
    truncated = gzip.compress(many.encode())
    return [
        csv("valid CSV", "valid.csv", orders("1", "2"), 2),
        Case("truncated gzip", "r_orders", "cut.csv.gz", truncated[: len(truncated) // 2], 5000),
        Case("not gzip at all (.gz)", "r_orders", "fake.csv.gz", b"\x1f\x8b\x08\x00not gzip" * 20, 1),
        Case("binary garbage", "r_orders", "garbage.csv", bytes(range(256)) * 8, 1),
        Case("cp1252 text in a UTF-8 source", "r_orders", "latin.csv",
             (HEADER + f"1,Zoë Müller,{TS},1.00\n").encode("cp1252"), 1),
        Case("UTF-8 byte-order mark", "r_orders", "bom.csv",
             codecs.BOM_UTF8 + (HEADER + orders("1")).encode(), 1),
        Case("CRLF line ends", "r_orders", "crlf.csv",
             (HEADER + orders("1", "2")).replace("\n", "\r\n").encode(), 2),
        csv("NUL bytes inside a line", "nul.csv", f"1,c\x001,{TS},1.00\n", 1),
        csv("too few fields", "few.csv", "1,c1\n", 1),
        csv("too many fields", "many.csv", f"1,c1,{TS},1.00,9\n", 1),
        csv("impossible date", "date.csv", "1,c1,31/02/2024 10:00,1.00\n", 1),
        csv("text in a decimal", "decimal.csv", f"1,c1,{TS},abc\n", 1),
        csv("required value missing", "required.csv", f",c1,{TS},1.00\n", 1),
        csv("quoted comma", "comma.csv", f'1,"Smith, J",{TS},1.00\n', 1),
        csv("quoted line break", "break.csv", f'1,"Smith\nJ",{TS},1.00\n', 1),
        Case("wrong delimiter", "r_orders", "semicolon.csv",
             (HEADER + orders("1", "2")).replace(",", ";").encode(), 2),
        Case("empty file", "r_orders", "empty.csv", b"", 0),
        csv("header only", "header.csv", "", 0),
        Case("columns in another order", "r_orders", "order.csv",
             f"total,order_id,ordered_at,customer\n1.00,1,{TS},c1\n".encode(), 1),
        csv("one 1 MB line", "long.csv", "1," + "x" * 1_000_000 + f",{TS},1.00\n", 1),
        jsonl("valid JSON lines", "valid.jsonl", events("e1", "e2").encode(), 2),
        jsonl("malformed JSON", "malformed.jsonl", b'{"event_id":"e1","event_ts":\n', 1),
        jsonl("JSON array, not an object", "array.jsonl", b'["e1","2024-03-01T10:00:00Z"]\n', 1),
        jsonl("text in an INT", "int.jsonl", f'{{{EVENT},"clicks":"many"}}\n'.encode(), 1),
        jsonl("undeclared key", "drift.jsonl", f'{{{EVENT},"device":"ios"}}\n'.encode(), 1),
        jsonl("blank lines between records", "blank.jsonl", ("\n\n" + events("e1") + "\n").encode(), 1),
    ]


def run_case(spark, case: Case, folder: Path) -> dict:
    from pyspark.sql import functions as F

    from crm_spark import bronze
    from crm_spark.config import load_config
    from crm_spark.context import RunContext
    from crm_spark.tables import Lake

    conf = folder / "sources.yml"
    folder.mkdir(parents=True)
    conf.write_text(CSV_YAML)
    base = [f"lake.root={folder / 'lake'}", f"lake.landing={folder / 'landing'}",
            f"lake.checkpoints={folder / 'lake' / '_checkpoints'}", "run.generate_demo_if_empty=false"]
    demo = [n for n in load_config([], base).sources if n not in ("r_orders", "r_events")]
    cfg = load_config([conf], base + [f"sources.{n}.enabled=false" for n in demo] + [
        f"sources.{n}.enabled=false" for n in ("r_orders", "r_events") if n != case.source])
    ctx = RunContext(run_id=case.file, started_at=dt.datetime.now(dt.UTC))
    landing = folder / "landing" / case.source
    landing.mkdir(parents=True, exist_ok=True)
    (landing / case.file).write_bytes(case.data)

    def ingest() -> str | None:
        try:
            bronze.build(spark, cfg, ctx)
            return None
        except Exception as e:          # noqa: BLE001 — the bench reports what a user would see
            return str(e)

    error = ingest()
    after = "after.csv" if case.source == "r_orders" else "after.jsonl"
    (landing / after).write_text(HEADER + orders("good") if case.source == "r_orders" else events("good"))
    second_error = ingest()

    lake = Lake(spark, cfg.lake.root)
    table = f"bronze.{case.source}"
    key = "order_id" if case.source == "r_orders" else "event_id"

    def rows(name: str, file: str):
        if not lake.exists(name):
            return 0
        return lake.read(name).where(F.col("_source_file").endswith("/" + file)).count()

    bronze_rows, quarantined = rows(table, case.file), rows("bronze._quarantine", case.file)
    set_aside = lake.exists("bronze._bad_files") and lake.read("bronze._bad_files").where(
        F.col("path").endswith("/" + case.file)).count() > 0
    kept = case.records if set_aside else bronze_rows + quarantined
    wedged = not (lake.exists(table) and lake.read(table).where(F.col(key) == "good").count() == 1)
    return {**{k: v for k, v in asdict(case).items() if k != "data"}, "bytes": len(case.data),
            "bronze": bronze_rows, "quarantined": quarantined, "set_aside": set_aside,
            "lost": max(case.records - kept, 0), "wedged": wedged,
            "error": (error or "").splitlines()[0] if error else None,
            "error_lines": len(error.splitlines()) if error else 0,
            "second_run_error": (second_error or "").splitlines()[0] if second_error else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=PROJECT / "bench" / "work" / "robustness")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results" / "robustness.json")
    args = parser.parse_args(argv)

    from crm_spark.config import load_config
    from crm_spark.spark import build_spark

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    spark = build_spark(load_config([], [f"lake.root={args.work / 'lake'}",
                                         "spark.options.spark.ui.enabled=false"]))
    results = []
    for number, case in enumerate(cases()):
        result = run_case(spark, case, args.work / f"case{number:02d}")
        results.append(result)
        yes = {True: "yes", False: "no"}
        error = f"  error ({result['error_lines']} lines): {result['error'][:100]}" if result["error"] else ""
        print(f"{case.name:32} records {result['records']:>5}  bronze {result['bronze']:>5}  "
              f"quarantined {result['quarantined']:>5}  set aside {yes[result['set_aside']]:3}  "
              f"lost {result['lost']}  wedged {yes[result['wedged']]}{error}", flush=True)
    spark.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    lost, wedged = sum(r["lost"] for r in results), sum(r["wedged"] for r in results)
    print(f"{len(results)} bad-input classes: {lost} records lost, {wedged} sources wedged -> {args.out}")
    return 1 if lost or wedged else 0


if __name__ == "__main__":
    sys.exit(main())
