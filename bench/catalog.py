"""What registering the lake's tables in the catalog costs a session start (issue 23, D79, D87).

    python bench/catalog.py --lake PATH [--repeat 3]

Each run is a fresh Python process (a new JVM, as every ``crm-spark`` command is) that builds
the project's session for ``--lake`` (local[2]) and then counts ``gold.customer_360``: once as
``crm-spark sql`` does (``build_spark(cfg, catalog=True)`` registers every table; the count by
name) and once as the stages do (``build_spark(cfg)``; the count by path); a third kind,
``after-read``, counts by path and then registers every table, which is what registering
costs a session once Delta is loaded. The kinds alternate, ``--repeat`` times each. Prints
seconds to a ready session, the registration's own share and the first query; writes
``bench/results/catalog.json``. The machine's two cores may be shared: say so beside any
figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, logging, re, sys, time
start = time.perf_counter()
from crm_spark.config import load_config
from crm_spark.spark import build_spark
from crm_spark.sql.catalog import register_lake
kind = sys.argv[2]
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("crm_spark.sql.catalog").addHandler(Keep())
logging.getLogger("crm_spark.sql.catalog").setLevel(logging.INFO)
lake = sys.argv[1]
cfg = load_config([], [f"lake.root={lake}", "spark.master=local[2]", "spark.shuffle_partitions=2",
                       "spark.options.spark.ui.enabled=false"], conf_dir=sys.argv[3])
spark = build_spark(cfg, catalog=kind == "with")
ready = time.perf_counter()
if kind == "with":
    rows = spark.table("gold.customer_360").count()
else:
    rows = spark.read.format("delta").load(f"{lake}/gold/customer_360").count()
done = time.perf_counter()
if kind == "after-read":
    register_lake(spark, lake)
seconds = [float(m.group(1)) for r in records if (m := re.search(r"registered in ([0-9.]+) s", r))]
tables = [int(m.group(1)) for r in records if (m := re.search(r"catalog: (\d+) tables", r))]
print(json.dumps({"session_s": ready - start, "register_s": seconds[0] if seconds else 0.0,
                  "tables": tables[0] if tables else 0, "first_query_s": done - ready, "rows": rows}))
spark.stop()
"""


def run(lake: str, kind: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, lake, kind, str(PROJECT / "conf")],
                          capture_output=True, text=True, cwd=PROJECT, timeout=600,
                          env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="a lake folder (e.g. a test's demo lake)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lake = str(Path(args.lake).resolve())
    results = {"with": [], "without": [], "after-read": []}
    for _ in range(args.repeat):
        for kind in results:
            results[kind].append(run(lake, kind))
    print(f"{'kind':<10} {'session s':>10} {'register s':>18} {'tables':>7} {'first query s':>14}")
    for kind, runs in results.items():
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{kind:<10} {median['session_s']:>10.1f} {median['register_s']:>18.1f} "
              f"{median['tables']:>7.0f} {median['first_query_s']:>14.1f}")
    out = PROJECT / "bench" / "results" / "catalog.json"
    out.write_text(json.dumps({"lake": lake, "runs": results}, indent=1))
    print(f"medians of {args.repeat} runs each; all runs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
