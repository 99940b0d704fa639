"""Exactly once under failure (kill -9 mid-run) and in continuous mode, through the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm_spark import bronze
from tests.bronze.conftest import ORDERS_SOURCE
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration

HEADER = "order_id,customer,ordered_at,total\n"
FILES, ROWS_PER_FILE = 6, 3000


def write_files(landing, count=FILES, start=0):
    ids = []
    for f in range(start, start + count):
        rows = [f"F{f}-{i},c{i % 97},{1 + i % 28:02d}/03/2024 10:{i % 60:02d},{i % 500}.25"
                for i in range(ROWS_PER_FILE)]
        landing.drop("t_orders", f"part-{f:02d}.csv", HEADER + "\n".join(rows) + "\n")
        ids += [r.split(",")[0] for r in rows]
    return ids


def start_cli(landing, *args, extra=()):
    env = {**os.environ, "CRM_SPARK_CONF_DIR": str(PROJECT / "conf"),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [sys.executable, "-m", "crm_spark.cli", *landing.cli_args(ORDERS_SOURCE, list(extra)),
               *args]
    log = open(landing.root / "cli.log", "w")
    return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)


def delta_commits(table_dir: Path) -> int:
    return len(list((table_dir / "_delta_log").glob("*.json"))) if table_dir.exists() else 0


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_killed_ingest_then_rerun_equals_a_clean_run(landing, ctx):
    expected = write_files(landing)
    proc = start_cli(landing, "ingest", "--source", "t_orders",
                     extra=["ingest.max_files_per_trigger=1"])
    bronze_dir = landing.root / "lake" / "bronze" / "t_orders"
    try:
        wait_for(lambda: delta_commits(bronze_dir) >= 2 or proc.poll() is not None, 240,
                 "the second bronze batch")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, (landing.root / "cli.log").read_text()[-2000:]
    cfg = landing.config(ORDERS_SOURCE, ["ingest.max_files_per_trigger=1"])
    lake = landing.lake(cfg)
    done_before_rerun = lake.read("bronze.t_orders").count()
    assert 0 < done_before_rerun < len(expected)

    bronze.build(landing.spark, cfg, ctx, only="t_orders")

    ids = [r.order_id for r in lake.read("bronze.t_orders").select("order_id").collect()]
    assert sorted(ids) == sorted(expected)  # every row once: no duplicates, no loss
    log = lake.read("bronze._ingest_log").collect()
    assert sorted(r.batch_id for r in log) == list(range(FILES))
    assert sum(r.rows_read for r in log) == sum(r.rows_bronze for r in log) == len(expected)


def test_continuous_mode_picks_up_a_file_dropped_while_running_and_stops_on_sigterm(landing):
    first = write_files(landing, count=1)
    proc = start_cli(landing, "ingest", "--continuous", extra=["ingest.trigger_seconds=2"])
    cfg = landing.config(ORDERS_SOURCE)
    lake = landing.lake(cfg)
    bronze_dir = landing.root / "lake" / "bronze" / "t_orders"
    try:
        wait_for(lambda: delta_commits(bronze_dir) >= 1 or proc.poll() is not None, 180,
                 "the first file in bronze")
        assert proc.poll() is None, (landing.root / "cli.log").read_text()[-2000:]
        second = write_files(landing, count=1, start=1)
        wait_for(lambda: delta_commits(bronze_dir) >= 2, 60, "the file dropped while running")
        ids = [r.order_id for r in lake.read("bronze.t_orders").select("order_id").collect()]
        assert sorted(ids) == sorted(first + second)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped 1 streaming queries" in (landing.root / "cli.log").read_text()
