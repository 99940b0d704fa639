"""Benchmark bronze ingestion against the floor: a plain read + Delta write of the same files.

    python bench/ingest.py --landing /tmp/crm-bench-generate/1000000/landing \
        --sources email_events shop_order_lines

For each source, each in its own process on the same machine:

- `crm-spark ingest --source NAME` (parse, type, check, quarantine, lineage, ingest log,
  exactly-once appends);
- the plain copy, the issue's floor: `spark.read.csv/json(<declared columns as STRING>)
  .write.format("delta")` of the same files;
- the contract copy: the plain copy plus what every bronze row must have — the declared
  types and the four lineage columns, partitioned by ingest date — and nothing else (no
  checks, no quarantine, no counts, no exactly-once). It shows how much of the gap the bronze
  table's own contract takes before any checking is done.

Prints rows/s per core, peak memory and the ratios; writes bench/results/ingest-<source>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import run_measured  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
PYTHON = str(PROJECT / ".venv" / "bin" / "python")

COPY = textwrap.dedent("""
    import sys
    from pyspark.sql import functions as F
    from crm_spark.bronze import parse
    from crm_spark.config import load_config
    from crm_spark.spark import build_spark
    from crm_spark.sources.registry import load_sources
    name, out, contract = sys.argv[1], sys.argv[2], sys.argv[3] == "contract"
    cfg = load_config(overrides=sys.argv[4:])
    source = load_sources(cfg, name)[0]
    spark = build_spark(cfg)
    ddl = ", ".join(f"{c.name} STRING" for c in source.columns)
    reader = spark.read.schema(ddl)
    df = (reader.option("header", True).csv(source.path) if source.spec.format == "csv"
          else reader.json(source.path))
    if contract:
        df = df.select(
            *[parse.typed_value(F.col(c.name), c.type, source.spec.formats.get(c.name)).alias(c.name)
              for c in source.columns],
            F.lit(name).alias("_source"), F.col("_metadata.file_path").alias("_source_file"),
            F.current_timestamp().alias("_ingested_at"), F.lit(0).cast("bigint").alias("_batch_id"),
            F.current_date().alias("_ingest_date"))
        df.write.format("delta").mode("overwrite").partitionBy("_ingest_date").save(out)
    else:
        df.write.format("delta").mode("overwrite").save(out)
    print("ROWS", spark.read.format("delta").load(out).count())
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--sources", nargs="+", default=["email_events", "shop_order_lines"])
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--work", default="/tmp/crm-bench-ingest")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    env = {"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")}
    print("| source | format | rows | ingest s | rows/s/core | plain copy s | rows/s/core | "
          "contract copy s | ingest / plain | contract / plain | ingest / contract | "
          "peak JVM RSS MiB (ingest / plain / contract) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.sources:
        work = Path(args.work) / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        overrides = [f"lake.landing={args.landing}", f"lake.root={work / 'lake'}",
                     f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
                     f"spark.driver_memory={args.driver_memory}",
                     f"spark.jars_dir={PROJECT / '.cache' / 'jars'}",
                     f"spark.ivy_dir={PROJECT / '.ivy'}"]
        sets = [x for o in overrides for x in ("--set", o)]
        ingest = run_measured([str(PROJECT / ".venv" / "bin" / "crm-spark"), *sets, "ingest",
                               "--source", name], str(work / "ingest.log"), env=env)
        text = (work / "ingest.log").read_text()
        read = sum(int(n) for n in re.findall(r"(\d+) rows read", text))
        copies = {kind: run_measured([PYTHON, "-c", COPY, name, str(work / kind), kind, *overrides],
                                     str(work / f"{kind}.log"), env=env)
                  for kind in ("plain", "contract")}
        if ingest["exit_code"] or any(c["exit_code"] for c in copies.values()):
            print(f"{name}: a run failed; see {work}", file=sys.stderr)
            return 1
        plain, contract = copies["plain"], copies["contract"]
        plain_rows = int(re.search(r"ROWS (\d+)", (work / "plain.log").read_text()).group(1))
        result = {
            "source": name, "rows_read": read, "plain_rows": plain_rows, "cores": cores,
            "ingest": ingest, "plain_copy": plain, "contract_copy": contract,
            "ingest_rows_per_second_per_core": round(read / ingest["seconds"] / cores),
            "plain_rows_per_second_per_core": round(plain_rows / plain["seconds"] / cores),
            "ratio": round(ingest["seconds"] / plain["seconds"], 2),
            "contract_ratio": round(contract["seconds"] / plain["seconds"], 2),
            "ingest_to_contract": round(ingest["seconds"] / contract["seconds"], 2),
        }
        (results_dir / f"ingest-{name}.json").write_text(json.dumps(result, indent=1))
        fmt = "json" if "jsonl" in str(next(Path(args.landing, name).iterdir())) else "csv"
        print(f"| {name} | {fmt} | {read:,} | {ingest['seconds']} | "
              f"{result['ingest_rows_per_second_per_core']:,} | {plain['seconds']} | "
              f"{result['plain_rows_per_second_per_core']:,} | {contract['seconds']} | "
              f"{result['ratio']} | {result['contract_ratio']} | {result['ingest_to_contract']} | "
              f"{ingest['peak_jvm_mib']:,} / {plain['peak_jvm_mib']:,} / {contract['peak_jvm_mib']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
