"""Run a command and sample the resident memory of its whole process tree (Linux /proc)."""

from __future__ import annotations

import os
import subprocess
import threading
import time


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``: the children of each of its threads (the JVM starts its
    Python workers from a thread other than its main one)."""
    kids = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            continue
    return kids + [g for k in kids for g in _children(k)]


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def run_measured(command: list[str], log_path: str, env: dict | None = None, cwd=None) -> dict:
    """Run ``command``; return wall seconds, exit code, and peak RSS (MiB) of the JVM and of the
    Python processes in its tree."""
    peaks = {"jvm": 0, "python": 0, "total": 0}
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=cwd)
        done = threading.Event()

        def sample():
            while not done.is_set():
                pids = list(dict.fromkeys([proc.pid, *_children(proc.pid)]))   # each once
                jvm = sum(_rss_kib(p) for p in pids if "java" in _cmdline(p).split(" ")[0])
                total = sum(_rss_kib(p) for p in pids)
                peaks["jvm"] = max(peaks["jvm"], jvm)
                peaks["python"] = max(peaks["python"], total - jvm)
                peaks["total"] = max(peaks["total"], total)
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    return {"seconds": round(seconds, 1), "exit_code": code,
            **{f"peak_{k}_mib": round(v / 1024) for k, v in peaks.items()}}


def run_steps(steps: list[tuple[str, list[str]]], work, env: dict | None = None) -> dict | None:
    """Run named commands in order, each logged to ``work/<name>.log`` and measured; print a
    line per step. Returns {name: measurement}, or None after the first failing step."""
    measured = {}
    for name, command in steps:
        print(f"{name} ...", flush=True)
        measured[name] = run_measured(command, str(work / f"{name}.log"), env=env)
        if measured[name]["exit_code"]:
            print(f"{name} failed; see {work / (name + '.log')}", flush=True)
            return None
        print(f"{name}: {measured[name]['seconds']} s, peak JVM RSS {measured[name]['peak_jvm_mib']:,} MiB",
              flush=True)
    return measured
