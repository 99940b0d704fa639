"""The whole pipeline submitted with ``spark-submit`` to a real Spark standalone cluster — a master
and two workers with one core each on 127.0.0.1 — with worker 2 killed (``kill -9`` of its JVM)
in the middle of the run, compared with a local-mode run of the same input: the session's
``demo_lake`` (built in-process on ``local[2]``). The cluster run ingests demo_lake's landing
files and computes gold for the same as-of date.

The cluster run is the ``spark-submit`` command line built from the ``make dist`` artifacts
(``crm_spark.zip`` for ``--py-files``, ``jars/`` for ``--jars``, ``jobs/run_pipeline.py``).
Executors run a Python that has the project's third-party packages but not its editable
install, so they import crm_spark from the shipped zip.

Compared as DataFrames, ignoring row order: every gold table and ``silver.identity_map``, less
these columns, which differ between two runs by construction (not by cluster vs local):

- ``silver.identity_map.resolved_at``: the wall-clock time of the resolve stage;
- ``gold.customer_360`` ``churn_probability``, ``predicted_clv``, ``recommendations``: model
  outputs, like the tables ``gold.churn_scores``, ``gold.clv_scores`` and
  ``gold.recommendations``. The cluster run trains cheaper models (one churn candidate, three
  ALS iterations: the test is about where the work runs), and models are trained on a
  partitioned data set with sampling, so they need not be bit-identical anyway; for them the
  test checks that every model was registered with a champion and its scores were written.

Doubles are compared to 8 decimal places: a cluster may add partial sums in another order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chispa import assert_df_equality

from crm_spark.submit import build_dist, submit_command
from tests import conftest
from tests.conftest import CONF_DIR, PROJECT
from tests.support.cluster import SPARK_HOME, StandaloneCluster, bare_python, free_port

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

# cheap models: the test is about where the work runs
CHEAP_MODELS = ["models.churn_max_candidates=1", "models.recs_max_iter=3"]
STAGES = ("ingest", "silver", "resolve", "gold", "features", "train", "score")
KILL_DURING = "resolve"          # the pipeline stage during which worker 2 is killed ...
# ... once identity's connected components have checkpointed their labels: losing an executor
# from then on loses data that a local checkpoint could not give back.
KILL_AFTER = re.compile(r"identity: connected components round 1:")
RUN_TIMEOUT = 1800
DOUBLE_DECIMALS = 8
MODEL_TABLES = ("gold.churn_scores", "gold.clv_scores", "gold.recommendations")
IGNORED_COLUMNS = {
    "silver.identity_map": ["resolved_at"],
    "gold.customer_360": ["churn_probability", "predicted_clv", "recommendations"],
}


@dataclass
class Run:
    """One spark-submit of jobs/run_pipeline.py: where its lake is and what happened."""

    root: Path
    command: list[str]
    returncode: int = -1
    seconds: float = 0.0
    log: Path | None = None
    stages_started: list[str] = field(default_factory=list)
    kill_armed: bool = False            # the driver logged KILL_AFTER
    kill: dict | None = None            # what the driver's REST API showed when worker 2 died
    executor_workers: dict[str, int] = field(default_factory=dict)   # executor id -> worker
    events: list[dict] = field(default_factory=list)                 # the event log

    @property
    def lake_root(self) -> str:
        return str(self.root / "lake")


def job_args(root: Path, as_of: str, extra: list[str] = ()) -> list[str]:
    """The pipeline's arguments: the test configuration (private folders, 2 partitions) on
    demo_lake's input; the master is left to spark-submit."""
    sets = [o for o in conftest.test_overrides(root) if not o.startswith("spark.master=")]
    sets += [*CHEAP_MODELS, f"report.out={root / 'report.html'}", *extra]
    return ["--env", "cluster", *[a for s in sets for a in ("--set", s)], "--as-of", as_of]


