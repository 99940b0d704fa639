"""Benchmark the gold stage: wall time per table, peak memory, and what reaches the driver.

    python bench/gold.py --persons 1000000 --landing /tmp/crm-bench-generate/1000000/landing
    python bench/gold.py --persons 1000000 --keep-lake     # a lake bench/lake.py built

The lake (ingest, silver, resolve with rules only) comes from bench/lake.py. Then
`crm-spark gold` runs in its own process with Spark's event log on: its wall time and peak
memory (procmem), each table's seconds from the stage's own log lines, and, from the event
log, the largest total of task results any Spark stage sent to the driver (Spark's "Result
Size" metric: the rows of a collect plus each task's metrics). Comparing that figure across
sizes shows whether anything collected grows with the input. Writes
bench/results/gold-<persons>.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lake  # noqa: E402
from procmem import run_steps  # noqa: E402

TABLE_LINE = re.compile(r"crm_spark\.gold: (gold\.\w+): (\d+) rows in ([\d.]+) s")


def driver_results(event_dir: Path) -> dict:
    """Per Spark stage, the bytes its tasks returned to the driver; the largest and the sum."""
    per_stage: dict[int, int] = defaultdict(int)
    for log_file in event_dir.rglob("events_*"):
        with open(log_file, encoding="utf-8") as events:
            for line in events:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                event = json.loads(line)
                metrics = event.get("Task Metrics") or {}
                per_stage[event["Stage ID"]] += metrics.get("Result Size", 0)
    largest = max(per_stage.items(), key=lambda kv: kv[1], default=(None, 0))
    return {"stages": len(per_stage), "largest_stage_result_bytes": largest[1],
            "largest_stage": largest[0], "total_result_bytes": sum(per_stage.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lake.add_arguments(parser)
    args = parser.parse_args()
    work = lake.prepare(args, "resolve")
    if work is None:
        return 1
    landing = lake.landing_of(work)
    events = work / "gold-events"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir()
    sets = lake.as_sets([*lake.overrides(work, landing, args.driver_memory),
                         "spark.options.spark.eventLog.enabled=true",
                         "spark.options.spark.eventLog.compress=false",
                         f"spark.options.spark.eventLog.dir={events}"])
    measured = run_steps([("gold", [lake.CLI, *sets, "gold"])], work, env=lake.ENV)
    if measured is None:
        return 1
    lake.record_stage(work, "gold", measured["gold"])
    tables = {t: {"rows": int(rows), "seconds": float(s)}
              for t, rows, s in TABLE_LINE.findall((work / "gold.log").read_text())}
    result = {"persons": args.persons, "cores": os.cpu_count(), "driver_memory": args.driver_memory,
              "gold": measured["gold"], "tables": tables, "driver": driver_results(events)}
    results_dir = lake.PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"gold-{args.persons}.json").write_text(json.dumps(result, indent=1))
    print("| table | rows | seconds |")
    print("|---|---:|---:|")
    for table, t in tables.items():
        print(f"| {table} | {t['rows']:,} | {t['seconds']} |")
    gold, driver = measured["gold"], result["driver"]
    print(f"\ngold stage: {gold['seconds']} s, peak JVM RSS {gold['peak_jvm_mib']:,} MiB; largest "
          f"result any Spark stage sent to the driver: {driver['largest_stage_result_bytes']:,} bytes "
          f"(of {driver['stages']} stages, {driver['total_result_bytes']:,} bytes in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
