"""A generated lake for the benchmarks that measure one stage on top of the others (gold,
report, erase).

    python bench/lake.py --persons 1000000 --landing /tmp/crm-bench-generate/1000000/landing \
        --through features

Builds /tmp/crm-bench-lake/<persons>/lake from a generated landing folder (generated first
when --landing is not given), one `crm-spark` process per stage, each measured (wall time,
peak memory). Identity is resolved with the deterministic rules only
(identity.probabilistic=false): these benchmarks are about the stages after matching, and
Splink's training at 1M persons is bench/identity.py's subject. The stages built are recorded
in built.json after each step, so gold.py, report.py and erase.py can reuse the lake
(--keep-lake) and a later call can add stages to it (--resume).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import run_steps  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(PROJECT / ".venv" / "bin" / "crm-spark")
PYTHON = str(PROJECT / ".venv" / "bin" / "python")
STAGES = ("ingest", "silver", "resolve", "gold", "features", "train", "score")
MODELS = ("churn", "clv", "recs")  # `crm-spark train` takes one model a call
ENV = {"CRM_SPARK_CONF_DIR": str(PROJECT / "conf")}


def overrides(work: Path, landing: Path, driver_memory: str) -> list[str]:
    """The --set values that point a configuration at the benchmark's lake."""
    return [
        f"lake.landing={landing}",
        f"lake.truth={landing.parent / 'truth'}",
        f"lake.root={work / 'lake'}",
        f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
        f"spark.driver_memory={driver_memory}",
        "identity.probabilistic=false",
        f"spark.jars_dir={PROJECT / '.cache' / 'jars'}",
        f"spark.ivy_dir={PROJECT / '.ivy'}",
        f"mlflow.tracking_uri=sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        f"mlflow.artifact_location={work / 'mlruns' / 'artifacts'}",
        f"report.out={work / 'report' / 'crm-report.html'}",
    ]


def as_sets(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def work_dir(root: str, persons: int) -> Path:
    work = Path(root) / str(persons)
    work.mkdir(parents=True, exist_ok=True)
    return work


def built_stages(work: Path) -> list[str]:
    path = work / "built.json"
    return json.loads(path.read_text())["stages"] if path.exists() else []


def require(work: Path, stage: str) -> None:
    """Stop with one line when the kept lake was not built through ``stage``."""
    if stage not in built_stages(work):
        sys.exit(f"error: {work / 'lake'} was not built through {stage}; run bench/lake.py "
                 f"--through {stage} first (or drop --keep-lake)")


def build(persons: int, landing: str | None, work: Path, driver_memory: str, through: str,
          resume: bool = False, extra: tuple[str, ...] = ()) -> dict | None:
    """Build the lake through ``through``: from scratch, or with ``resume`` from the stage after
    the last one built.json records. built.json is rewritten after every step, so a lake whose
    later stages failed or were stopped can still be used and resumed. Returns the measured
    steps (None when a step failed)."""
    record = json.loads((work / "built.json").read_text()) if resume else None
    if record is None:
        shutil.rmtree(work / "lake", ignore_errors=True)
        shutil.rmtree(work / "mlruns", ignore_errors=True)
        (work / "built.json").unlink(missing_ok=True)
        landing_dir = Path(landing) if landing else work / "landing"
        record = {"persons": persons, "landing": str(landing_dir), "stages": [], "steps": {}}
        (work / "built.json").write_text(json.dumps(record, indent=1))
    landing_dir = Path(record["landing"])
    sets = as_sets([*overrides(work, landing_dir, driver_memory), *extra])
    steps = []
    if not landing and not resume:
        shutil.rmtree(landing_dir, ignore_errors=True)
        steps.append(("generate", [CLI, *sets, "generate", "--persons", str(persons), "--force"]))
    done = record["stages"]
    first = max(STAGES.index(stage) for stage in done) + 1 if done else 0
    for stage in STAGES[first: STAGES.index(through) + 1]:
        if stage == "train":
            steps += [(f"train-{model}", [CLI, *sets, "train", model]) for model in MODELS]
        else:
            steps.append((stage, [CLI, *sets, stage]))
    measured = {}
    for step in steps:
        result = run_steps([step], work, env=ENV)
        if result is None:
            return None
        measured.update(result)
        stage = step[0].split("-")[0]
        if stage in STAGES:
            if extra:
                record.setdefault("overrides", {})[step[0]] = list(extra)
            done_now = stage != "train" or step[0] == f"train-{MODELS[-1]}"
            record_stage(work, stage if done_now else None, result[step[0]], record, step[0])
    return measured


def record_stage(work: Path, stage: str | None, measurement: dict, record: dict | None = None,
                 step: str | None = None) -> None:
    """Note in built.json the measurement of a step and that ``stage`` (None: not yet, a step
    of it) now holds in the lake."""
    record = record or json.loads((work / "built.json").read_text())
    if stage and stage not in record["stages"]:
        record["stages"].append(stage)
    record["steps"][step or stage] = measurement
    (work / "built.json").write_text(json.dumps(record, indent=1))


def built_steps(work: Path) -> dict:
    return json.loads((work / "built.json").read_text())["steps"]


def add_arguments(parser) -> None:
    """The options of a benchmark that runs on this lake."""
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--landing", help="a generated landing folder (its truth next to it)")
    parser.add_argument("--keep-lake", action="store_true", help="reuse the lake bench/lake.py built")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--work", default="/tmp/crm-bench-lake")


def prepare(args, through: str) -> Path | None:
    """The work folder of a lake built through ``through``: the kept one (--keep-lake, checked)
    or a new build; None when the build failed."""
    work = work_dir(args.work, args.persons)
    if args.keep_lake:
        require(work, through)
    elif build(args.persons, args.landing, work, args.driver_memory, through) is None:
        return None
    return work


def landing_of(work: Path) -> Path:
    return Path(json.loads((work / "built.json").read_text())["landing"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--landing", help="a generated landing folder (its truth next to it)")
    parser.add_argument("--through", choices=STAGES, default="features")
    parser.add_argument("--resume", action="store_true",
                        help="build on the kept lake from the stage after the last one built")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="a configuration override for the stages this call runs (e.g. "
                             "models.churn_max_candidates=1)")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--work", default="/tmp/crm-bench-lake")
    args = parser.parse_args()
    work = work_dir(args.work, args.persons)
    if args.resume and not built_stages(work):
        sys.exit(f"error: nothing to resume in {work}: build the lake first (drop --resume)")
    measured = build(args.persons, args.landing, work, args.driver_memory, args.through, args.resume,
                     tuple(args.extra))
    if measured is None:
        return 1
    print("| step | seconds | peak JVM RSS MiB |")
    print("|---|---:|---:|")
    for name, m in measured.items():
        print(f"| {name} | {m['seconds']} | {m['peak_jvm_mib']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
