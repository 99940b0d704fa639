"""`crm-spark serve-sql`: BI tools reach the lake over JDBC/ODBC (HiveServer2 protocol). Two real
clients connect on 127.0.0.1 to the server the command started: impyla (Python) and beeline
(the Hive JDBC driver, with the JDBC URL docs/sql.md gives); SIGTERM stops the server with
nothing left listening, running or in its scratch folder (issue 23, D80, D88)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from impala.dbapi import connect
from pyspark.sql import Row

from crm_spark.tables import Lake
from tests.conftest import PROJECT
from tests.conftest import test_overrides as overrides_for

CUSTOMERS = [Row(customer_id=f"C{i}", segment="Loyal" if i < 3 else "Lost") for i in range(5)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until_listening(server: subprocess.Popen, port: int, seconds: float, err) -> None:
    deadline = time.monotonic() + seconds
    while not is_listening(port):
        if server.poll() is not None:
            pytest.fail(f"serve-sql exited with {server.returncode}:\n{err.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"serve-sql did not listen on {port} within {seconds} s")
        time.sleep(0.5)


def stop_process_group(server: subprocess.Popen) -> None:
    """Kill what is left of the server: its Python process and the JVM it started (the group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def group_is_gone(server: subprocess.Popen, seconds: float) -> bool:
    """True once no process of the server's group runs (the JVM ends soon after its Python)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return False


def beeline(port: int, statement: str) -> list[str]:
    """The rows of ``statement`` run by beeline, the JDBC shell the pip pyspark installs, as CSV."""
    done = subprocess.run([str(Path(sys.executable).parent / "beeline"), "-u",
                           f"jdbc:hive2://127.0.0.1:{port}/default", "-n", "analyst", "--silent=true",
                           "--outputformat=csv2", "-e", statement],
                          capture_output=True, text=True, timeout=180,
                          # as docs/sql.md says: without it, the script looks for Spark with python3
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.integration
def test_a_bi_client_counts_a_gold_table_over_jdbc_and_sigterm_stops_the_server(spark, tmp_path):
    Lake(spark, str(tmp_path / "lake")).overwrite(spark.createDataFrame(CUSTOMERS), "gold.customer_360")
    port = free_port()
    sets = [x for o in overrides_for(tmp_path) for x in ("--set", o)]
    command = [sys.executable, "-m", "crm_spark.cli", *sets, "serve-sql", "--port", str(port)]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"    # files: a full pipe would block it
    scratch = tmp_path / "tmp"       # the server's temporary folder (Hive's scratch files)
    scratch.mkdir()
    with out.open("w") as out_file, err.open("w") as err_file:
        # its own process group, so that a failing test can kill the JVM with it
        server = subprocess.Popen(command, cwd=PROJECT, stdout=out_file, stderr=err_file, text=True,
                                  env={**os.environ, "TMPDIR": str(scratch)}, start_new_session=True)
    try:
        wait_until_listening(server, port, 240, err)
        connection = connect(host="127.0.0.1", port=port, auth_mechanism="PLAIN", user="analyst")
        cursor = connection.cursor()
        cursor.execute("SELECT segment, count(*) FROM gold.customer_360 GROUP BY segment ORDER BY segment")
        assert cursor.fetchall() == [("Lost", 2), ("Loyal", 3)]
        cursor.execute("SHOW TABLES IN gold")
        assert [row[1] for row in cursor.fetchall()] == ["customer_360"]
        cursor.close()
        connection.close()
        header, count = beeline(port, "SELECT count(*) AS customers FROM gold.customer_360")[-2:]
        assert header.endswith("customers") and count == "5"   # beeline may echo its prompt first
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        stopped_cleanly = group_is_gone(server, 60)
    finally:
        stop_process_group(server)
    assert server.returncode == 0, err.read_text()[-3000:]
    assert stopped_cleanly, "the server's JVM was still running 60 s after its Python process ended"
    assert f"jdbc:hive2://127.0.0.1:{port}/default" in out.read_text()
    assert not is_listening(port)
    assert not list(scratch.glob("crm-spark-thrift-*"))
