"""Benchmark the model stages; `clv`: the Spark pass to compressed counts and the BG/NBD +
Gamma-Gamma fits at millions of customers; `train`: churn and ALS training on a generated lake.

    python bench/models.py clv --customers 1000000 10000000 [--unit weeks|days] [--driver-memory 4g]
    python bench/models.py train --persons 1000000 [--keep-lake] [--set models.recs_max_iter=3]

`train` takes the lake bench/lake.py builds through features (or reuses it with --keep-lake) and
runs `crm-spark train churn` and `crm-spark train recs` in their own processes: wall time, peak
memory and the metrics each prints. Writes bench/results/train-<persons>.json.

`clv`:
Per size, in its own process (peak memory sampled by procmem): customer summaries simulated in
Spark from known parameters (numpy per Arrow batch, seeded by the batch's first id) and written
to Parquet; then (a) the Spark pass building the (x, t_x, T) counts and (x, log m_x) spend bins
(`clv.compressed`, `clv.compressed_spend`), (b) the fits on those counts, (c) up to
--uncompressed-max customers, the same fits on every customer's row collected to the driver,
(d) up to --predict-max customers, `clv.predict` over 52 weeks / 364 days written to Spark's
noop sink. Writes bench/results/clv-<customers>-<unit>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(PROJECT))
import lake  # noqa: E402
from procmem import run_measured, run_steps  # noqa: E402

PYTHON = str(PROJECT / ".venv" / "bin" / "python")
TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}  # per week
UNITS = {"weeks": (1.0, 104, 52.0), "days": (7.0, 728, 364.0)}  # (periods per week, T max, horizon)
SEED = 20240611


def simulate_summaries(unit: str):
    """mapInPandas function: ids -> customer_id, x, t_x, T, m_x, n_spend from BG/NBD + Gamma-Gamma.

    Ages are uniform over two years; x = min(Geometric(p), Poisson(lambda age)) and the last of x
    arrivals among N uniform ones sits at age * Beta(x, N - x + 1). Both are rounded to whole
    periods, t_x to at least 1 (x > 0 implies t_x > 0) and T to at least t_x.
    """
    per_week, t_max, _ = UNITS[unit]

    def run(batches):
        import numpy as np
        import pandas as pd

        for pdf in batches:
            ids = pdf["id"].to_numpy()
            n = ids.size
            rng = np.random.default_rng([SEED, int(ids[0])])
            age = rng.uniform(0.0, t_max, n)
            lam = rng.gamma(TRUE["r"], 1 / (TRUE["alpha"] * per_week), n)  # per period
            arrivals = rng.poisson(lam * age)
            x = np.minimum(rng.geometric(rng.beta(TRUE["a"], TRUE["b"], n)), arrivals)
            has = x > 0
            t_x = np.zeros(n)
            t_x[has] = np.maximum(1.0, np.round(age[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)))
            big_t = np.maximum(np.round(age), t_x)
            nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n)
            m_x = np.full(n, np.nan)
            m_x[has] = rng.gamma(TRUE["p"] * x[has], 1 / (nu[has] * x[has]))
            yield pd.DataFrame({"customer_id": np.char.add("C", ids.astype(str)), "x": x.astype("int32"),
                                "t_x": t_x.astype("int32"), "T": big_t.astype("int32"), "m_x": m_x,
                                "n_spend": x.astype("int32")})
    return run


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - start, 2)


def _max_rel_diff(one, other, names) -> float:
    return max(abs(getattr(one, k) / getattr(other, k) - 1) for k in names)


def run_clv(args) -> dict:
    """One size in this process; returns the measurements."""
    from pyspark.sql import functions as F

    from crm_spark.config import load_config
    from crm_spark.models import btyd, clv
    from crm_spark.spark import build_spark

    cfg = load_config(overrides=[
        "spark.master=local[*]", f"spark.driver_memory={args.driver_memory}",
        f"spark.jars_dir={PROJECT / '.cache' / 'jars'}", f"spark.ivy_dir={PROJECT / '.ivy'}",
        "spark.shuffle_partitions=4"])
    spark = build_spark(cfg)
    n, unit = args.customers, args.unit
    load = [round(v, 1) for v in os.getloadavg()]
    path = str(Path(args.work) / f"{n}-{unit}" / "summaries")
    out = {"customers": n, "unit": unit, "load_before": load}

    def generate():
        schema = "customer_id STRING, x INT, t_x INT, T INT, m_x DOUBLE, n_spend INT"
        (spark.range(n, numPartitions=max(2, n // 1_000_000)).mapInPandas(simulate_summaries(unit), schema)
         .write.mode("overwrite").parquet(path))
    out["generate_s"] = _timed(generate)[1]
    summaries_df = spark.read.parquet(path)

    (triples, spend), out["spark_pass_s"] = _timed(
        lambda: (clv.compressed(summaries_df), clv.compressed_spend(summaries_df)))
    out["n_triples"], out["n_spend_rows"] = int(triples.x.size), int(spend.x.size)
    out["n_repeat_customers"] = int(spend.customers.sum())
    # What exact (x, round(m_x, 2)) keys would have given instead of the log bins.
    out["n_spend_rows_cents"] = summaries_df.where("x > 0").groupBy("x", F.round("m_x", 2)).count().count()
    bg, out["fit_bgnbd_s"] = _timed(lambda: btyd.fit_bgnbd(triples.x, triples.t_x, triples.T,
                                                           weights=triples.customers))
    gg, out["fit_gamma_gamma_s"] = _timed(lambda: btyd.fit_gamma_gamma(spend.x, spend.m_x,
                                                                        weights=spend.customers))
    out["fit_compressed_s"] = round(out["fit_bgnbd_s"] + out["fit_gamma_gamma_s"], 2)
    out["bgnbd_iterations"] = bg.iterations
    per_week = UNITS[unit][0]
    out["fitted"] = {"r": bg.r, "alpha_per_week": bg.alpha / per_week, "a": bg.a, "b": bg.b,
                     "p": gg.p, "q": gg.q, "v": gg.v, "converged": bg.converged and gg.converged}

    if n <= args.uncompressed_max:
        table, out["collect_rows_s"] = _timed(lambda: summaries_df.select("x", "t_x", "T", "m_x").toArrow())
        cols = {c: table.column(c).to_numpy(zero_copy_only=False).astype(float)
                for c in ("x", "t_x", "T", "m_x")}
        rep = cols["x"] > 0
        (bg_full, gg_full), out["fit_uncompressed_s"] = _timed(lambda: (
            btyd.fit_bgnbd(cols["x"], cols["t_x"], cols["T"]),
            btyd.fit_gamma_gamma(cols["x"][rep], cols["m_x"][rep])))
        out["max_rel_diff_bgnbd"] = _max_rel_diff(bg, bg_full, ("r", "alpha", "a", "b"))
        out["max_rel_diff_gg"] = _max_rel_diff(gg, gg_full, ("p", "q", "v"))
        del table, cols
    if n <= args.predict_max:
        fitted = clv.ClvFit(bg, gg, n, out["n_repeat_customers"], out["n_triples"], out["n_spend_rows"], 0.0)
        settings = clv.ClvSettings(date(2024, 12, 31), time_unit=unit, horizon=UNITS[unit][2],
                                   discount_rate=1.10 ** (1 / UNITS[unit][2]) - 1, step=per_week)
        out["predict_s"] = _timed(lambda: clv.predict(summaries_df, fitted, settings)
                                  .write.format("noop").mode("overwrite").save())[1]
    out["driver_python_peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["load_after"] = [round(v, 1) for v in os.getloadavg()]
    spark.stop()
    return out


METRIC_LINE = re.compile(r"^(\w+) +(-?[\d,.]+(?:e[-+]\d+)?)$", re.MULTILINE)
TRAINED = ("churn", "recs")


def run_train(args) -> int:
    work = lake.prepare(args, "features")
    if work is None:
        return 1
    sets = lake.as_sets([*lake.overrides(work, lake.landing_of(work), args.driver_memory), *args.extra])
    steps = [(f"train-{model}", [lake.CLI, *sets, "train", model]) for model in TRAINED]
    measured = run_steps(steps, work, env=lake.ENV)
    if measured is None:
        return 1
    result = {"persons": args.persons, "cores": os.cpu_count(), "driver_memory": args.driver_memory,
              "overrides": args.extra, "load_after": [round(v, 1) for v in os.getloadavg()]}
    print("| model | seconds | peak JVM RSS MiB | metrics |")
    print("|---|---:|---:|---|")
    for name, m in measured.items():
        printed = METRIC_LINE.findall((work / f"{name}.log").read_text())
        metrics = {k: float(v.replace(",", "")) for k, v in printed}
        result[name] = {**m, "metrics": metrics}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "version")
        print(f"| {name} | {m['seconds']} | {m['peak_jvm_mib']:,} | {shown} |")
    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"train-{args.persons}.json").write_text(json.dumps(result, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    lake.add_arguments(train)
    train.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                       help="a configuration override for training (e.g. models.churn_max_candidates=1)")
    for name in ("clv", "_clv-run"):
        p = sub.add_parser(name)
        p.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
        p.add_argument("--unit", choices=sorted(UNITS), default="weeks")
        p.add_argument("--driver-memory", default="4g")
        p.add_argument("--uncompressed-max", type=int, default=1_000_000)
        p.add_argument("--predict-max", type=int, default=1_000_000)
        p.add_argument("--work", default="/tmp/crm-bench-clv")
    args = parser.parse_args()
    if args.command == "train":
        return run_train(args)
    if args.command == "_clv-run":
        args.customers = args.customers[0]
        print("RESULT " + json.dumps(run_clv(args)), flush=True)
        return 0

    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    print("| customers | unit | triples | spend bins (cents pairs) | Spark pass s | fit compressed s "
          "| uncompressed collect + fit s | predict s | peak driver Python / JVM MiB | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in args.customers:
        work = Path(args.work) / f"{n}-{args.unit}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        command = [PYTHON, __file__, "_clv-run", "--customers", str(n), "--unit", args.unit,
                   "--driver-memory", args.driver_memory, "--uncompressed-max", str(args.uncompressed_max),
                   "--predict-max", str(args.predict_max), "--work", args.work]
        measured = run_measured(command, str(work / "run.log"),
                                env={"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")})
        lines = [ln for ln in (work / "run.log").read_text().splitlines() if ln.startswith("RESULT ")]
        if measured["exit_code"] or not lines:
            print(f"clv --customers {n} failed; see {work / 'run.log'}", file=sys.stderr)
            return 1
        result = {**json.loads(lines[-1].removeprefix("RESULT ")), **measured, "cores": os.cpu_count()}
        (results_dir / f"clv-{n}-{args.unit}.json").write_text(json.dumps(result, indent=1))
        uncompressed = (f"{result['collect_rows_s']} + {result['fit_uncompressed_s']}"
                        if "fit_uncompressed_s" in result else "not run")
        print(f"| {n:,} | {args.unit} | {result['n_triples']:,} | {result['n_spend_rows']:,} "
              f"({result['n_spend_rows_cents']:,}) | {result['spark_pass_s']} | {result['fit_compressed_s']} "
              f"| {uncompressed} | {result.get('predict_s', 'not run')} "
              f"| {result['driver_python_peak_mib']:,} / {result['peak_jvm_mib']:,} "
              f"| {result['load_before'][0]} -> {result['load_after'][0]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
