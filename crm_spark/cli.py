"""The ``crm-spark`` command line: ``crm-spark [--conf F]... [--set k=v]... COMMAND``.

User errors print one line on stderr and exit with 2 (configuration) or 1 (anything else);
``-v`` adds the traceback and debug logging.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence

from crm_spark.config import Config, load_config
from crm_spark.errors import ConfigError, CrmSparkError, known_failure

log = logging.getLogger("crm_spark.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-spark",
        description="Open CRM-analytics lakehouse on Spark, Delta Lake and MLflow.",
    )
    add_common_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = commands.add_parser("generate", help="write the synthetic multi-channel data set")
    gen.add_argument("--persons", type=int, help="number of persons (default: generate.persons)")
    gen.add_argument("--seed", type=int, help="random seed (default: generate.seed)")
    gen.add_argument("--out", help="landing folder to write (default: lake.landing)")
    gen.add_argument("--truth", help="ground-truth folder (default: lake.truth)")
    gen.add_argument("--force", action="store_true",
                     help="replace a landing folder that already holds files")
    gen.add_argument("--profile", choices=("multichannel", "identifier-poor"), default="multichannel",
                     help="multichannel: the twelve UK source exports (default); identifier-poor: "
                          "two Australian person sources with no e-mail or phone (docs/generator.md)")

    run = commands.add_parser("run", help="run every stage in order (generates demo data "
                                          "into an empty landing folder first)")
    run.add_argument("--as-of", type=dt.date.fromisoformat, help="as-of date (YYYY-MM-DD)")
    add_force_as_of(run)

    ingest = commands.add_parser("ingest", help="ingest new landing files and JDBC rows into bronze")
    ingest.add_argument("--source", help="only this source (a name under sources: of the configuration)")
    ingest.add_argument("--continuous", action="store_true",
                        help="keep running; pick up new files every ingest.trigger_seconds "
                             "until Ctrl-C / SIGTERM")

    silver = commands.add_parser("silver", help="cleanse, standardise and merge what bronze gained "
                                                "into silver")
    silver.add_argument("--rebuild", action="store_true",
                        help="rebuild silver from all of bronze, so changed silver settings apply "
                             "to rows already written")
    silver.add_argument("--source", help="with --rebuild: only the rows of this source (a name "
                                         "under sources: of the configuration)")
    resolve = commands.add_parser("resolve", help="link contacts into customers with stable ids, "
                                                  "build the golden record, key the facts")
    resolve.add_argument("--retrain", action="store_true",
                         help="train the matching model again instead of reusing the saved one")

    gold = commands.add_parser("gold", help="compute the gold tables for one as-of date")
    gold.add_argument("--as-of", type=dt.date.fromisoformat,
                      help="as-of date (YYYY-MM-DD); default: the day of the latest order")
    add_force_as_of(gold)
    gold.add_argument("--drop-snapshot", type=dt.date.fromisoformat, metavar="DATE",
                      help="delete the snapshot of this as-of date from every gold and features "
                           "table instead of computing one")

    features = commands.add_parser("features", help="compute point-in-time customer features")
    features.add_argument("--as-of", type=dt.date.fromisoformat,
                          help="as-of date (default: latest order day)")
    add_force_as_of(features)
    train = commands.add_parser("train", help="train a model, log it to MLflow, register it as challenger")
    train.add_argument("model", choices=["churn", "clv", "recs"])
    train.add_argument("--as-of", type=dt.date.fromisoformat, help="as-of date (default: latest order day)")
    add_force_as_of(train)
    promote = commands.add_parser("promote", help="make the challenger the champion if it is better")
    promote.add_argument("name", choices=["crm_churn", "crm_clv", "crm_recs"])
    score = commands.add_parser("score", help="score customers with the champion models")
    score.add_argument("--model", action="append", choices=["crm_churn", "crm_clv", "crm_recs"],
                       help="only this model (repeatable; default: every model with a champion)")
    score.add_argument("--as-of", type=dt.date.fromisoformat, help="as-of date (default: latest order day)")
    add_force_as_of(score)

    report = commands.add_parser("report", help="write the self-contained HTML dashboard")
    report.add_argument("--out", help="the HTML file to write (default: report.out)")
    report.add_argument("--as-of", type=dt.date.fromisoformat,
                        help="as-of date (default: the latest gold snapshot the data reaches)")

    evaluate = commands.add_parser("evaluate", help="measure a stage against ground truth")
    evaluate.add_argument("what", choices=["identity"], help="what to evaluate")
    evaluate.add_argument("--truth", required=True,
                          help="CSV with a header: source, source_id and true_id (or person_id, cluster)")
    evaluate.add_argument("--source", help="the source of every truth row when the file has no source column")
    evaluate.add_argument("--id-column", default="source_id", help="the truth column holding the source id")
    evaluate.add_argument("--true-column", help="the truth column holding the true person id")
    evaluate.add_argument("--no-mlflow", action="store_true", help="do not log the metrics to MLflow")

    erase = commands.add_parser("erase", help="erase customers from every table and keep them out of "
                                               "future ingests (right to erasure)")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id", action="append", metavar="ID", help="a customer id (repeatable)")
    who.add_argument("--from-file", metavar="FILE",
                     help="customer ids, one per line (or a CSV with a customer_id column)")
    erase.add_argument("--no-vacuum", action="store_true",
                       help="skip the vacuum of the touched tables (privacy.vacuum_after_erase)")
    vacuum = commands.add_parser("vacuum", help="remove data files older than the retention from every "
                                                "table (makes erased rows unrecoverable)")
    vacuum.add_argument("--retention-hours", type=int,
                        help="default: privacy.vacuum_retention_hours")
    vacuum.add_argument("--table", action="append", metavar="LAYER.TABLE",
                        help="only this table (repeatable; default: every table)")
    commands.add_parser("pii-scan", help="list untagged columns whose values look like e-mails, phone "
                                         "numbers or card numbers")
    export = commands.add_parser("export-audience", help="write a campaign audience (consenting "
                                                         "customers of a segment) as CSV")
    export.add_argument("--channel", required=True, help="email or sms")
    export.add_argument("--segment", required=True, help="an RFM segment name or behavioural segment label")
    export.add_argument("--out", required=True, help="the CSV file to write")
    export.add_argument("--as-of", type=dt.date.fromisoformat,
                        help="default: the latest snapshot of gold.audiences the data reaches")
    export_map = commands.add_parser("export", help="write a table for other systems as one file")
    export_map.add_argument("what", choices=["identity"],
                            help="identity: silver.identity_map (source, source_id, customer_id, "
                                 "probability, rule)")
    export_map.add_argument("--out", required=True, help="the file to write: .csv or .parquet")
    dist = commands.add_parser("dist", help="build the spark-submit artifacts (zip, JARs) and print "
                                            "the command lines")
    dist.add_argument("--out", default="dist", help="folder to write (default: dist)")
    commands.add_parser("tables", help="list every table with its version, rows (from the Delta log's "
                                       "file statistics) and last write")
    quality = commands.add_parser("quality", help="evaluate the expectations of conf/quality.yml now "
                                                  "and print the results (exit 1 if a fail one breaks)")
    quality.add_argument("--table", help="only this table (layer.table)")
    quality.add_argument("--latest", action="store_true",
                         help="print the latest recorded results instead of evaluating")
    commands.add_parser("setup", help="pre-fetch the Delta JARs and configured packages with mvn")
    add_onboarding_commands(commands)
    add_sql_commands(commands)
    return parser


def add_sql_commands(commands) -> None:
    from crm_spark.sql import DEFAULT_MAX_ROWS, THRIFT_HOST, THRIFT_PORT

    sql = commands.add_parser("sql", help="run a SQL query over the lake's tables (layer.table) and "
                                          "print the result; without a query, an interactive shell")
    sql.add_argument("query", nargs="?", help='e.g. "SELECT segment, count(*) FROM gold.rfm GROUP BY '
                                              'segment"; omit it for a shell (statements end with ;)')
    sql.add_argument("--out", metavar="FILE.csv", help="write every row to this CSV file instead")
    sql.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS,
                     help=f"rows printed at most (default: {DEFAULT_MAX_ROWS:,})")
    serve = commands.add_parser("serve-sql", help="serve the lake's tables over JDBC/ODBC (Spark's "
                                                  "Thrift server) until Ctrl-C")
    serve.add_argument("--port", type=int, default=THRIFT_PORT,
                       help=f"default: {THRIFT_PORT}")
    serve.add_argument("--host", default=THRIFT_HOST,
                       help=f"address to listen on (default: {THRIFT_HOST}, this machine only; "
                            "the server asks for no password)")


def add_onboarding_commands(commands) -> None:
    from crm_spark.onboard import check, inspect

    init = commands.add_parser("init", help="propose source declarations (YAML) for your own "
                                            "CSV, JSON-lines or Parquet exports")
    init.add_argument("--from", dest="from_files", nargs="+", required=True, metavar="FILE",
                      help="the export files to inspect (.csv, .csv.gz, .json, .jsonl, .parquet)")
    init.add_argument("--out", default="my.yml", help="the YAML file to write (default: my.yml)")
    init.add_argument("--sample-rows", type=int, default=inspect.DEFAULT_MAX_ROWS,
                      help=f"rows read per file to infer types (default: {inspect.DEFAULT_MAX_ROWS:,})")
    init.add_argument("--force", action="store_true", help="replace an existing --out file")
    checker = commands.add_parser("check-config", help="check every source against sample rows of "
                                                       "its files and print what ingest would "
                                                       "quarantine and why; writes nothing")
    checker.add_argument("--rows", type=int, default=check.DEFAULT_ROWS,
                         help=f"sample rows per file (default: {check.DEFAULT_ROWS:,})")
    checker.add_argument("--files", type=int, default=check.DEFAULT_FILES,
                         help=f"files sampled per source (default: {check.DEFAULT_FILES})")
    checker.add_argument("--source", help="only this source")


def add_force_as_of(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force-as-of", action="store_true",
                        help="accept an --as-of after the latest data (refused otherwise)")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", action="append", default=[], metavar="FILE",
                        help="extra YAML merged after conf/base.yml and the overlay (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides", help="override one key, e.g. spark.master=local[2]")
    parser.add_argument("--env", help="environment overlay: local (default) or cluster")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")


GLOBAL_WITH_VALUE = {"--conf", "--set", "--env"}


def job_main(command: str, argv: Sequence[str]) -> int:
    """Entry point of the ``jobs/`` scripts: run ``command`` with ``argv``, where the global
    options (--conf, --set, --env, -v) may appear anywhere, as spark-submit users write them."""
    global_args, command_args = [], []
    items = iter(argv)
    for arg in items:
        name = arg.split("=", 1)[0]
        if name in GLOBAL_WITH_VALUE:
            global_args.append(arg)
            if "=" not in arg:
                global_args.append(next(items, ""))
        elif arg in ("-v", "--verbose"):
            global_args.append(arg)
        else:
            command_args.append(arg)
    return main([*global_args, command, *command_args])


# Libraries whose own progress lines, hints and warnings stay out of the default log: Splink
# (it sets its logger to INFO whenever a Linker is made), py4j, MLflow and Python warnings.
LIBRARY_LOGGERS = ("splink", "py4j", "mlflow", "urllib3", "alembic", "git", "py.warnings")
LOG_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
USER_MLFLOW_LEVEL = os.environ.get("MLFLOW_LOGGING_LEVEL")   # a level the user chose wins


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (tests and notebooks replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _own_messages_or_errors(record: logging.LogRecord) -> bool:
    return record.name.startswith("crm_spark") or record.levelno >= logging.ERROR


def configure_logging(verbose: bool) -> None:
    """crm-spark's progress on stderr; without ``-v`` other libraries reach it with errors only
    (their records are dropped at the handler, whatever level they give their own loggers)."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
    if not verbose:
        handler.addFilter(_own_messages_or_errors)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    library_level = logging.INFO if verbose else logging.ERROR
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    if not verbose:
        # py4j logs a foreachBatch callback's exception with its traceback; the stage raises it
        # again and the CLI prints it as one line (D50)
        logging.getLogger("py4j.clientserver").setLevel(logging.CRITICAL)
    # PySpark logs a refused query with its JVM trace, as JSON, before raising it; the CLI then
    # prints the error as one line (crm-spark sql with a typo)
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.CRITICAL)
    # MLflow gives its loggers their own handler and this level when it is first imported
    os.environ["MLFLOW_LOGGING_LEVEL"] = USER_MLFLOW_LEVEL or logging.getLevelName(library_level)
    logging.captureWarnings(True)


