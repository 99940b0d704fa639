"""Benchmark bulk erasure: erase K customers from a lake built from N generated persons.

    python bench/erase.py --persons 1000000 --erase 10000 [--landing DIR] [--keep-lake]

Steps, each its own `crm-spark` process: generate (skipped with --landing), ingest, silver,
resolve (rules only: the benchmark is about erasure, not matching), gold, features, then
`crm-spark erase --from-file` of the first K customer ids (measured: wall time, peak memory,
rows deleted, bytes rewritten as Delta reports them). The lake of an earlier run is reused with
--keep-lake, so repeated erasures measure only the erasure.
Prints a table row and writes bench/results/erase-<persons>-<K>.json.
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
from procmem import run_steps  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(PROJECT / ".venv" / "bin" / "crm-spark")
PYTHON = str(PROJECT / ".venv" / "bin" / "python")
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
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--erase", type=int, required=True, help="customers to erase")
    parser.add_argument("--landing", help="reuse a generated landing folder")
    parser.add_argument("--keep-lake", action="store_true", help="reuse the lake of an earlier run")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--work", default="/tmp/crm-bench-erase")
    args = parser.parse_args()
    work = Path(args.work) / str(args.persons)
    work.mkdir(parents=True, exist_ok=True)
    landing = Path(args.landing) if args.landing else work / "landing"
    overrides = [
        f"lake.landing={landing}",
        f"lake.truth={landing.parent / 'truth'}",
        f"lake.root={work / 'lake'}",
        f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
        f"spark.driver_memory={args.driver_memory}",
        "identity.probabilistic=false",
        f"spark.jars_dir={PROJECT / '.cache' / 'jars'}",
        f"spark.ivy_dir={PROJECT / '.ivy'}",
        f"mlflow.tracking_uri=sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        f"mlflow.artifact_location={work / 'mlruns' / 'artifacts'}",
        "privacy.vacuum_after_erase=false",
    ]
    sets = [x for o in overrides for x in ("--set", o)]
    env = {"CRM_SPARK_CONF_DIR": str(PROJECT / "conf"), "CRM_SPARK_PII_KEY": BENCH_KEY}
    steps = []
    if not args.keep_lake:
        shutil.rmtree(work / "lake", ignore_errors=True)
        if not args.landing:
            shutil.rmtree(landing, ignore_errors=True)
            steps.append(("generate", [CLI, *sets, "generate", "--persons", str(args.persons), "--force"]))
        stages = ("ingest", "silver", "resolve", "gold", "features")
        steps += [(stage, [CLI, *sets, stage]) for stage in stages]
    ids_file = work / f"erase-{args.erase}.txt"
    steps += [
        ("pick", [PYTHON, "-c", PICK_IDS, str(ids_file), str(args.erase), *overrides]),
        ("erase", [CLI, *sets, "erase", "--from-file", str(ids_file)]),
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
    }
    results_dir = PROJECT / "bench" / "results"
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
