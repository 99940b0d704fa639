"""Steps side by side (crm_spark/concurrency.py): order of results, needs, failures."""

from __future__ import annotations

import threading
import time

import pytest

from crm_spark.concurrency import run_all, run_graph


def test_tasks_run_side_by_side_and_results_keep_the_given_order():
    both_running = threading.Barrier(2, timeout=5)    # breaks unless two tasks run at once

    def slow():
        both_running.wait()
        time.sleep(0.05)
        return "slow"

    def quick():
        both_running.wait()
        return "quick"

    results = run_all({"slow": slow, "quick": quick}, workers=2)
    assert list(results.items()) == [("slow", "slow"), ("quick", "quick")]


def test_one_worker_runs_the_tasks_in_order_on_the_callers_thread():
    seen = []
    results = run_all({name: (lambda n=name: seen.append((n, threading.current_thread().name)) or n)
                       for name in ("a", "b", "c")}, workers=1)
    assert results == {"a": "a", "b": "b", "c": "c"}
    assert seen == [(n, threading.current_thread().name) for n in ("a", "b", "c")]


def test_a_task_starts_only_after_the_tasks_it_needs_have_finished():
    finished: list[str] = []

    def task(name, seconds=0.0):
        def run():
            time.sleep(seconds)
            finished.append(name)
            return list(finished)
        return run

    results = run_graph({"sales": (task("sales", 0.1), ()),
                         "rfm": (task("rfm"), ("sales",)),
                         "attribution": (task("attribution"), ()),
                         "segments": (task("segments"), ("rfm", "attribution"))}, workers=3)
    assert "sales" in results["rfm"]
    assert {"rfm", "attribution"} <= set(results["segments"])
    assert finished.index("attribution") < finished.index("sales")   # it did not wait for sales


def test_the_first_failure_in_order_is_raised_after_the_others_end_and_its_dependents_never_start():
    started: list[str] = []

    def fails(message, seconds=0.0):
        def run():
            started.append(message)
            time.sleep(seconds)
            raise RuntimeError(message)
        return run

    def ok(name):
        return lambda: started.append(name) or name

    with pytest.raises(RuntimeError, match="first"):
        run_graph({"a": (fails("first", 0.1), ()),
                   "b": (fails("second"), ()),
                   "c": (ok("c"), ()),
                   "after_a": (ok("after_a"), ("a",)),
                   "after_after_a": (ok("after_after_a"), ("after_a",))}, workers=2)
    assert "after_a" not in started and "after_after_a" not in started
    assert {"first", "second", "c"} <= set(started)


def test_unknown_needs_and_cycles_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        run_graph({"a": (lambda: 1, ("b",))}, workers=2)
    with pytest.raises(ValueError, match="need each other"):
        run_graph({"a": (lambda: 1, ("b",)), "b": (lambda: 2, ("a",))}, workers=2)


def test_one_worker_refuses_a_task_given_before_what_it_needs():
    with pytest.raises(ValueError, match="given after it"):
        run_graph({"rfm": (lambda: 1, ("sales",)), "sales": (lambda: 2, ())}, workers=1)