def submit_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME")}
    env.update({"SPARK_LOCAL_IP": "127.0.0.1", "CRM_SPARK_CONF_DIR": str(CONF_DIR)})
    return env


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """``make dist``'s artifacts and the executors' Python, built once."""
    from crm_spark.config import load_config

    root = tmp_path_factory.mktemp("dist")
    cfg = load_config(overrides=[f"spark.jars_dir={PROJECT / '.cache' / 'jars'}"],
                      conf_dir=CONF_DIR, env="cluster")
    return build_dist(cfg, root / "dist"), bare_python(root / "pyenv")


def python_conf(executor_python: Path) -> dict[str, str]:
    return {"spark.pyspark.python": str(executor_python),
            "spark.pyspark.driver.python": sys.executable}


@pytest.fixture(scope="module")
def cluster_run(artifacts, demo_lake, tmp_path_factory) -> Run:
    """The cluster run; the cluster is stopped when it ends, whatever happened. Runs after
    demo_lake is built so that the two never compete for the two cores."""
    dist, executor_python = artifacts
    root = tmp_path_factory.mktemp("cluster")
    with StandaloneCluster(root / "spark", workers=2, cores=1, memory="1g") as cluster:
        ui_port = free_port()
        conf = {**python_conf(executor_python), "spark.driver.memory": "1g",
                "spark.executor.memory": "1g", "spark.executor.cores": "1", "spark.cores.max": "2",
                "spark.eventLog.enabled": "true", "spark.eventLog.dir": str(cluster.event_dir),
                "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false",
                # query plans would make the event log about 1 GB; the test reads task events only
                "spark.sql.maxPlanStringLength": "1000"}
        # the driver's UI answers the REST calls that show which executor is running a task
        demo_cfg = demo_lake[0]
        # demo_lake's landing files are the input (ingest only reads them): the very same input
        extra = ["spark.options.spark.ui.enabled=true", f"spark.options.spark.ui.port={ui_port}",
                 f"lake.landing={demo_cfg.lake.landing}"]
        as_of = demo_cfg.generate.end_date.isoformat()
        command = submit_command(dist, "run_pipeline", cluster.master_url, job_args(root, as_of, extra), conf,
                                 str(SPARK_HOME / "bin" / "spark-submit"), PROJECT / "jobs")
        run = Run(root, command)
        _execute(run, monitor=WorkerKiller(cluster, ui_port, run))
        run.events = _read_events(_event_log(cluster))
        run.executor_workers = _executor_workers(cluster, run.events)
    return run


class WorkerKiller:
    """Watches the running application and kills worker 2 once the driver has logged
    ``KILL_AFTER`` (in stage ``KILL_DURING``), executors on both workers have finished tasks,
    and worker 2's executor is running one right now."""

    def __init__(self, cluster: StandaloneCluster, ui_port: int, run: Run):
        self.cluster, self.ui_port, self.run = cluster, ui_port, run
        self.stop = threading.Event()

    def __call__(self) -> None:
        worker_ports = {w.ui_port: i for i, w in enumerate(self.cluster.state.workers, start=1)}
        while not self.stop.wait(0.3):
            # Should the driver never log KILL_AFTER (an identity change), kill in a later stage
            # rather than not at all; the stage is printed.
            started = self.run.stages_started
            past_stage = KILL_DURING in started and started[-1] != KILL_DURING
            if not (self.run.kill_armed or past_stage):
                continue
            executors = self._executors()
            per_worker = {}
            for executor in executors:
                url = executor.get("executorLogs", {}).get("stdout", "")
                port = re.search(r"//[^/:]+:(\d+)/", url)
                worker = worker_ports.get(int(port.group(1))) if port else None
                if worker:
                    per_worker[worker] = executor
            if len(per_worker) == 2 and all(e["completedTasks"] > 0 for e in per_worker.values()) \
                    and per_worker[2]["activeTasks"] > 0:
                self.cluster.kill_worker(2)
                self.run.kill = {"at": time.monotonic(), "stage": self.run.stages_started[-1],
                                 "executors": {w: {k: e[k] for k in ("id", "completedTasks", "activeTasks")}
                                               for w, e in per_worker.items()}}
                return

    def _executors(self) -> list[dict]:
        base = f"http://127.0.0.1:{self.ui_port}/api/v1/applications"
        try:
            with urllib.request.urlopen(base, timeout=3) as response:
                app = json.load(response)[0]["id"]
            with urllib.request.urlopen(f"{base}/{app}/executors", timeout=3) as response:
                return [e for e in json.load(response) if e["id"] != "driver"]
        except (OSError, ValueError, IndexError, KeyError):
            return []


