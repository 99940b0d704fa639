"""A Spark standalone cluster on 127.0.0.1 for tests: one master and N workers started from the
installed PySpark distribution (``pyspark/bin/spark-class``), on free ports, with logs, work
folders and event logs under one folder, stopped afterwards — also when a test fails.

    with StandaloneCluster(tmp_path, workers=2) as cluster:
        subprocess.run(["spark-submit", "--master", cluster.master_url, ...])

By hand (the state lives in ``--dir``, so ``stop`` finds the processes ``start`` left)::

    python -m tests.support.cluster start --dir /tmp/crm-cluster
    python -m tests.support.cluster status --dir /tmp/crm-cluster
    python -m tests.support.cluster stop --dir /tmp/crm-cluster

The pip distribution of PySpark has ``bin/spark-class`` but not ``sbin/start-master.sh``; the
daemons are started in the foreground of their own process group instead, which also lets the
tests kill one worker's JVM by its process id.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
STATE = "cluster.json"
# the launcher reads these; the daemons must not inherit a test's Python settings
_DROPPED_ENV = ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYSPARK_GATEWAY_PORT",
                "PYSPARK_GATEWAY_SECRET", "SPARK_CONF_DIR", "SPARK_HOME")


def bare_python(folder: Path) -> Path:
    """A Python that sees this virtual environment's third-party packages but not the project's
    editable install, as an executor on another machine would: crm_spark must come from the
    ``--py-files`` zip.

    A ``.pth`` line adds the site-packages folder as a plain path, so the ``.pth`` files inside
    it (among them the editable install's import hook) are not run.

    Returns:
        The interpreter to give executors as ``spark.pyspark.python``.
    """
    folder = Path(folder).resolve()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True,
                   capture_output=True)
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "project-packages.pth").write_text("".join(f"{p}\n" for p in paths))
    return folder / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daemon:
    """One JVM: its role, process id (= its process group) and ports."""

    name: str
    pid: int
    port: int
    ui_port: int
    log: str


@dataclass
class ClusterState:
    root: str
    master: Daemon
    workers: list[Daemon] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master.port}"


class StandaloneCluster:
    """A master and ``workers`` workers with ``cores`` cores and ``memory`` each.

    Args:
        root: folder for logs (``logs/``), worker folders (``work/``) and event logs (``events/``).
        workers: how many workers.
        cores: cores each worker offers.
        memory: memory each worker offers to executors (``1g``).
        daemon_memory: heap of the master and worker JVMs themselves.
    """

    def __init__(self, root: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                 daemon_memory: str = "256m"):
        self.root = Path(root).resolve()
        self.n_workers, self.cores, self.memory = workers, cores, memory
        self.daemon_memory = daemon_memory
        self.state: ClusterState | None = None
        for sub in ("logs", "work", "events", "pids"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> StandaloneCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        """Start the master, then the workers; return when every worker is ALIVE at the master.

        Raises:
            RuntimeError: a daemon exited or the workers did not register within ``timeout``.
        """
        master_port, master_ui = free_port(), free_port()
        master = self._launch("master", "org.apache.spark.deploy.master.Master",
                              ["--host", "127.0.0.1", "--port", str(master_port),
                               "--webui-port", str(master_ui)], master_port, master_ui)
        self.state = ClusterState(str(self.root), master)
        self._save()
        self._wait(lambda: self.master_json() is not None, timeout, "the master did not start")
        for i in range(1, self.n_workers + 1):
            port, ui = free_port(), free_port()
            work = self.root / "work" / f"worker-{i}"
            worker = self._launch(f"worker-{i}", "org.apache.spark.deploy.worker.Worker",
                                  ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui),
                                   "--cores", str(self.cores), "--memory", self.memory,
                                   "--work-dir", str(work), self.master_url], port, ui)
            self.state.workers.append(worker)
            self._save()
        self._wait(lambda: len(self.alive_workers()) == self.n_workers, timeout,
                   f"{self.n_workers} workers did not register with the master")

    def stop(self) -> None:
        """Stop every daemon this cluster started, and the executors they started (same process
        group): SIGTERM, then SIGKILL for whatever is left after 15 s."""
        if self.state is None:
            return
        daemons = [*self.state.workers, self.state.master]
        for daemon in daemons:
            _signal_group(daemon.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_group_alive(d.pid) for d in daemons):
            time.sleep(0.2)
        for daemon in daemons:
            _signal_group(daemon.pid, signal.SIGKILL)
        (self.root / STATE).unlink(missing_ok=True)
        self.state = None

    def kill_worker(self, index: int) -> Daemon:
        """``kill -9`` the JVM of worker ``index`` (1-based), as a crashed machine would; its
        executor notices the lost worker and exits on its own."""
        worker = self.state.workers[index - 1]
        os.kill(worker.pid, signal.SIGKILL)
        return worker

    # -- what the cluster reports ---------------------------------------------------------------
    @property
    def master_url(self) -> str:
        return self.state.master_url

    @property
    def event_dir(self) -> Path:
        return self.root / "events"

    def master_json(self) -> dict | None:
        """The master web UI's ``/json/`` document (workers, applications), or None if down."""
        return _get_json(f"http://127.0.0.1:{self.state.master.ui_port}/json/")

    def alive_workers(self) -> list[dict]:
        status = self.master_json() or {}
        return [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]

    def worker_json(self, index: int) -> dict | None:
        """Worker ``index``'s ``/json/`` document (its running and finished executors)."""
        return _get_json(f"http://127.0.0.1:{self.state.workers[index - 1].ui_port}/json/")

    # -- internals ----------------------------------------------------------------------------
    def _launch(self, name: str, main_class: str, args: list[str], port: int, ui_port: int) -> Daemon:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update({
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.root / "logs"),
            "SPARK_PID_DIR": str(self.root / "pids"),
            "SPARK_WORKER_DIR": str(self.root / "work"),
            "SPARK_DAEMON_MEMORY": self.daemon_memory,
            "SPARK_NO_DAEMONIZE": "1",
        })
        log = self.root / "logs" / f"{name}.out"
        with open(log, "ab") as out:
            process = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), main_class, *args],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, cwd=self.root, start_new_session=True)
        (self.root / "pids" / f"{name}.pid").write_text(str(process.pid))
        return Daemon(name, process.pid, port, ui_port, str(log))

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [d for d in self._daemons() if not _alive(d.pid)]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited: {_tail(Path(dead[0].log))}")
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout:.0f} s; see {self.root / 'logs'}")

    def _daemons(self) -> list[Daemon]:
        return [self.state.master, *self.state.workers] if self.state else []

    def _save(self) -> None:
        (self.root / STATE).write_text(json.dumps(asdict(self.state), indent=1))

    @classmethod
    def attach(cls, root: Path) -> StandaloneCluster:
        """The cluster that ``start`` left running in ``root`` (for the command line)."""
        cluster = cls(root)
        data = json.loads((cluster.root / STATE).read_text())
        cluster.state = ClusterState(data["root"], Daemon(**data["master"]),
                                     [Daemon(**w) for w in data["workers"]])
        return cluster


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (the command line attached to it): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    _alive(pgid)  # reap the leader if it exited, so the group check is not fooled by a zombie
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.cluster",
                                     description="a Spark standalone cluster on 127.0.0.1")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", required=True, help="folder for state, logs and work folders")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1g")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    if args.action == "start":
        cluster = StandaloneCluster(root, args.workers, args.cores, args.memory)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        print(f"{cluster.master_url}  (web UI http://127.0.0.1:{cluster.state.master.ui_port}, "
              f"event logs {cluster.event_dir})")
        return 0
    if not (root / STATE).is_file():
        print(f"no cluster state in {root}")
        return 1 if args.action == "status" else 0
    cluster = StandaloneCluster.attach(root)
    if args.action == "stop":
        cluster.stop()
        print("stopped")
        return 0
    status = cluster.master_json()
    if status is None:
        print("master not answering")
        return 1
    print(f"{cluster.master_url}: {len(cluster.alive_workers())} alive worker(s), "
          f"{len(status.get('activeapps', []))} running application(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
