"""Identity resolution side by side with Splink alone, on the same person records.

    python bench/identity_peer.py [--dataset fake_1000|identifier_poor]... [--persons 3400]

For each data set the project runs as a user would, with only a source mapping and every
identity setting at its default: `crm-spark ingest`, `silver`, `resolve --retrain` (measured:
wall time and peak RSS of the process tree), then `crm-spark evaluate identity`. Splink then
runs alone on the same records, once with its DuckDB backend and once with its Spark backend
(a session built like resolve's), each in its own measured process, with a settings object a
Splink user would write for those columns (the tutorial's comparisons; blocking on names,
birth date and address). Its pairs are clustered (connected components) at every threshold of
a grid and scored like the project's, by pairs of records in one cluster; the best threshold's
figures are reported, and the best pairwise F1 of the scored pairs themselves beside them.

Data sets:
- fake_1000: ../shared/data/person_dedupe/fake_1000.csv (`cluster` is the true person),
  mapped by conf/examples/person_dedupe.yml.
- identifier_poor: `crm-spark generate --profile identifier-poor --persons N` (no malformed
  lines, so both sides read every record), mapped by conf/examples/identifier_poor.yml.

Prints a table and writes bench/results/identity-peer.json. One Spark process at a time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import run_measured, run_steps  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(PROJECT / ".venv" / "bin" / "crm-spark")
PYTHON = str(PROJECT / ".venv" / "bin" / "python")
SHARED = PROJECT.parent / "shared" / "data" / "person_dedupe"
ENV = {"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")}
THRESHOLDS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999]

# The Splink side: one process per backend. Reads the records (CSV, every column a string),
# cleans them as a Splink user would (trim, lower case, birth dates to ISO or null), trains
# (prior from deterministic rules, u by random sampling, m by EM) and writes the pairs scored
# at or above 0.01 as CSV. Run as: python -c SPLINK <backend> <spec.json> <out.csv> [--set k=v]...
SPLINK = textwrap.dedent("""
    import csv, datetime as dt, json, sys, time
    import pandas as pd
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    backend, spec_path, out_path, *overrides = sys.argv[1:]   # overrides: key=value
    spec = json.load(open(spec_path))

    def iso(text):
        for fmt in spec["dob_formats"]:
            try:
                return dt.datetime.strptime(text, fmt).date().isoformat()
            except (TypeError, ValueError):
                pass
        return None

    frames = []
    for source, path in spec["files"].items():
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df = df.rename(columns=spec["rename"])[["unique_id", *spec["columns"]]]
        for column in spec["columns"]:
            df[column] = df[column].str.strip().str.lower().replace("", None)
        df["dob"] = df["dob"].map(iso)
        df["unique_id"] = source.split("|")[0] + "|" + df["unique_id"]
        frames.append(df)
    records = pd.concat(frames, ignore_index=True)

    comparisons = {
        "first_name": lambda: cl.NameComparison("first_name"),
        "surname": lambda: cl.NameComparison("surname"),
        "names": lambda: cl.ForenameSurnameComparison("first_name", "surname"),
        "dob": lambda: cl.DateOfBirthComparison("dob", input_is_string=True),
        "city": lambda: cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        "email": lambda: cl.EmailComparison("email"),
        "street": lambda: cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
        "house_number": lambda: cl.ExactMatch("house_number"),
        "postcode": lambda: cl.LevenshteinAtThresholds("postcode", 1),
        "state": lambda: cl.ExactMatch("state"),
    }
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on(*r) for r in spec["blocking"]],
        comparisons=[comparisons[c]() for c in spec["comparisons"]],
        retain_intermediate_calculation_columns=False,
    )
    start = time.perf_counter()
    if backend == "duckdb":
        from splink.backends.duckdb import DuckDBAPI
        db_api = DuckDBAPI()
        table = db_api.register(records)
    else:
        from crm_spark.config import load_config
        from crm_spark.spark import build_spark
        from splink.backends.spark import SparkAPI
        spark = build_spark(load_config(overrides=overrides))
        db_api = SparkAPI(spark_session=spark, break_lineage_method="parquet",
                          num_partitions_on_repartition=max(2, spark.sparkContext.defaultParallelism))
        spark.sparkContext.setCheckpointDir(spec["scratch"])
        rows = records.astype(object).where(records.notna(), None).values.tolist()
        schema = ", ".join(f"{c} STRING" for c in records.columns)
        table = db_api.register(spark.createDataFrame(rows, schema))
    linker = Linker(table, settings)
    if spec["prior_rules"]:
        linker.training.estimate_probability_two_random_records_match(
            [block_on(*r) for r in spec["prior_rules"]], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in spec["em_rules"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), estimate_without_term_frequencies=True)
    pairs = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
    pairs[["unique_id_l", "unique_id_r", "match_probability"]].to_csv(out_path, index=False)
    print(f"SPLINK_SECONDS {time.perf_counter() - start:.1f} PAIRS {len(pairs)} RECORDS {len(records)}")