def _execute(run: Run, monitor) -> None:
    """Run the command, keep its output in ``run.log``, note the pipeline stages it starts."""
    run.log = run.root / "driver.log"
    start = time.monotonic()
    watcher = threading.Thread(target=monitor, daemon=True) if monitor else None
    with open(run.log, "w", buffering=1) as log, subprocess.Popen(
            run.command, cwd=PROJECT, env=submit_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL) as process:
        if watcher:
            watcher.start()
        timer = threading.Timer(RUN_TIMEOUT, process.kill)
        timer.start()
        try:
            for line in process.stdout:
                log.write(line)
                found = re.search(r"crm_spark\.pipeline: stage (\w+): ", line)
                if found:
                    run.stages_started.append(found.group(1))
                if KILL_AFTER.search(line):
                    run.kill_armed = True
        finally:
            timer.cancel()
            run.returncode = process.wait()
            if monitor:
                monitor.stop.set()
                watcher.join(10)
    run.seconds = time.monotonic() - start
    print(f"\n{run.command[2]} run: {run.seconds:.0f} s, exit {run.returncode}, log {run.log}")


def _event_log(cluster: StandaloneCluster) -> Path:
    logs = [p for p in cluster.event_dir.iterdir() if p.is_file()]
    assert len(logs) == 1, logs
    return logs[0]


KEPT_EVENTS = ("SparkListenerExecutorAdded", "SparkListenerExecutorRemoved", "SparkListenerTaskEnd")


def _read_events(path: Path) -> list[dict]:
    """The executor and task-end events of an event log (task metrics dropped: tens of MB)."""
    events = []
    with open(path) as lines:
        for line in lines:
            if any(f'"Event":"{kind}"' in line for kind in KEPT_EVENTS):
                event = json.loads(line)
                event.pop("Task Metrics", None)
                event.pop("Task Executor Metrics", None)
                events.append(event)
    return events


def _executor_workers(cluster: StandaloneCluster, events: list[dict]) -> dict[str, int]:
    """Executor id -> worker number, from the worker web UI port in each executor's log URL."""
    worker_ports = {w.ui_port: i for i, w in enumerate(cluster.state.workers, start=1)}
    mapping = {}
    for event in events:
        if event["Event"] == "SparkListenerExecutorAdded":
            url = event["Executor Info"]["Log Urls"].get("stdout", "")
            port = re.search(r"//[^/:]+:(\d+)/", url)
            mapping[event["Executor ID"]] = worker_ports.get(int(port.group(1))) if port else None
    return mapping


def _check_ran(run: Run) -> None:
    if run.returncode != 0:
        tail = "\n".join(run.log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"spark-submit exited {run.returncode}:\n{tail}")


def test_executors_import_crm_spark_only_from_the_shipped_zip(artifacts):
    _, executor_python = artifacts
    found = subprocess.run([str(executor_python), "-c", "import crm_spark"], capture_output=True,
                           text=True, env=submit_env(), cwd="/")
    assert found.returncode != 0 and "No module named 'crm_spark'" in found.stderr
    deps = subprocess.run([str(executor_python), "-c", "import pyspark, pandas, pyarrow, splink, mlflow"],
                          capture_output=True, text=True, env=submit_env(), cwd="/")
    assert deps.returncode == 0, deps.stderr


def test_executors_on_both_workers_ran_tasks_before_one_was_killed(cluster_run):
    _check_ran(cluster_run)
    assert cluster_run.kill is not None, "worker 2 was never seen running a task during " + KILL_DURING
    assert cluster_run.kill["stage"] in STAGES
    assert set(cluster_run.kill["executors"]) == {1, 2}
    assert all(e["completedTasks"] > 0 for e in cluster_run.kill["executors"].values())
    succeeded = {}
    for event in cluster_run.events:
        if event["Event"] == "SparkListenerTaskEnd" and event["Task End Reason"]["Reason"] == "Success":
            worker = cluster_run.executor_workers[event["Task Info"]["Executor ID"]]
            succeeded[worker] = succeeded.get(worker, 0) + 1
    assert set(succeeded) == {1, 2} and min(succeeded.values()) > 0, succeeded


