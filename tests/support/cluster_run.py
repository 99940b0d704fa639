"""The standalone-cluster test's spark-submit run of the whole pipeline, in the background.

The run takes about six minutes on two one-core workers and mostly waits on the driver, so it
runs in a thread of its own from the start of the session, overlapping the other tests (D32):
tests/conftest.py starts :class:`BackgroundRun` once demo_lake is built, when the session will
run the cluster tests, and sorts those tests last; they wait for the run's result. What the run
does and what the tests compare is in tests/cluster/test_standalone.py.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crm_spark.submit import build_dist, submit_command
from tests import conftest
from tests.conftest import CONF_DIR, PROJECT
from tests.support.cluster import SPARK_HOME, StandaloneCluster, bare_python, free_port

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
    process: subprocess.Popen | None = None

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


def python_conf(executor_python: Path) -> dict[str, str]:
    return {"spark.pyspark.python": str(executor_python),
            "spark.pyspark.driver.python": sys.executable}


def build_artifacts(root: Path) -> tuple[Path, Path]:
    """``make dist``'s artifacts and the executors' Python (the project's third-party packages,
    not its editable install)."""
    from crm_spark.config import load_config

    cfg = load_config(overrides=[f"spark.jars_dir={PROJECT / '.cache' / 'jars'}"],
                      conf_dir=CONF_DIR, env="cluster")
    return build_dist(cfg, root / "dist"), bare_python(root / "pyenv")


def submit_pipeline(artifacts: tuple[Path, Path], demo_cfg, root: Path,
                    started: Callable[[Run], None] = lambda run: None) -> Run:
    """Start the cluster, submit the pipeline on demo_lake's landing files and as-of date, kill
    worker 2 during it; the cluster is stopped when the run ends, whatever happened.
    ``started`` gets the run before it is submitted."""
    dist, executor_python = artifacts
    with StandaloneCluster(root / "spark", workers=2, cores=1, memory="1g") as cluster:
        ui_port = free_port()
        conf = {**python_conf(executor_python), "spark.driver.memory": "1g",
                "spark.executor.memory": "1g", "spark.executor.cores": "1", "spark.cores.max": "2",
                "spark.eventLog.enabled": "true", "spark.eventLog.dir": str(cluster.event_dir),
                "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false",
                # query plans would make the event log about 1 GB; the test reads task events only
                "spark.sql.maxPlanStringLength": "1000"}
        # the driver's UI answers the REST calls that show which executor is running a task;
        # demo_lake's landing files are the input (ingest only reads them): the very same input
        extra = ["spark.options.spark.ui.enabled=true", f"spark.options.spark.ui.port={ui_port}",
                 f"lake.landing={demo_cfg.lake.landing}"]
        as_of = demo_cfg.generate.end_date.isoformat()
        command = submit_command(dist, "run_pipeline", cluster.master_url, job_args(root, as_of, extra), conf,
                                 str(SPARK_HOME / "bin" / "spark-submit"), PROJECT / "jobs")
        run = Run(root, command)
        started(run)
        _execute(run, monitor=WorkerKiller(cluster, ui_port, run))
        run.events = _read_events(_event_log(cluster))
        run.executor_workers = _executor_workers(cluster, run.events)
    return run


class BackgroundRun:
    """:func:`build_artifacts` then :func:`submit_pipeline` in a thread; :meth:`result` waits."""

    def __init__(self, demo_cfg, root: Path):
        self.artifacts: tuple[Path, Path] | None = None
        self.run: Run | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(demo_cfg, root), daemon=True,
                                        name="cluster-run")
        self._thread.start()

    def _work(self, demo_cfg, root: Path) -> None:
        try:
            self.artifacts = build_artifacts(root / "dist")
            submit_pipeline(self.artifacts, demo_cfg, root / "cluster", started=self._started)
        except BaseException as e:  # noqa: BLE001 - handed to the test that waits for it
            self._error = e

    def _started(self, run: Run) -> None:
        self.run = run

    def result(self) -> BackgroundRun:
        self._thread.join(RUN_TIMEOUT + 600)
        if self._thread.is_alive():
            raise TimeoutError("the cluster run did not end")
        if self._error is not None:
            raise RuntimeError("the cluster run failed") from self._error
        return self

    def stop(self) -> None:
        """End a run still going (the session ended early): its cluster then stops too."""
        process = self.run.process if self.run else None
        if self._thread.is_alive() and process is not None and process.poll() is None:
            process.kill()
        self._thread.join(120)


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
        run.process = process
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
