"""The command line as a user meets it: one-line errors, exit codes, no tracebacks."""

import os
import subprocess
import sys

from tests.conftest import PROJECT


def crm_spark(*args, cwd=PROJECT, env=None):
    return subprocess.run([sys.executable, "-m", "crm_spark.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=None if env is None else {**os.environ, **env})


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
    # from any other folder the project's conf is found (D67); a named folder without it is not
    result = crm_spark("tables", cwd=tmp_path, env={"CRM_SPARK_CONF_DIR": str(tmp_path / "conf")})
    assert_one_line_error(result, f"{tmp_path}/conf/base.yml: not found")


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


def test_unknown_environment_fails_in_one_line_with_the_known_ones():
    result = crm_spark("--env", "nosuchenv", "tables")
    assert_one_line_error(result, "--env nosuchenv: unknown environment; known: cluster, local")
    assert result.returncode == 2


def test_splink_lines_stay_out_of_the_default_log_and_show_under_verbose(spark, capsys, monkeypatch):
    import logging

    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, SparkAPI, block_on

    from crm_spark.cli import configure_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])        # as in a fresh `crm-spark` process
    monkeypatch.setattr(root, "level", root.level)
    for name in ("splink", "py4j", "mlflow", "py.warnings"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    people_df = spark.createDataFrame(
        [(1, "ann", "lee"), (2, "anne", "lee"), (3, "bob", "ray"), (4, "rob", "ray")],
        "unique_id LONG, first_name STRING, surname STRING")
    settings = SettingsCreator(link_type="dedupe_only",
                               comparisons=[cl.ExactMatch("first_name"), cl.ExactMatch("surname")],
                               blocking_rules_to_generate_predictions=[block_on("surname")])

    def estimate_u(verbose: bool) -> str:
        configure_logging(verbose)
        db_api = SparkAPI(spark_session=spark, break_lineage_method="persist")
        linker = Linker(db_api.register(people_df), settings)
        linker.training.estimate_u_using_random_sampling(max_pairs=100)
        logging.getLogger("crm_spark.identity").info("resolve: u estimated")
        return capsys.readouterr().err

    default_log = estimate_u(verbose=False)
    verbose_log = estimate_u(verbose=True)

    assert "resolve: u estimated" in default_log
    assert "Estimating u probabilities" not in default_log and " splink" not in default_log
    assert "Estimating u probabilities" in verbose_log     # the same step does log: -v shows it