def test_the_run_survives_the_killed_worker(cluster_run, demo_lake):
    """Worker 2's executor is lost, and the rest of the pipeline runs on worker 1 to the end
    (exit code 0, report written); the tables are checked against the local run below."""
    _check_ran(cluster_run)
    events = cluster_run.events
    killed = cluster_run.kill["executors"][2]["id"]
    removed = [e for e in events if e["Event"] == "SparkListenerExecutorRemoved"
               and e["Executor ID"] == killed]
    assert removed, f"executor {killed} of worker 2 was never removed"
    # The REST API showed a task running on it; that task normally fails with the executor and
    # is retried elsewhere, unless it finished in the instant between the poll and the kill.
    lost_tasks = [e for e in events if e["Event"] == "SparkListenerTaskEnd"
                  and e["Task Info"]["Executor ID"] == killed and e["Task End Reason"]["Reason"] != "Success"]
    print(f"\nkilled worker 2 during stage {cluster_run.kill['stage']}: executor {killed}, "
          f"{len(lost_tasks)} of its tasks failed and were retried on worker 1")
    removed_at = removed[0]["Timestamp"]
    after = [e for e in events if e["Event"] == "SparkListenerTaskEnd"
             and e["Task End Reason"]["Reason"] == "Success" and e["Task Info"]["Finish Time"] > removed_at]
    assert after and {cluster_run.executor_workers[e["Task Info"]["Executor ID"]] for e in after} == {1}
    assert cluster_run.stages_started == [r.name for r in demo_lake[2]] == list(STAGES)
    assert (cluster_run.root / "report.html").stat().st_size > 0


def test_gold_tables_and_identity_map_equal_the_local_run(spark, demo_lake, cluster_run):
    from crm_spark.tables import Lake

    _check_ran(cluster_run)
    local, cluster = demo_lake[1], Lake(spark, cluster_run.lake_root)
    gold = sorted(t.name for t in local.list_tables(["gold"]))
    assert gold == sorted(t.name for t in cluster.list_tables(["gold"]))
    compared = [t for t in gold if t not in MODEL_TABLES] + ["silver.identity_map"]
    assert {"gold.sales", "gold.rfm", "gold.customer_360", "gold.attribution"} <= set(compared)
    for table in compared:
        ignored = IGNORED_COLUMNS.get(table, [])
        local_df = local.read(table).drop(*ignored).transform(with_rounded_doubles)
        cluster_df = cluster.read(table).drop(*ignored).transform(with_rounded_doubles)
        assert local_df.count() > 0, table
        try:
            assert_df_equality(cluster_df, local_df, ignore_row_order=True, ignore_nullable=True)
        except AssertionError as e:
            raise AssertionError(f"{table} differs between the cluster and the local run") from e


def with_rounded_doubles(df):
    """Doubles to ``DOUBLE_DECIMALS`` places: a cluster may merge partial sums in another order
    than local mode, which can change the last bits of a double, never its 8th decimal."""
    from pyspark.sql import functions as F

    return df.select(*[F.round(c, DOUBLE_DECIMALS).alias(c) if t in ("double", "float") else F.col(c)
                       for c, t in df.dtypes])


def test_models_were_registered_and_scores_written_on_the_cluster(spark, cluster_run):
    from crm_spark.config import load_config
    from crm_spark.models import tracking
    from crm_spark.tables import Lake

    _check_ran(cluster_run)
    cfg = load_config(overrides=conftest.test_overrides(cluster_run.root), conf_dir=CONF_DIR)
    for name in ("crm_churn", "crm_clv", "crm_recs"):
        assert tracking.alias_version(cfg, name, "champion") is not None, name
    lake = Lake(spark, cluster_run.lake_root)
    for table in MODEL_TABLES:
        assert lake.read(table).count() > 0, table