""")

DATASETS = {
    "fake_1000": {
        "conf": "conf/examples/person_dedupe.yml",
        "sources": {"fake_1000": "unique_id"},
        "rename": {},
        "columns": ["first_name", "surname", "dob", "city", "email"],
        "dob_formats": ["%Y-%m-%d"],
        # the comparisons and training of Splink's quickstart on fake_1000 (its README); the
        # prior as its tutorial estimates it; the quickstart's blocking (first name, surname)
        # finds only half the true pairs, so birth date and e-mail are blocked on too
        "comparisons": ["first_name", "surname", "dob", "city", "email"],
        "blocking": [["first_name"], ["surname"], ["dob"], ["email"]],
        "prior_rules": [["first_name", "dob"], ["email"]],
        "em_rules": [["first_name", "surname"], ["dob"]],
    },
    "identifier_poor": {
        "conf": "conf/examples/identifier_poor.yml",
        "sources": {"people_a": "rec_id", "people_b": "rec_id"},
        "rename": {"rec_id": "unique_id", "given_name": "first_name", "date_of_birth": "dob",
                   "street_number": "house_number", "address_1": "street", "suburb": "city"},
        "columns": ["first_name", "surname", "dob", "house_number", "street", "city", "postcode",
                    "state"],
        "dob_formats": ["%d/%m/%Y"],
        "comparisons": ["names", "dob", "house_number", "street", "city", "postcode", "state"],
        "blocking": [["first_name", "surname"], ["dob"], ["postcode", "house_number"],
                     ["surname", "postcode"]],
        "prior_rules": [["first_name", "surname", "dob"]],
        "em_rules": [["dob"], ["postcode", "house_number"]],
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=list(DATASETS),
                        help="data set(s) to run (default: all)")
    parser.add_argument("--persons", type=int, default=3400,
                        help="persons of the identifier-poor profile (3,400 give about 5,000 records)")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--work", default="/tmp/crm-bench-identity-peer")
    args = parser.parse_args()
    results_dir = PROJECT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "identity-peer.json"
    results = {}
    for name in args.dataset or list(DATASETS):
        result = run_dataset(name, DATASETS[name], Path(args.work) / name, args)
        if result is None:
            return 1
        results[name] = result
        previous = json.loads(out.read_text()) if out.exists() else {}
        out.write_text(json.dumps({**previous, name: result}, indent=1))  # kept as each set ends
        print_table({name: result})
    return 0


def run_dataset(name: str, spec: dict, work: Path, args) -> dict | None:
    shutil.rmtree(work, ignore_errors=True)
    landing, truth = work / "landing", work / "truth"
    overrides = [f"lake.landing={landing}", f"lake.truth={truth}", f"lake.root={work / 'lake'}",
                 f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
                 f"spark.driver_memory={args.driver_memory}",
                 f"spark.jars_dir={PROJECT / '.cache' / 'jars'}", f"spark.ivy_dir={PROJECT / '.ivy'}",
                 f"mlflow.tracking_uri=sqlite:///{work / 'mlruns' / 'mlflow.db'}",
                 f"mlflow.artifact_location={work / 'mlruns' / 'artifacts'}",
                 "generate.malformed_rate=0",
                 *[f"sources.{s}.enabled=false" for s in registry_sources()],
                 *[f"sources.{s}.location={landing / s}" for s in spec["sources"]]]
    sets = [x for o in overrides for x in ("--set", o)]
    conf = ["--conf", str(PROJECT / spec["conf"])]
    work.mkdir(parents=True, exist_ok=True)
    steps = []
    if name == "fake_1000":
        (landing / "fake_1000").mkdir(parents=True)
        shutil.copy(SHARED / "fake_1000.csv", landing / "fake_1000" / "fake_1000.csv")
        evaluate = ["--truth", str(SHARED / "fake_1000.csv"), "--source", "fake_1000",
                    "--id-column", "unique_id", "--true-column", "cluster"]
        truth_file = SHARED / "fake_1000.csv"
    else:
        steps.append(("generate", [CLI, *conf, *sets, "generate", "--profile", "identifier-poor",
                                   "--persons", str(args.persons), "--force"]))
        evaluate = ["--truth", str(truth / "source_records")]
        truth_file = truth / "source_records" / "source_records.csv"
    steps += [("ingest", [CLI, *conf, *sets, "ingest"]), ("silver", [CLI, *conf, *sets, "silver"]),
              ("resolve", [CLI, *conf, *sets, "resolve", "--retrain"]),
              ("evaluate", [CLI, *conf, *sets, "evaluate", "identity", "--no-mlflow", *evaluate])]
    measured = run_steps(steps, work, env=ENV)
    if measured is None:
        return None
    evaluation = (work / "evaluate.log").read_text()
    project = {m: float(v.replace(",", "")) for m, v in re.findall(r"^(\w+)\s+([\d.,e+-]+)\s*$",
                                                                   evaluation, re.MULTILINE)}
    truth_of = read_truth(name, truth_file)
    files = {f"{s}|{f.name}": str(f) for s in spec["sources"] for f in sorted((landing / s).glob("*.csv"))}
    id_column = next(iter(spec["sources"].values()))
    splink_spec = {**{k: spec[k] for k in ("columns", "dob_formats", "comparisons", "blocking",
                                           "prior_rules", "em_rules")},
                   "rename": {**spec["rename"], id_column: "unique_id"},
                   "files": files, "scratch": str(work / "splink-scratch")}
    (work / "splink-spec.json").write_text(json.dumps(splink_spec))
    splink = {}
    for backend in ("duckdb", "spark"):
        out = work / f"splink-{backend}.csv"
        print(f"splink {backend} ...", flush=True)
        session = [o for o in overrides if not o.startswith("sources.")]  # the session's settings
        command = [PYTHON, "-c", SPLINK, backend, str(work / "splink-spec.json"), str(out), *session]
        run = run_measured(command, str(work / f"splink-{backend}.log"), env=ENV)
        if run["exit_code"]:
            print(f"splink {backend} failed; see {work / f'splink-{backend}.log'}", flush=True)
            return None
        log = (work / f"splink-{backend}.log").read_text()
        inner = re.search(r"SPLINK_SECONDS ([\d.]+) PAIRS (\d+)", log)
        splink[backend] = {"run": run, "splink_seconds": float(inner.group(1)),
                           "pairs_scored": int(inner.group(2)), **best_threshold(out, truth_of)}
        print(f"splink {backend}: {run['seconds']} s, F1 {splink[backend]['clustered']['f1']}", flush=True)
    return {"records": len(truth_of), "cores": os.cpu_count(), "driver_memory": args.driver_memory,
            "project": {"resolve": measured["resolve"], "metrics": project,
                        "steps": {k: v["seconds"] for k, v in measured.items()}},
            "splink": splink}


def registry_sources() -> list[str]:
    """The sources of conf/sources.yml, switched off so only the data set's are ingested."""
    import yaml

    registry = yaml.safe_load((PROJECT / "conf" / "sources.yml").read_text()) or {}
    return list((registry.get("sources") or {}).keys())


