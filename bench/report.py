"""Benchmark the HTML report on a lake bench/lake.py built: wall time, peak memory, file size.

    python bench/lake.py --persons 1000000 --landing DIR --through gold   # or through score
    python bench/report.py --persons 1000000

`crm-spark report` runs in its own process on the kept lake (the gold tables exist; the time
measured is the report's own, "beyond the gold tables"). Writes bench/results/report-<persons>.json
and prints a markdown row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lake  # noqa: E402
from procmem import run_steps  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--work", default="/tmp/crm-bench-lake")
    args = parser.parse_args()
    work = lake.work_dir(args.work, args.persons)
    lake.require(work, "gold")
    out = work / "report" / "crm-report.html"
    out.unlink(missing_ok=True)
    sets = lake.as_sets(lake.overrides(work, lake.landing_of(work), args.driver_memory))
    measured = run_steps([("report", [lake.CLI, *sets, "report", "--out", str(out)])], work, env=lake.ENV)
    if measured is None:
        return 1
    summary = re.search(r"\([\d.]+ MB, (\d+ sections[^)]*)\)", (work / "report.log").read_text())
    report = measured["report"]
    result = {"persons": args.persons, "cores": os.cpu_count(), "driver_memory": args.driver_memory,
              "models": "score" in lake.built_stages(work), "report": report,
              "bytes": out.stat().st_size, "summary": summary.group(1) if summary else None}
    results_dir = lake.PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"report-{args.persons}.json").write_text(json.dumps(result, indent=1))
    print("| persons | models scored | sections | report s | peak JVM RSS MiB | size MB |")
    print("|---:|---|---|---:|---:|---:|")
    print(f"| {args.persons:,} | {'yes' if result['models'] else 'no'} | {result['summary']} | "
          f"{report['seconds']} | {report['peak_jvm_mib']:,} | {result['bytes'] / 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
