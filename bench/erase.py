"""Benchmark bulk erasure: erase K customers from a lake built from N generated persons.

    python bench/erase.py --persons 1000000 --erase 10000 [--landing DIR] [--keep-lake]

The lake (generate unless --landing, ingest, silver, resolve with rules only)
comes from bench/lake.py; then `crm-spark erase --from-file` of the first K customer ids in
its own process (measured: wall time, peak memory, rows deleted, bytes rewritten as Delta
reports them). --keep-lake reuses a lake bench/lake.py built through resolve or further (the
stages it holds are part of the result); the erasure changes it, so run gold.py and report.py
on it first.
Prints a table row and writes bench/results/erase-<persons>-<K>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lake  # noqa: E402
from procmem import run_steps  # noqa: E402

BENCH_KEY = "bench-erasure-key-0123456789abcdef"

PICK_IDS = textwrap.dedent("""
    import sys
    from crm_spark.config import load_config
    from crm_spark.spark import build_spark
    from crm_spark.tables import Lake
    out, count, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    cfg = load_config(overrides=overrides)
    spark = build_spark(cfg)
    ids = (Lake(spark, cfg.lake.root).read("silver.customers").select("customer_id")
           .orderBy("customer_id").limit(count))
    with open(out, "w") as f:
        f.write("\\n".join(r.customer_id for r in ids.collect()) + "\\n")
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lake.add_arguments(parser)
    parser.add_argument("--erase", type=int, required=True, help="customers to erase")
    args = parser.parse_args()
    work = lake.prepare(args, "resolve")
    if work is None:
        return 1
    overrides = [*lake.overrides(work, lake.landing_of(work), args.driver_memory),
                 "privacy.vacuum_after_erase=false"]
    sets = lake.as_sets(overrides)
    env = {**lake.ENV, "CRM_SPARK_PII_KEY": BENCH_KEY}
    ids_file = work / f"erase-{args.erase}.txt"
    steps = [
        ("pick", [lake.PYTHON, "-c", PICK_IDS, str(ids_file), str(args.erase), *overrides]),
        ("erase", [lake.CLI, *sets, "erase", "--from-file", str(ids_file)]),
    ]
    measured = run_steps(steps, work, env=env)
    if measured is None:
        return 1
    erase_log = (work / "erase.log").read_text()
    summary = re.search(
        r"(\d[\d,]*) customer\(s\), (\d[\d,]*) rows from (\d+) tables, ([\d.]+) MB rewritten", erase_log
    )
    result = {
        "persons": args.persons,
        "erased": args.erase,
        "cores": os.cpu_count(),
        "driver_memory": args.driver_memory,
        "erase": measured["erase"],
        "rows_deleted": int(summary.group(2).replace(",", "")),
        "tables": int(summary.group(3)),
        "mb_rewritten": float(summary.group(4)),
        "steps": {k: v["seconds"] for k, v in measured.items()},
        "lake_stages": lake.built_stages(work),
        "lake_steps": {k: v["seconds"] for k, v in lake.built_steps(work).items()},
    }
    results_dir = lake.PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"erase-{args.persons}-{args.erase}.json").write_text(json.dumps(result, indent=1))
    print("| persons | erased | rows deleted | tables | MB rewritten | erase s | peak JVM RSS MiB |")
    erased = measured["erase"]
    print(
        f"| {args.persons:,} | {args.erase:,} | {result['rows_deleted']:,} | {result['tables']} | "
        f"{result['mb_rewritten']} | {erased['seconds']} | {erased['peak_jvm_mib']:,} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
