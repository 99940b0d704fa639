"""Benchmark identity resolution: generated persons -> contacts of all sources -> customers.

    python bench/identity.py --persons 100000 [--landing DIR] [--driver-memory 6g]

Steps, each its own `crm-spark` process: generate (skipped with --landing), ingest the three
contact sources, silver (contacts only), resolve (measured: wall time and peak memory), then
`crm-spark evaluate identity` against the generator's truth. The pairs Splink compared (the
candidate pairs of the blocking rules) are counted apart, with Splink's own blocking analysis.
Prints a table row and writes bench/results/identity-<persons>.json.
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
CONTACT_SOURCES = ("crm_contacts", "shop_accounts", "loyalty_members")
OTHER_SOURCES = ("shop_orders", "shop_order_lines", "pos_transactions", "web_events", "email_events",
                 "campaigns", "support_tickets", "products", "consent")

COUNT_PAIRS = textwrap.dedent("""
    import sys
    from splink import SparkAPI, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules
    from crm_spark.config import load_config
    from crm_spark.spark import build_spark
    from crm_spark.tables import Lake
    from crm_spark.identity import record_id
    from crm_spark.identity.linkage import LINK_COLUMNS
    cfg = load_config(overrides=sys.argv[1:])
    spark = build_spark(cfg)
    records = Lake(spark, cfg.lake.root).read("silver.contacts").withColumn("record_id", record_id())
    db_api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    counts = count_comparisons_from_blocking_rules(
        db_api.register(records.select(*LINK_COLUMNS)),
        blocking_rules=[block_on(*rule) for rule in cfg.identity.blocking],
        link_type="dedupe_only", unique_id_column_name="record_id", record_sample_proportion=1.0)
    last = counts[-1]
    key = "cumulative_comparison_count"
    pairs = last[key] if isinstance(last, dict) else getattr(last, key)
    print("PAIRS", pairs)
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--landing", help="reuse a generated landing folder (its truth next to it)")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--work", default="/tmp/crm-bench-identity")
    args = parser.parse_args()
    work = Path(args.work) / str(args.persons)
    shutil.rmtree(work / "lake", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    landing = Path(args.landing) if args.landing else work / "landing"
    truth = landing.parent / "truth"
    overrides = [f"lake.landing={landing}", f"lake.truth={truth}", f"lake.root={work / 'lake'}",
                 f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
                 f"spark.driver_memory={args.driver_memory}",
                 f"spark.jars_dir={PROJECT / '.cache' / 'jars'}", f"spark.ivy_dir={PROJECT / '.ivy'}",
                 f"mlflow.tracking_uri=sqlite:///{work / 'mlruns' / 'mlflow.db'}",
                 f"mlflow.artifact_location={work / 'mlruns' / 'artifacts'}",
                 *[f"sources.{name}.enabled=false" for name in OTHER_SOURCES]]
    sets = [x for o in overrides for x in ("--set", o)]
    env = {"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")}
    steps = []
    if not args.landing:
        shutil.rmtree(landing, ignore_errors=True)
        steps.append(("generate", [CLI, *sets, "generate", "--persons", str(args.persons), "--force"]))
    steps += [("ingest", [CLI, *sets, "ingest"]), ("silver", [CLI, *sets, "silver"]),
              ("resolve", [CLI, *sets, "resolve", "--retrain"]),
              ("evaluate", [CLI, *sets, "evaluate", "identity", "--truth", str(truth / "source_records")]),
              ("pairs", [PYTHON, "-c", COUNT_PAIRS, *overrides])]
    measured = run_steps(steps, work, env=env)
    if measured is None:
        return 1
    evaluation = (work / "evaluate.log").read_text()
    metrics = {m: float(v.replace(",", "")) for m, v in re.findall(r"^(\w+)\s+([\d.,e+-]+)\s*$",
                                                                    evaluation, re.MULTILINE)}
    pairs = int(re.search(r"PAIRS (\d+)", (work / "pairs.log").read_text()).group(1))
    resolve_log = (work / "resolve.log").read_text()
    records = re.search(r"identity: (\d+) records -> (\d+) customers", resolve_log)
    result = {"persons": args.persons, "cores": os.cpu_count(), "driver_memory": args.driver_memory,
              "records": int(records.group(1)), "customers": int(records.group(2)),
              "pairs_compared": pairs, "resolve": measured["resolve"], "metrics": metrics,
              "steps": {k: v["seconds"] for k, v in measured.items()}}
    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"identity-{args.persons}.json").write_text(json.dumps(result, indent=1))
    print("| persons | records | customers | pairs compared | resolve s | peak JVM RSS MiB | "
          "precision | recall | F1 |")
    print(f"| {args.persons:,} | {result['records']:,} | {result['customers']:,} | {pairs:,} | "
          f"{measured['resolve']['seconds']} | {measured['resolve']['peak_jvm_mib']:,} | "
          f"{metrics.get('precision')} | {metrics.get('recall')} | {metrics.get('f1')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
