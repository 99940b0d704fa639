"""Where a run's Spark time goes: its event log summarised per pipeline stage and per call site.

    python bench/spark_jobs.py EVENT_LOG [RUN_LOG] [--top 25]

EVENT_LOG is a file Spark wrote with ``spark.eventLog.enabled`` (``bench/small.py --event-log``
writes one under its work folder). RUN_LOG, the run's own log, splits the jobs by pipeline stage
(its ``stage X:`` lines). Per stage: Spark jobs, tasks, seconds inside jobs and seconds on the
driver between them. Per call site (the Python line that started the jobs): jobs and seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path


def read_jobs(event_log: Path) -> tuple[float, float, list[dict]]:
    """(application start, end, jobs with start, end, tasks, call site), times in seconds."""
    jobs: dict[int, dict] = {}
    app_start = app_end = 0.0
    for event in read_events(event_log):
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerApplicationEnd":
            app_end = event["Timestamp"] / 1000
        elif kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            jobs[event["Job ID"]] = {
                "start": event["Submission Time"] / 1000,
                "tasks": sum(s.get("Number of Tasks", 0) for s in event.get("Stage Infos", [])),
                "site": props.get("callSite.short") or next(
                (s["Stage Name"] for s in event.get("Stage Infos", [])), "?"),
            }
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
            jobs[event["Job ID"]]["end"] = event["Completion Time"] / 1000
    done = [j for j in jobs.values() if "end" in j]
    return app_start, app_end or max((j["end"] for j in done), default=app_start), done


def read_events(event_log: Path):
    """The events of a log file or of a rolling log's folder (``events_N_*`` files, zstd ones
    through the ``zstd`` command); a line cut off by a log still being written is skipped."""
    files = sorted(event_log.glob("events_*"), key=lambda p: int(p.name.split("_")[1])) \
        if event_log.is_dir() else [event_log]
    for path in files:
        if path.suffix == ".zstd":
            text = subprocess.run(["zstd", "-dcq", str(path)], capture_output=True, text=True).stdout
        else:
            text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue


STAGE_START = re.compile(r"^(\d\d:\d\d:\d\d) INFO\s+crm_spark\.pipeline: stage (\w+): ")


def stage_windows(run_log: Path, day: dt.date) -> list[tuple[str, float]]:
    """(stage, start in epoch seconds) from the run log's ``stage X:`` lines (UTC clock)."""
    windows = []
    for line in run_log.read_text(encoding="utf-8").splitlines():
        match = STAGE_START.match(line)
        if match:
            clock = dt.datetime.combine(day, dt.time.fromisoformat(match.group(1)), dt.UTC)
            windows.append((match.group(2), clock.timestamp()))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("event_log", type=Path)
    parser.add_argument("run_log", type=Path, nargs="?")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    app_start, app_end, jobs = read_jobs(args.event_log)
    windows = [("setup", app_start)]
    if args.run_log:
        windows += stage_windows(args.run_log, dt.datetime.fromtimestamp(app_start, dt.UTC).date())
    per_stage: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "tasks": 0, "in_jobs": 0.0})
    per_site: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "seconds": 0.0})
    for job in sorted(jobs, key=lambda j: j["start"]):
        stage = [name for name, start in windows if start <= job["start"] + 1][-1]
        seconds = job["end"] - job["start"]
        per_stage[stage]["jobs"] += 1
        per_stage[stage]["tasks"] += job["tasks"]
        per_stage[stage]["in_jobs"] += seconds
        site = f"{stage:<8} {job['site']}"
        per_site[site]["jobs"] += 1
        per_site[site]["seconds"] += seconds
    bounds = [*[start for _, start in windows], app_end]
    print(f"{'stage':<10} {'wall s':>7} {'jobs':>5} {'tasks':>6} {'in jobs s':>9}")
    for (name, start), end in zip(windows, bounds[1:], strict=False):
        row = per_stage[name]
        print(f"{name:<10} {end - start:>7.0f} {row['jobs']:>5} {row['tasks']:>6} {row['in_jobs']:>9.1f}")
    print(f"{'all':<10} {app_end - app_start:>7.0f} {len(jobs):>5} "
          f"{sum(j['tasks'] for j in jobs):>6} {sum(j['end'] - j['start'] for j in jobs):>9.1f}")
    print(f"\n{'jobs':>5} {'seconds':>8}  stage    call site (top {args.top} by seconds)")
    for site, row in sorted(per_site.items(), key=lambda kv: -kv[1]["seconds"])[:args.top]:
        print(f"{row['jobs']:>5} {row['seconds']:>8.1f}  {site}")


if __name__ == "__main__":
    main()
