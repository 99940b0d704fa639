"""Sentiment and themes over about a million ticket texts: time per step and peak memory
(issue 26; target: 5 minutes or less on the project's 2-core machine).

    python bench/text.py [--rows 1000000] [--work bench/work/text] [--partitions 8]
                         [--arrow-batch N] [--k-max K] [--event-log]

The text steps see only the texts (a ticket id, its body and when it was written), so no lake is
generated: ``--rows`` texts drawn as the generator draws ticket bodies (``crm_spark.generate``:
``service._polarity``, ``service._theme`` and ``service._body`` with the phrasings of
``ticket_texts``, contact lines with the generator's e-mail addresses and mobile numbers) stand
for the tickets of the 1M-person lake. That lake has about 0.45 tickets per person, so about
450,000 tickets; a million texts is the harder case. ``created_at`` is spread evenly over the
generator's two years (``generate.start_date`` to ``end_date``), ``ticket_id`` is unique; a
text's tone follows a satisfaction score drawn as for a person who drops out (``DROPOUT_SHARE``)
or not, its theme the ticket's category. The texts are written to ``<work>/input-<rows>`` as a
Delta table of ``--partitions`` files, once per row count, in a process of their own (not timed).

Timed, in one more process (``procmem``: wall time and peak RSS of the JVM and the Python
workers), each step as the pipeline runs it, each written out as a Delta table where the
pipeline writes one:
- ``standardise + sentiment``: cleaning, redaction and language tag (``with_standardised_text``)
  and VADER (``add_sentiment`` on ``body_redacted``, by ``body_language``) in one pass, written
  once, as the silver stage does;
- ``theme fit``: ``fit_themes`` on a sample of ``gold.themes_sample_size`` texts, k in
  ``gold.themes_k_min``..``themes_k_max`` (conf/base.yml);
- ``theme assign``: ``assign_themes`` of all texts, written;
- ``emerging``: ``emerging_themes`` as of ``generate.end_date`` (the generator plants one: its
  ``SURGE_THEME`` in the last ``SURGE_DAYS``).
Untimed checks after the steps: the share of texts VADER scored, and the themes' purity against
the planted theme. With ``--event-log`` Spark's event log is kept and each step's Spark jobs are
summed by call site, to show where the time goes. The machine's cores may be shared with other
work: the load average before and after is recorded; say so beside any figure. Prints a table
and writes ``bench/results/text.json`` (``text-<rows>.json`` for another row count).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from procmem import run_measured  # noqa: E402

TARGET_SECONDS = 300
DEFAULT_ROWS = 1_000_000
DROPOUT_SHARE = 0.4      # persons with a churned_at in the generator's truth (7,500 persons: 40 %)
COMPLAINT_RATE = 0.3     # a person who drops out writes a complaint this often (service.py)
STEPS = ("standardise + sentiment", "theme fit", "theme assign", "emerging")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--work", type=Path, default=PROJECT / "bench" / "work" / "text")
    parser.add_argument("--partitions", type=int, default=8, help="files of the input table")
    parser.add_argument("--arrow-batch", type=int, default=0,
                        help="spark.sql.execution.arrow.maxRecordsPerBatch (0: Spark's default)")
    parser.add_argument("--k-max", type=int, default=0, help="gold.themes_k_max (0: the configured one)")
    parser.add_argument("--event-log", action="store_true", help="keep Spark's event log; jobs per step")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=("prepare", "run"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if args.child:
        return child(args, work)

    work.mkdir(parents=True, exist_ok=True)
    own = [sys.executable, str(Path(__file__).resolve()), "--rows", str(args.rows), "--work", str(work),
           "--partitions", str(args.partitions), "--arrow-batch", str(args.arrow_batch),
           "--k-max", str(args.k_max), *(["--event-log"] if args.event_log else [])]
    prepare = run_measured([*own, "--child", "prepare"], str(work / "prepare.log"))
    if prepare["exit_code"]:
        print(f"prepare failed; see {work / 'prepare.log'}")
        return 1
    (work / "steps.json").unlink(missing_ok=True)
    load_before = uptime()
    run = run_measured([*own, "--child", "run"], str(work / "run.log"))
    load_after = uptime()
    if run["exit_code"] or not (work / "steps.json").exists():
        print(f"run failed; see {work / 'run.log'}")
        return 1
    steps = json.loads((work / "steps.json").read_text())
    if args.event_log:
        steps["jobs"] = jobs_per_step(work / "events", steps["windows"])
    result = {"rows": args.rows, "partitions": args.partitions, "arrow_batch": args.arrow_batch or "default",
              "cores": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_after,
              "prepare": prepare, "run": run, "steps_seconds": round(sum(steps["seconds"].values()), 1),
              "target_seconds": TARGET_SECONDS, **steps}
    out = args.out or PROJECT / "bench" / "results" / (
        "text.json" if args.rows == DEFAULT_ROWS else f"text-{args.rows}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"wrote {out}")
    return 0


def uptime() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def print_table(result: dict) -> None:
    print(f"\n{result['rows']:,} texts, {result['cores']} cores, load average "
          f"{result['load_average_before']} before, {result['load_average_after']} after")
    print(f"{'step':<26}{'seconds':>9}{'rows':>12}")
    for step in STEPS:
        rows = result["rows_out"].get(step)
        print(f"{step:<26}{result['seconds'][step]:>9.1f}{'' if rows is None else f'{rows:,}':>12}")
    print(f"{'steps':<26}{result['steps_seconds']:>9.1f}")
    run = result["run"]
    met = ("met" if run["seconds"] <= TARGET_SECONDS else "NOT met") if result["rows"] == DEFAULT_ROWS \
        else "not judged at this size"
    print(f"{'process':<26}{run['seconds']:>9.1f}   peak RSS {run['peak_total_mib']:,} MiB (JVM "
          f"{run['peak_jvm_mib']:,}, Python {run['peak_python_mib']:,}); target {TARGET_SECONDS} s for "
          f"{DEFAULT_ROWS:,} texts: {met}")
    print(f"themes: k={result['themes']['k']} of silhouettes {result['themes']['silhouettes']}; "
          f"purity {result['checks']['theme_purity']}; emerging {result['themes']['emerging']}")
    print(f"sentiment scored: {result['checks']['scored_share']}")
    for step, sites in result.get("jobs", {}).items():
        print(f"  {step}: " + "; ".join(f"{s['seconds']} s in {s['jobs']} jobs at {s['site']}"
                                        for s in sites[:4]))


def child(args, work: Path) -> int:
    from crm_spark.config import load_config
    from crm_spark.spark import build_spark

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = ["spark.app_name=bench-text", "spark.log_level=ERROR"]
    if args.arrow_batch:
        overrides.append(f"spark.options.spark.sql.execution.arrow.maxRecordsPerBatch={args.arrow_batch}")
    if args.k_max:
        overrides.append(f"gold.themes_k_max={args.k_max}")
    if args.event_log and args.child == "run":
        shutil.rmtree(work / "events", ignore_errors=True)
        (work / "events").mkdir(parents=True)
        overrides += ["spark.options.spark.eventLog.enabled=true",
                      "spark.options.spark.eventLog.compress=false",
                      f"spark.options.spark.eventLog.dir={work / 'events'}"]
    cfg = load_config(overrides=overrides, conf_dir=PROJECT / "conf")
    spark = build_spark(cfg)
    try:
        if args.child == "prepare":
            prepare_input(spark, cfg, work, args.rows, args.partitions)
        else:
            run_steps(spark, cfg, work, args.rows)
    finally:
        spark.stop()
    return 0


def input_path(work: Path, rows: int) -> Path:
    return work / f"input-{rows}"


def prepare_input(spark, cfg, work: Path, rows: int, partitions: int) -> None:
    """Write ``rows`` generated ticket texts to ``<work>/input-<rows>`` unless there already."""
    path = input_path(work, rows)
    if (path / "_delta_log").is_dir():
        logging.info("input %s already written", path)
        return
    shutil.rmtree(path, ignore_errors=True)
    generated_texts(spark, cfg.generate, rows, partitions).write.format("delta").save(str(path))


def generated_texts(spark, gen, rows: int, partitions: int):
    """``rows`` ticket texts drawn as ``service.support_tickets`` draws them: ticket_id, created_at,
    body, and the planted theme and polarity."""
    from pyspark.sql import functions as F

    from crm_spark.generate import draws, population, service
    from crm_spark.generate import ticket_texts as tt

    seed = gen.seed
    n = F.col("id")
    key = [n, F.lit(1)]   # the generator keys a ticket by (person, ordinal)
    start = F.unix_timestamp(F.lit(gen.start_date).cast("timestamp"))
    end = F.unix_timestamp(F.lit(gen.end_date).cast("timestamp"))
    unhappy = draws.chance(DROPOUT_SHARE, seed, "bench_dropout", n)
    complaint = unhappy & draws.chance(COMPLAINT_RATE, seed, "t_churn", n)
    score = F.when(unhappy, draws.integer(1, 3, seed, "t_score", *key)) \
        .otherwise(draws.integer(2, 5, seed, "t_score", *key))
    first = draws.pick(population.FIRST_NAMES, seed, "first", n)
    last = draws.pick(population.LAST_NAMES, seed, "last", n)
    created = start + F.floor(draws.uniform(seed, "t_ts", *key) * (end - start)).cast("long")
    persons = spark.range(0, rows, 1, partitions).select(
        "id", population._email(first, last, seed, n).alias("email"),
        F.concat(F.lit("7"), draws.digits(9, seed, "phone", n)).alias("mobile"),
        created.alias("created"), service._polarity(score, complaint, seed, key).alias("polarity"),
        draws.pick(service.TICKET_CATEGORIES, seed, "t_cat", *key).alias("category"))
    in_surge = F.col("created") >= end - tt.SURGE_DAYS * 86400
    with_theme = persons.withColumn("theme", service._theme(F.col("category"), F.col("polarity"), in_surge,
                                                            seed, key))
    return with_theme.select(
        F.format_string("T%010d", n).alias("ticket_id"), F.timestamp_seconds("created").alias("created_at"),
        service._body(F.col("theme"), F.col("polarity"), seed, key).alias("body"), "theme", "polarity")


@contextlib.contextmanager
def timed(step: str, record: dict):
    logging.info("step %s: started", step)
    start_wall, start = time.time(), time.perf_counter()
    yield
    record["seconds"][step] = round(time.perf_counter() - start, 1)
    record["windows"][step] = [start_wall, time.time()]
    logging.info("step %s: %.1f s", step, record["seconds"][step])


def run_steps(spark, cfg, work: Path, rows: int) -> None:
    """Runs and times the steps; writes ``<work>/steps.json``."""
    from pyspark.sql import functions as F

    from crm_spark.text.redact import with_standardised_text
    from crm_spark.text.sentiment import add_sentiment
    from crm_spark.text.themes import assign_themes, emerging_themes, fit_themes

    tables = {name: work / name for name in ("scored", "assigned")}
    for path in tables.values():
        shutil.rmtree(path, ignore_errors=True)
    gold = cfg.gold
    record: dict = {"seconds": {}, "windows": {}, "rows_out": {}}
    texts_df = spark.read.format("delta").load(str(input_path(work, rows)))

    # one pass and one write, as the silver stage does it (silver.facts.tickets_of)
    with timed("standardise + sentiment", record):
        standardised_df = with_standardised_text(texts_df, "body").withColumnRenamed("body_clean",
                                                                                     "body_redacted")
        add_sentiment(standardised_df, "body_redacted", "body_language") \
            .write.format("delta").save(str(tables["scored"]))
    record["rows_out"]["standardise + sentiment"] = written_rows(spark, tables["scored"])
    scored_df = spark.read.format("delta").load(str(tables["scored"]))
    with timed("theme fit", record):
        themes = fit_themes(scored_df, "body_redacted", "ticket_id", gold.themes_k_min, gold.themes_k_max,
                            gold.seed, gold.themes_sample_size)
    record["rows_out"]["theme fit"] = themes.fitted_on
    with timed("theme assign", record):
        assign_themes(themes, scored_df.select("ticket_id", "body_redacted", "created_at"), "body_redacted") \
            .write.format("delta").save(str(tables["assigned"]))
    record["rows_out"]["theme assign"] = written_rows(spark, tables["assigned"])
    assigned_df = spark.read.format("delta").load(str(tables["assigned"]))
    with timed("emerging", record):
        emerging = emerging_themes(assigned_df, "created_at", cfg.generate.end_date, gold.themes_recent_days,
                                   gold.themes_baseline_days)

    record["themes"] = {"k": themes.k, "names": list(themes.names), "emerging": sorted(emerging),
                        "silhouettes": {k: round(s, 3) for k, s in themes.silhouettes.items()},
                        "sample_size": gold.themes_sample_size,
                        "k_range": [gold.themes_k_min, gold.themes_k_max]}
    steps_file = work / "steps.json"
    steps_file.write_text(json.dumps(record, indent=2))   # the timings even if a check fails
    scored = scored_df.agg(F.avg(F.col("sentiment_score").isNotNull().cast("double"))).collect()[0][0]
    planted_df = texts_df.select("ticket_id", F.col("theme").alias("planted"))
    record["checks"] = {"scored_share": round(scored, 4),
                        "theme_purity": purity(assigned_df.join(planted_df, "ticket_id", how="inner"))}
    steps_file.write_text(json.dumps(record, indent=2))


def written_rows(spark, path: Path) -> int:
    """Rows the last commit of a Delta table wrote (its log's metrics: no scan)."""
    from delta.tables import DeltaTable

    metrics = DeltaTable.forPath(spark, str(path)).history(1).collect()[0]["operationMetrics"]
    return int(metrics["numOutputRows"])


def purity(joined_df) -> float:
    """Share of the themed texts whose planted theme is their cluster's most common one."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = joined_df.filter(F.col("theme_id").isNotNull()).groupBy("theme_id", "planted").count()
    top = F.row_number().over(Window.partitionBy("theme_id").orderBy(F.desc("count"), "planted")
                              .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    row = counts.withColumn("rank", top).agg(F.sum(F.when(F.col("rank") == 1, F.col("count"))),
                                             F.sum("count")).collect()[0]
    return round(row[0] / row[1], 4) if row[1] else 0.0


def jobs_per_step(events: Path, windows: dict) -> dict:
    """Per step, its Spark jobs summed by call site (the line that started them), most seconds first."""
    from spark_jobs import read_jobs

    log_file = next(events.glob("*"))
    _, _, jobs = read_jobs(log_file)
    per_step: dict = {}
    for job in jobs:
        step = next((s for s, (start, end) in windows.items() if start <= job["start"] <= end), None)
        if step is None:
            continue
        site = per_step.setdefault(step, {}).setdefault(job["site"], {"jobs": 0, "tasks": 0, "seconds": 0.0})
        site["jobs"] += 1
        site["tasks"] += job["tasks"]
        site["seconds"] += job["end"] - job["start"]
    return {step: sorted(({"site": s, **v, "seconds": round(v["seconds"], 1)} for s, v in sites.items()),
                         key=lambda r: -r["seconds"]) for step, sites in per_step.items()}


if __name__ == "__main__":
    sys.exit(main())