def new_context(args: argparse.Namespace, cfg: Config):
    from crm_spark.context import RunContext

    as_of = getattr(args, "as_of", None) or cfg.run.as_of
    return RunContext(run_id=uuid.uuid4().hex[:12], started_at=dt.datetime.now(dt.UTC),
                      as_of=as_of, force_as_of=getattr(args, "force_as_of", False),
                      clock=lambda: dt.datetime.now(dt.UTC))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        cfg = load_config(args.conf, args.overrides, env=args.env)
        return COMMANDS[args.command](args, cfg)
    except ConfigError as e:
        _report(e, args.verbose)
        return 2
    except CrmSparkError as e:
        _report(e, args.verbose)
        return 1
    except KeyboardInterrupt:
        print("crm-spark: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a Spark/Delta failure the user caused is one line too (-v: the trace)
        known = known_failure(e)
        if known is None:
            raise
        _report(known, args.verbose)
        return 1


def _report(error: Exception, verbose: bool) -> None:
    if verbose:
        log.exception("failed")
    print(f"crm-spark: error: {error}", file=sys.stderr)


def _session(cfg: Config):
    from crm_spark.spark import build_spark

    return build_spark(cfg)


def cmd_generate(args, cfg: Config) -> int:
    from dataclasses import replace

    from crm_spark import fs
    from crm_spark.generate import generate, identifier_poor

    gen = replace(cfg.generate, **{k: v for k, v in
                                   {"persons": args.persons, "seed": args.seed}.items()
                                   if v is not None})
    out = args.out or cfg.lake.landing
    truth = args.truth or cfg.lake.truth
    spark = _session(cfg)
    if fs.has_files(spark, out) and not args.force:
        raise CrmSparkError(f"{out} already holds files; pass --force to replace them "
                            "(ingested files would be read again under new names)")
    for folder in (out, truth):
        fs.delete(spark, folder)
    start = time.perf_counter()
    write = identifier_poor.generate if args.profile == "identifier-poor" else generate
    rows = write(spark, gen, out, truth)
    seconds = time.perf_counter() - start
    width = max(len(k) for k in rows) if rows else 10
    for name, count in sorted(rows.items()):
        print(f"{name:<{width}} {count:>12,}")
    print(f"generated {gen.persons:,} persons (seed {gen.seed}) into {out} in {seconds:.1f} s; "
          f"ground truth in {truth}")
    return 0


def cmd_run(args, cfg: Config) -> int:
    from crm_spark import pipeline

    spark = _session(cfg)
    ctx = new_context(args, cfg)
    reports = []
    # only the demo's sources read the generated files; a user's run never generates them (D66)
    if cfg.demo_sources and pipeline.landing_is_empty(spark, cfg):
        if not cfg.run.generate_demo_if_empty:
            raise CrmSparkError(f"{cfg.lake.landing} holds no files and "
                                "run.generate_demo_if_empty is false; nothing to run")
        log.info("landing folder %s is empty: generating the demo data set (%d persons)",
                 cfg.lake.landing, cfg.generate.persons)
        start = time.perf_counter()
        rows = pipeline.generate_demo(spark, cfg)
        reports.append(pipeline.StageReport("generate", time.perf_counter() - start,
                                            {f"landing/{k}": v for k, v in rows.items()}))
    reports += pipeline.run_stages(spark, cfg, ctx, pipeline.stages(), skip_without_input=True)
    print(pipeline.format_summary(reports))
    write_report(spark, cfg)
    return 0


def cmd_ingest(args, cfg: Config) -> int:
    from crm_spark import bronze, pipeline
    from crm_spark.sources.registry import load_sources

    load_sources(cfg, args.source)  # configuration errors before Spark starts
    spark = _session(cfg)
    ctx = new_context(args, cfg)
    if args.continuous:
        start = time.perf_counter()
        written = bronze.run_continuous(spark, cfg, ctx, args.source)
        report = pipeline.StageReport("ingest", time.perf_counter() - start, written)
    else:
        report = _run_stage_as("ingest", lambda s, c, x: bronze.build(s, c, x, args.source), spark, cfg, ctx)
    print(pipeline.format_summary([report]))
    return 0


def _run_stage_as(stage_name: str, build, spark, cfg: Config, ctx):
    """Run one stage with its ``build`` narrowed by command options (one source, one model),
    so it is checked and recorded in ops.runs like any other stage run."""
    from dataclasses import replace

    from crm_spark import pipeline

    stage = next(s for s in pipeline.stages() if s.name == stage_name)
    return pipeline.run_stages(spark, cfg, ctx, [replace(stage, build=build)])[0]


def _run_one(stage_name: str, args, cfg: Config) -> int:
    from crm_spark import pipeline

    spark = _session(cfg)
    ctx = new_context(args, cfg)
    stage = next(s for s in pipeline.stages() if s.name == stage_name)
    print(pipeline.format_summary(pipeline.run_stages(spark, cfg, ctx, [stage])))
    return 0


def cmd_silver(args, cfg: Config) -> int:
    if not args.rebuild:
        if args.source:
            raise ConfigError("silver --source needs --rebuild (a silver run merges every source)")
        return _run_one("silver", args, cfg)
    from crm_spark import pipeline, silver
    from crm_spark.sources.registry import load_sources

    load_sources(cfg, args.source)  # configuration errors before Spark starts
    spark = _session(cfg)
    report = _run_stage_as("silver", lambda s, c, x: silver.rebuild(s, c, x, args.source), spark, cfg,
                           new_context(args, cfg))
    print(pipeline.format_summary([report]))
    return 0


def cmd_resolve(args, cfg: Config) -> int:
    if args.retrain:
        from dataclasses import replace

        cfg = replace(cfg, identity=replace(cfg.identity, retrain=True))
    return _run_one("resolve", args, cfg)


def cmd_gold(args, cfg: Config) -> int:
    if args.drop_snapshot is None:
        return _run_one("gold", args, cfg)
    from crm_spark.as_of import drop_snapshot

    if args.as_of is not None:
        raise CrmSparkError("gold: give --as-of or --drop-snapshot, not both")
    deleted = drop_snapshot(_session(cfg), cfg, args.drop_snapshot)
    for table, rows in sorted(deleted.items()):
        print(f"{table:<34} {rows:>10,} rows deleted")
    print(f"snapshot {args.drop_snapshot} dropped from {len(deleted)} tables")
    return 0


def cmd_features(args, cfg: Config) -> int:
    return _run_one("features", args, cfg)


def cmd_train(args, cfg: Config) -> int:
    from crm_spark.models import train

    spark = _session(cfg)
    result = {}

    def build(spark, cfg, ctx):
        result.update(train.train(spark, cfg, ctx, args.model))
        return train.stage_counts(args.model, result)

    _run_stage_as("train", build, spark, cfg, new_context(args, cfg))
    for name, value in result.items():
        if not name.startswith("champion_"):
            print(f"{name:<28} {value:>14,.6g}")
    return 0


def cmd_promote(args, cfg: Config) -> int:
    from crm_spark.models import tracking
    from crm_spark.models.tracking import PROMOTION_METRIC

    metric, higher = PROMOTION_METRIC[args.name]
    promoted, reason = tracking.promote(cfg, args.name, metric, higher)
    print(f"{args.name}: {reason}")
    return 0


def cmd_score(args, cfg: Config) -> int:
    from crm_spark import pipeline, scoring

    spark = _session(cfg)
    only = tuple(args.model or ())
    report = _run_stage_as("score", lambda s, c, x: scoring.build(s, c, x, only), spark, cfg,
                           new_context(args, cfg))
    print(pipeline.format_summary([report]))
    return 0


def write_report(spark, cfg: Config, out: str | None = None, as_of=None) -> None:
    from pathlib import Path

    from crm_spark.report import build_report

    out = out or cfg.report.out
    if "://" not in out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    summary = build_report(spark, cfg.lake.root, out, as_of, cfg.report.currency, cfg.spark.concurrency)
    empty = f"; empty: {', '.join(summary.empty_sections)}" if summary.empty_sections else ""
    print(f"report: {Path(out).resolve() if '://' not in out else out} "
          f"({summary.bytes / 1e6:.1f} MB, {len(summary.sections)} sections{empty})")


def cmd_report(args, cfg: Config) -> int:
    write_report(_session(cfg), cfg, args.out, args.as_of)
    return 0


def cmd_evaluate(args, cfg: Config) -> int:
    from crm_spark.identity import evaluate
    from crm_spark.tables import Lake

    spark = _session(cfg)
    truth_df = evaluate.read_truth(spark, args.truth, args.source, args.id_column, args.true_column)
    quality = evaluate.evaluate_identity(Lake(spark, cfg.lake.root), truth_df)
    for name, value in quality.as_metrics().items():
        print(f"{name:<22} {value:>14,.6g}")
    if not args.no_mlflow:
        from crm_spark.models import tracking

        run_id = tracking.log_evaluation(cfg, "identity", {"truth": args.truth,
                                                           "threshold": cfg.identity.threshold},
                                         quality.as_metrics())
        print(f"logged to MLflow run {run_id} ({cfg.mlflow.tracking_uri})")
    return 0


def cmd_tables(args, cfg: Config) -> int:
    from crm_spark.tables import Lake

    spark = _session(cfg)
    infos = Lake(spark, cfg.lake.root).list_tables()
    if not infos:
        print(f"no tables under {cfg.lake.root} yet; run `crm-spark run`")
        return 0
    print(f"{'table':<34} {'version':>7} {'rows':>12}  last write (UTC)     operation")
    for info in infos:
        rows = "unknown" if info.rows is None else f"{info.rows:,}"
        print(f"{info.name:<34} {info.version:>7} {rows:>12}  {info.last_write[:19]:<20} "
              f"{info.last_operation}")
    return 0


def cmd_quality(args, cfg: Config) -> int:
    from crm_spark import quality
    from crm_spark.tables import Lake, parse_table_name

    if args.table is not None:
        parse_table_name(args.table)  # refused before Spark starts
    spark = _session(cfg)
    if args.latest:
        lake = Lake(spark, cfg.lake.root)
        if not lake.exists(quality.RESULTS):
            print(f"no results in {quality.RESULTS} yet; run `crm-spark quality` or `crm-spark run`")
            return 0
        rows = [(r["table"], r["table_version"], r["expectation"], r["kind"], r["policy"], r["passed"],
                 r["observed"]) for r in quality.latest_results(lake, args.table).collect()]
    else:
        results = quality.evaluate_declared(spark, cfg, new_context(args, cfg), args.table)
        rows = [(r.table, r.table_version, r.expectation.name, r.expectation.kind, r.expectation.policy,
                 r.check.passed, r.check.observed) for r in results]
    print(f"{'table':<24} {'version':>7}  {'expectation':<32} {'kind':<16} {'policy':<6} {'result':<6}  "
          "observed")
    for table, version, name, kind, policy, passed, observed in rows:
        print(f"{table:<24} {version:>7}  {name:<32} {kind:<16} {policy:<6} "
              f"{'pass' if passed else 'FAIL':<6}  {observed}")
    if not args.latest:
        quality.raise_on_failure(results)
    return 0


def cmd_erase(args, cfg: Config) -> int:
    from crm_spark.privacy import erase, vacuum
    from crm_spark.tables import Lake

    if args.customer_id:
        ids = erase.validate_ids(args.customer_id)
        spark = _session(cfg)
    else:
        spark = _session(cfg)
        ids = erase.validate_ids(erase.read_id_file(spark, args.from_file), f"{args.from_file}: line")
    result = erase.erase(spark, cfg, new_context(args, cfg), ids)
    for table, rows in sorted(result.rows_deleted.items()):
        print(f"{table:<34} {rows:>10,} rows deleted")
    print(f"erasure {result.erasure_id}: {result.subjects:,} customer(s), "
          f"{sum(result.rows_deleted.values()):,} rows from {len(result.rows_deleted)} tables, "
          f"{result.bytes_rewritten / 1e6:.1f} MB rewritten, {result.seconds:.1f} s; audit in "
          f"privacy.erasure_audit")
    if result.models_to_retrain:
        print("models trained on erased data (tagged needs_retraining): "
              + ", ".join(result.models_to_retrain))
    if cfg.privacy.vacuum_after_erase and not args.no_vacuum and result.rows_deleted:
        deleted = vacuum.vacuum(Lake(spark, cfg.lake.root), result.rows_deleted,
                                cfg.privacy.vacuum_retention_hours)
        print(f"vacuum (retention {cfg.privacy.vacuum_retention_hours} h): "
              f"{sum(deleted.values()):,} old files removed")
    return 0


def cmd_vacuum(args, cfg: Config) -> int:
    from crm_spark.privacy import erase, vacuum
    from crm_spark.tables import Lake, parse_table_name

    hours = cfg.privacy.vacuum_retention_hours if args.retention_hours is None else args.retention_hours
    if hours < 0:
        raise CrmSparkError("--retention-hours must be 0 or more")
    for table in args.table or ():
        parse_table_name(table)  # a name with SQL in it stops here, before Spark starts
    lake = Lake(_session(cfg), cfg.lake.root)
    if args.table:
        missing = [t for t in args.table if not lake.exists(t)]
        if missing:
            raise CrmSparkError(f"no such table: {', '.join(missing)} (see `crm-spark tables`)")
        tables = list(args.table)
    else:
        tables = erase.tables_to_scan(lake) + [
            t for t in ("privacy.suppression", "privacy.erasure_audit") if lake.exists(t)]
    deleted = vacuum.vacuum(lake, tables, hours)
    print(f"vacuum (retention {hours} h): {sum(deleted.values()):,} files removed from {len(deleted)} tables")
    return 0


def cmd_pii_scan(args, cfg: Config) -> int:
    from crm_spark.privacy import erase, pii
    from crm_spark.sources.registry import load_sources
    from crm_spark.tables import Lake

    lake = Lake(_session(cfg), cfg.lake.root)
    tables = erase.tables_to_scan(lake)
    findings = pii.scan(lake, tables, {s.name: s for s in load_sources(cfg)}, cfg)
    if not findings:
        print(f"pii-scan: no untagged personal data found in {len(tables)} tables")
        return 0
    print(f"{'table':<34} {'column':<24} {'looks like':<10} {'share':>6}  example")
    for f in findings:
        print(f"{f.table:<34} {f.column:<24} {f.looks_like:<10} {f.share:>6.0%}  {f.example}")
    print(f"pii-scan: {len(findings)} untagged column(s) look like personal data; tag them in "
          "privacy.pii_columns or stop writing them")
    return 1


def cmd_export_audience(args, cfg: Config) -> int:
    from crm_spark.gold.audiences import export_audience

    rows, as_of = export_audience(_session(cfg), cfg, args.channel, args.segment, args.out, args.as_of)
    print(f"audience {args.segment!r} on {args.channel} at {as_of}: {rows:,} consenting customers "
          f"-> {args.out}")
    return 0


def cmd_export(args, cfg: Config) -> int:
    from crm_spark.identity.export import export_identity_map, format_of
    from crm_spark.tables import Lake

    format_of(args.out)   # a wrong extension fails before Spark starts
    spark = _session(cfg)
    rows = export_identity_map(spark, Lake(spark, cfg.lake.root), args.out)
    print(f"{rows} records written to {args.out}")
    return 0


def cmd_dist(args, cfg: Config) -> int:
    from pathlib import Path

    from crm_spark.submit import write_dist

    dist, text = write_dist(cfg, Path(args.out))
    size = sum(j.stat().st_size for j in dist.jars) / 1e6
    print(f"built {dist.zip_path} and {len(dist.jars)} JARs ({size:.1f} MB) in {dist.folder / 'jars'}")
    print(text)
    return 0


def cmd_setup(args, cfg: Config) -> int:
    import shutil

    from crm_spark.jars import prefetch

    if shutil.which("mvn") is None:
        log.warning("mvn not found: skipping the pre-fetch; Spark's resolver will download "
                    "the JARs itself (install Maven if it cannot reach Maven Central)")
        return 0
    for coordinate in prefetch(cfg.spark):
        print(f"available locally: {coordinate}")
    return 0


def cmd_init(args, cfg: Config) -> int:
    from pathlib import Path

    from crm_spark.onboard import inspect, propose, render

    out = Path(args.out)
    if out.exists() and not args.force:
        raise CrmSparkError(f"{out} exists; pass --force to replace it")
    if args.sample_rows < 1:
        raise CrmSparkError("--sample-rows must be at least 1")
    samples = [inspect.inspect_file(path, args.sample_rows) for path in args.from_files]
    proposal = propose.propose(samples)
    command = " ".join(["crm-spark init --from", *args.from_files, "--out", args.out])
    out.write_text(render.to_yaml(proposal, command), encoding="utf-8")
    print("\n".join(render.summary(proposal, args.out)))
    return 0


def cmd_check_config(args, cfg: Config) -> int:
    from crm_spark.onboard import check
    from crm_spark.sources.registry import load_sources

    if args.rows < 1 or args.files < 1:
        raise CrmSparkError("--rows and --files must be at least 1")
    load_sources(cfg, args.source)  # configuration errors before Spark starts
    checks = check.check_config(_session(cfg), cfg, args.rows, args.files, args.source)
    print("\n".join(check.format_checks(checks, cfg.ingest.warn_quarantine_share)))
    unchecked = [c.source for c in checks if c.problem]
    if unchecked:
        raise CrmSparkError(f"{len(unchecked)} source(s) could not be checked: {', '.join(unchecked)}")
    print(f"check-config: {len(checks)} source(s) checked; nothing was written")
    return 0


def cmd_sql(args, cfg: Config) -> int:
    from crm_spark.spark import build_spark
    from crm_spark.sql import query

    if args.max_rows < 1:
        raise CrmSparkError("--max-rows must be at least 1")
    if args.out and not args.query:
        raise CrmSparkError("--out needs a query")
    spark = build_spark(cfg, catalog=True)
    if args.query is None:
        if sys.stdin.isatty():
            print("SQL over the lake's tables (SHOW TABLES IN gold;). End statements with ;, "
                  "quit with quit or Ctrl-D.", file=sys.stderr)
        return 1 if query.shell(spark, _typed_lines(), print, args.max_rows) else 0
    if args.out:
        rows = query.write_csv(spark, args.query, args.out)
        print(f"{rows:,} rows written to {args.out}")
        return 0
    print(query.format_result(query.run_query(spark, args.query, args.max_rows)))
    return 0


def _typed_lines():
    """Lines of standard input, with a prompt when a person types them."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    import readline  # noqa: F401  (line editing and history for input())

    pending = False   # a statement is being typed over several lines
    while True:
        try:
            line = input("   > " if pending else "sql> ")
        except EOFError:
            print(file=sys.stderr)
            return
        yield line
        pending = bool(pending or line.strip()) and not line.rstrip().endswith(";")


def cmd_serve_sql(args, cfg: Config) -> int:
    import signal
    import threading

    from crm_spark.spark import build_spark
    from crm_spark.sql import server

    spark = build_spark(server.serving_config(cfg), catalog=True)
    thrift = server.start_thrift_server(spark, args.host, args.port)
    print(f"serving {cfg.lake.root} at {thrift.jdbc_url} (HiveServer2 protocol; Ctrl-C stops it)",
          flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    thrift.stop()
    return 0


COMMANDS = {
    "generate": cmd_generate,
    "run": cmd_run,
    "ingest": cmd_ingest,
    "silver": cmd_silver,
    "resolve": cmd_resolve,
    "gold": cmd_gold,
    "features": cmd_features,
    "train": cmd_train,
    "promote": cmd_promote,
    "score": cmd_score,
    "report": cmd_report,
    "evaluate": cmd_evaluate,
    "tables": cmd_tables,
    "quality": cmd_quality,
    "setup": cmd_setup,
    "dist": cmd_dist,
    "erase": cmd_erase,
    "vacuum": cmd_vacuum,
    "pii-scan": cmd_pii_scan,
    "export-audience": cmd_export_audience,
    "export": cmd_export,
    "init": cmd_init,
    "check-config": cmd_check_config,
    "sql": cmd_sql,
    "serve-sql": cmd_serve_sql,
}


if __name__ == "__main__":
    sys.exit(main())
