"""Independent Spark work run side by side from driver threads (``spark.concurrency``, D91).

On small and medium data a stage is bound by the latency of its many short Spark jobs (planning,
scheduling, Delta commits), not by the cores: while one step waits for its job, another step's
job can use the idle core. Tasks here are independent steps (gold tables whose inputs are built,
the models, the churn candidates); each is submitted from its own thread, which Spark and Delta
support. Results come back in the order the tasks were given, whatever order they finished in,
so logs of results, ``ops.runs`` and model choices stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from pyspark import inheritable_thread_target

T = TypeVar("T")


def run_all(tasks: Mapping[str, Callable[[], T]], workers: int) -> dict[str, T]:
    """Run every task, at most ``workers`` at a time.

    Returns:
        Each task's result by name, in the order of ``tasks``.

    Raises:
        The first failure in the order of ``tasks``, once every started task has ended (no
        thread is left running Spark jobs behind the caller's back).
    """
    return run_graph({name: (task, ()) for name, task in tasks.items()}, workers)


def run_graph(tasks: Mapping[str, tuple[Callable[[], T], Iterable[str]]], workers: int) -> dict[str, T]:
    """Run every task once the tasks it needs have finished, at most ``workers`` at a time.

    Args:
        tasks: name -> (task, names of the tasks it needs); a need outside ``tasks`` is an error.
        workers: 1 runs the tasks one after another in the order given, on the caller's thread.

    Returns:
        Each task's result by name, in the order of ``tasks``.

    Raises:
        The first failure in the order of ``tasks`` once every started task has ended; tasks that
        need a failed one are not started.
    """
    needs = {name: set(required) for name, (_, required) in tasks.items()}
    for name, required in needs.items():
        unknown = required - tasks.keys()
        if unknown:
            raise ValueError(f"task {name} needs unknown tasks {sorted(unknown)}")
    if workers <= 1:
        return _in_order(tasks, needs)
    results: dict[str, T] = {}
    failures: dict[str, BaseException] = {}
    running: dict[Future, str] = {}
    waiting = list(tasks)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crm-spark") as pool:
        while waiting or running:
            for name in [n for n in waiting if needs[n] <= results.keys()][:workers - len(running)]:
                waiting.remove(name)
                running[pool.submit(inheritable_thread_target(tasks[name][0]))] = name
            if not running:
                break       # what is left needs a task that failed
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                if (error := future.exception()) is not None:
                    failures[name] = error
                    waiting = [n for n in waiting if not _needs_any(n, failures, needs)]
                else:
                    results[name] = future.result()
    for name in tasks:
        if name in failures:
            raise failures[name]
    if waiting:
        raise ValueError(f"tasks {waiting} need each other: no order runs them")
    return {name: results[name] for name in tasks}


def _in_order(tasks: Mapping[str, tuple[Callable[[], T], Iterable[str]]],
              needs: Mapping[str, set[str]]) -> dict[str, T]:
    """One worker: the tasks in the order given, on the caller's thread."""
    results: dict[str, T] = {}
    for name, (task, _) in tasks.items():
        if not needs[name] <= results.keys():
            raise ValueError(f"task {name} needs {sorted(needs[name] - results.keys())}, given after "
                             "it: one worker runs the tasks in the order given")
        results[name] = task()
    return results


def _needs_any(name: str, failed: Mapping[str, BaseException], needs: Mapping[str, set[str]]) -> bool:
    return bool(needs[name] & failed.keys())
