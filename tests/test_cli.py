"""The command line as a user meets it: one-line errors, exit codes, no tracebacks."""

import subprocess
import sys

from tests.conftest import PROJECT


def crm_spark(*args, cwd=PROJECT):
    return subprocess.run([sys.executable, "-m", "crm_spark.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result, expected):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and expected in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_bad_master_fails_in_one_line():
    result = crm_spark("--set", "spark.master=nonsense", "tables")
    assert_one_line_error(result, "spark.master: 'nonsense' is not a Spark master URL")
    assert result.returncode == 2


def test_misspelt_key_in_yaml_fails_in_one_line(tmp_path):
    bad = tmp_path / "mine.yml"
    bad.write_text("lake:\n  rot: /data/lake\n")
    result = crm_spark("--conf", str(bad), "tables")
    assert_one_line_error(result, "mine.yml: lake.rot: unknown key (did you mean 'root'?)")


def test_missing_base_config_says_where_to_run(tmp_path):
    result = crm_spark("tables", cwd=tmp_path)
    assert_one_line_error(result, "conf/base.yml: not found")


def test_unknown_command_is_rejected():
    result = crm_spark("fly")
    assert result.returncode == 2
    assert "invalid choice: 'fly'" in result.stderr


def test_jobs_accept_global_options_anywhere(tmp_path):
    bad = tmp_path / "mine.yml"
    bad.write_text("lake:\n  rot: x\n")
    result = subprocess.run([sys.executable, str(PROJECT / "jobs" / "ingest_bronze.py"),
                             "--source", "crm_contacts", "--conf", str(bad)],
                            cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, "mine.yml: lake.rot: unknown key")
