"""Benchmark `crm-spark generate`: wall time, lines per second and peak memory per size.

    python bench/generate.py --persons 100000 1000000 [--driver-memory 6g]

Writes bench/results/generate-<persons>.json and prints a markdown table row per size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import run_measured  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--work", default="/tmp/crm-bench-generate")
    args = parser.parse_args()
    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    print("| persons | lines | seconds | lines/s | peak JVM RSS MiB | peak Python RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for persons in args.persons:
        work = Path(args.work) / str(persons)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        command = [
            str(PROJECT / ".venv" / "bin" / "crm-spark"),
            "--set", f"spark.driver_memory={args.driver_memory}",
            "--set", "spark.master=local[*]",
            "generate", "--persons", str(persons), "--seed", "42",
            "--out", str(work / "landing"), "--truth", str(work / "truth"), "--force",
        ]
        log = work / "generate.log"
        measured = run_measured(command, str(log), env={"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")})
        text = log.read_text()
        lines = sum(int(n.replace(",", "")) for n in
                    re.findall(r"^\w+\s+([\d,]+)$", text, flags=re.MULTILINE))
        result = {
            "persons": persons, "lines": lines, **measured,
            "lines_per_second": round(lines / measured["seconds"]) if measured["seconds"] else 0,
            "driver_memory": args.driver_memory, "cores": os.cpu_count(),
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
        }
        (results_dir / f"generate-{persons}.json").write_text(json.dumps(result, indent=1))
        if measured["exit_code"] != 0:
            print(f"generate --persons {persons} failed; see {log}", file=sys.stderr)
            return 1
        print(f"| {persons:,} | {lines:,} | {measured['seconds']} | {result['lines_per_second']:,} "
              f"| {measured['peak_jvm_mib']:,} | {measured['peak_python_mib']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
