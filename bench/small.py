"""A new user's first hour: a small orders file and a small contacts file, from the first
command to the HTML report (issue 20, point 8; target: 3 minutes or less on the project's
2-core machine).

    python bench/small.py [--orders-rows 10000] [--contacts 5000] [--work bench/work/small]
                          [--retail ../shared/data/online_retail/online_retail.csv.gz]

Inputs, made once under ``<work>/landing`` (not timed):
- ``orders/orders.csv``: ``--orders-rows`` invoice lines of the UCI Online Retail export, as
  exported (invoice, stock code, description, quantity, date, price, customer, country).
  Lines with a customer id, at most the first three lines of each invoice, of every customer
  whose id falls in a fixed 1-in-k sample, k chosen so that the sample just exceeds the row
  count: several hundred customers with their whole year of invoices, so that every model has
  repeat buyers to learn from.
- ``contacts/contacts.csv``: ``--contacts`` records of the generator's CRM contact export
  (default profile: e-mail, phone, address, planted duplicates and a few malformed lines). The
  first records take the order file's customer ids as their contact ids, so orders key to them.

Timed, as the README's "Your own data" runs them, in ``<work>``: ``crm-spark init --from
landing/orders/orders.csv landing/contacts/contacts.csv --out small.yml`` (its proposal taken
as written) and ``crm-spark --conf small.yml run``, one process each, measured with the peak
memory of their trees. The per-stage seconds come from the run's own summary table. Prints a table and writes
``bench/results/small.json``. One Spark process at a time; the machine's two cores may be
shared, so say so beside any figure.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import run_measured  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(PROJECT / ".venv" / "bin" / "crm-spark")
RETAIL = PROJECT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
TARGET_SECONDS = 180
LINES_PER_INVOICE = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders-rows", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--retail", type=Path, default=RETAIL, help="the Online Retail .csv.gz")
    parser.add_argument("--work", type=Path, default=PROJECT / "bench" / "work" / "small")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results" / "small.json")
    parser.add_argument("--event-log", action="store_true",
                        help="also write Spark's event log to <work>/events (for bench/spark_jobs.py)")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    landing = work / "landing"
    customer_ids = write_orders(args.retail, landing / "orders" / "orders.csv", args.orders_rows)
    write_contacts(work, landing / "contacts" / "contacts.csv", args.contacts, customer_ids)
    for old in ("lake", "mlruns", "report", "small.yml"):   # every timed run starts fresh
        shutil.rmtree(work / old, ignore_errors=True) if (work / old).is_dir() else \
            (work / old).unlink(missing_ok=True)

    init = run_measured([CLI, "init", "--from", "landing/orders/orders.csv", "landing/contacts/contacts.csv",
                         "--out", "small.yml"], str(work / "init.log"), cwd=work)
    if init["exit_code"]:
        print(f"init failed; see {work / 'init.log'}")
        return 1
    confs = ["--conf", "small.yml"]
    if args.event_log:
        confs += ["--conf", str(event_log_config(work))]
    run = run_measured([CLI, *confs, "run"], str(work / "run.log"), cwd=work)
    if run["exit_code"]:
        print(f"run failed; see {work / 'run.log'}")
        return 1
    stages = stage_seconds((work / "run.log").read_text())
    total = round(init["seconds"] + run["seconds"], 1)
    result = {"orders_rows": args.orders_rows, "contacts": args.contacts, "customers": len(customer_ids),
              "init": init, "run": run, "total_seconds": total, "target_seconds": TARGET_SECONDS,
              "stages": stages}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'step':<12} {'seconds':>8}")
    print(f"{'init':<12} {init['seconds']:>8.1f}")
    for name, seconds in stages.items():
        print(f"{'  ' + name:<12} {seconds:>8.1f}")
    print(f"{'run':<12} {run['seconds']:>8.1f}   (peak RSS {run['peak_total_mib']:,} MiB)")
    print(f"{'total':<12} {total:>8.1f}   target {TARGET_SECONDS} s: "
          f"{'met' if total <= TARGET_SECONDS else 'NOT met'}")
    return 0


def write_orders(retail: Path, out: Path, rows: int) -> list[str]:
    """Write the orders file (once); return its customer ids, in order of first appearance."""
    if not out.exists():
        with gzip.open(retail, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            lines = [line for line in reader if line[6]]
        picked = sample_lines(lines, rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(picked)
    with out.open(encoding="utf-8", newline="") as f:
        return list(dict.fromkeys(line["CustomerID"] for line in csv.DictReader(f)))


def sample_lines(lines: list[list[str]], rows: int) -> list[list[str]]:
    """At most LINES_PER_INVOICE lines of each invoice, of the customers of a 1-in-k sample
    (customer id divisible by k), k the largest whose sample reaches ``rows`` lines; then the
    first ``rows`` lines in file (date) order."""
    per_invoice: dict[str, int] = {}
    capped = []
    for line in lines:
        seen = per_invoice.get(line[0], 0)
        if seen < LINES_PER_INVOICE:
            per_invoice[line[0]] = seen + 1
            capped.append(line)
    for k in range(64, 0, -1):
        picked = [line for line in capped if int(float(line[6])) % k == 0]
        if len(picked) >= rows:
            return picked[:rows]
    raise SystemExit(f"the export has fewer than {rows} lines with a customer id")


def write_contacts(work: Path, out: Path, records: int, customer_ids: list[str]) -> None:
    """Write the contacts file (once) from the generator's CRM contacts."""
    if out.exists():
        return
    generated = work / "generated"
    if not list(generated.glob("crm_contacts/*.csv")):
        persons = records * 3 // 2   # the CRM export covers about three persons in four
        code = run_measured([CLI, "--set", "generate.malformed_rate=0.002", "generate", "--persons",
                             str(persons), "--out", str(generated), "--truth", str(work / "truth"),
                             "--force"], str(work / "generate.log"))["exit_code"]
        if code:
            raise SystemExit(f"generate failed; see {work / 'generate.log'}")
    header, body = None, []
    for part in sorted((generated / "crm_contacts").glob("*.csv")):
        text = part.read_text(encoding="utf-8").splitlines()
        header = header or text[0]
        body += text[1:]
    if len(body) < records:
        raise SystemExit(f"the generator wrote {len(body)} contacts, fewer than {records}")
    # the first records become the order file's customers; the rest keep their generated ids
    rows = list(csv.reader(io.StringIO("\n".join(body[:records]))))
    for row, customer_id in zip(rows, customer_ids, strict=False):
        if len(row) > 1:
            row[0] = customer_id
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        csv.writer(f, lineterminator="\n").writerows(rows)


def event_log_config(work: Path) -> Path:
    """A config that makes the run write Spark's event log (jobs, stages, their call sites)."""
    events = work / "events"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    path = work / "event-log.yml"
    path.write_text(yaml.safe_dump({"spark": {"options": {
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
        "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}}}))
    return path


STAGE_LINE = re.compile(r"^(\w+)\s+(?:.+?\s+[\d,]+|\(nothing new\))\s+([\d.]+)$")   # names may hold spaces


def stage_seconds(log: str) -> dict[str, float]:
    """Seconds per stage from the run's summary table (a stage's first row holds them)."""
    seconds = {}
    for line in log.splitlines():
        match = STAGE_LINE.match(line.strip())
        if match and match.group(1) != "total":
            seconds[match.group(1)] = float(match.group(2))
    report = re.search(r"report: \S+ written \(.*\) in ([\d.]+) s", log)
    if report:
        seconds["report"] = float(report.group(1))
    return seconds


if __name__ == "__main__":
    sys.exit(main())