def read_truth(name: str, path: Path) -> dict[str, str]:
    """record id (``source|source_id``) -> true person."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if name == "fake_1000":
        return {f"fake_1000|{r['unique_id']}": r["cluster"] for r in rows}
    return {f"{r['source']}|{r['source_id']}": r["person_id"] for r in rows}


def best_threshold(pairs_path: Path, truth_of: dict[str, str]) -> dict:
    """The threshold of the grid whose clusters score the best pairwise F1, and the best F1 of
    the scored pairs themselves (no clustering)."""
    with open(pairs_path, newline="") as f:
        pairs = [(r["unique_id_l"], r["unique_id_r"], float(r["match_probability"]))
                 for r in csv.DictReader(f)]
    true_pairs = pair_count(_sizes(truth_of.values()))
    grid = []
    for threshold in THRESHOLDS:
        edges = [(left, right) for left, right, p in pairs if p >= threshold]
        clusters = components(truth_of, edges)
        predicted = pair_count(_sizes(clusters.values()))
        both = pair_count(_sizes((clusters[r], truth_of[r]) for r in truth_of))
        scored_tp = sum(1 for left, right in edges if truth_of[left] == truth_of[right])
        grid.append({"threshold": threshold, **prf(both, predicted, true_pairs),
                     "pairs_f1": prf(scored_tp, len(edges), true_pairs)["f1"]})
    best = max(grid, key=lambda g: g["f1"])
    return {"clustered": best, "best_pairs_f1": max(g["pairs_f1"] for g in grid), "grid": grid}


def components(truth_of: dict[str, str], edges: list[tuple[str, str]]) -> dict[str, str]:
    parent = {r: r for r in truth_of}

    def root(r):
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for left, right in edges:
        a, b = root(left), root(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {r: root(r) for r in truth_of}


def _sizes(labels) -> list[int]:
    counts: dict = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return list(counts.values())


def pair_count(sizes: list[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def prf(tp: int, predicted: int, true: int) -> dict:
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def print_table(results: dict) -> None:
    print("| data set | records | system | precision | recall | F1 | threshold | wall s | peak RSS MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        m, resolve = r["project"]["metrics"], r["project"]["resolve"]
        print(f"| {name} | {r['records']:,} | crm-spark resolve | {m.get('precision')} | "
              f"{m.get('recall')} | {m.get('f1')} | default | {resolve['seconds']} | "
              f"{resolve['peak_total_mib']:,} |")
        for backend, s in r["splink"].items():
            c = s["clustered"]
            print(f"| {name} | {r['records']:,} | Splink ({backend}) | {c['precision']} | {c['recall']} | "
                  f"{c['f1']} (pairs {s['best_pairs_f1']}) | {c['threshold']} | {s['run']['seconds']} | "
                  f"{s['run']['peak_total_mib']:,} |")


if __name__ == "__main__":
    sys.exit(main())
