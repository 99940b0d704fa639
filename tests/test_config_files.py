"""Which files a configuration is made of, and where its relative paths point (issue 20,
points 4 and 5): the demo's sources only when no --conf file declares sources; a relative path
read against the folder of the file that wrote it; the project's conf and JAR cache found from
any working folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crm_spark.config import load_config
from crm_spark.errors import ConfigError
from tests.conftest import CONF_DIR, PROJECT

ONE_SOURCE = """
sources:
  my_orders:
    channel: web
    entity: order
    format: csv
    location: orders
    schema: order_no STRING, day DATE, amount DECIMAL(12,2)
    required: [order_no]
    mapping: {order_id: order_no, order_ts: day, total: amount}
"""
DEMO = {"crm_contacts", "shop_accounts", "loyalty_members", "shop_orders", "shop_order_lines",
        "pos_transactions", "web_events", "email_events", "campaigns", "support_tickets", "products",
        "consent"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_conf_file_the_demo_sources_are_loaded():
    cfg = load_config(conf_dir=CONF_DIR, env="local")
    assert set(cfg.sources) == DEMO
    assert cfg.demo_sources


def test_a_conf_file_with_sources_of_its_own_replaces_the_demo_sources(tmp_path):
    cfg = load_config([write(tmp_path / "my.yml", ONE_SOURCE)], conf_dir=CONF_DIR, env="local")
    assert set(cfg.sources) == {"my_orders"}
    assert not cfg.demo_sources
    assert str(CONF_DIR / "sources.yml") not in cfg.files


def test_a_conf_file_that_only_tunes_a_demo_source_keeps_the_demo(tmp_path):
    tune = write(tmp_path / "tune.yml", "sources:\n  crm_contacts: {enabled: false}\n")
    cfg = load_config([tune], conf_dir=CONF_DIR, env="local")
    assert set(cfg.sources) == DEMO
    assert not cfg.sources["crm_contacts"].enabled and cfg.demo_sources


def test_disabling_a_demo_source_a_user_config_does_not_declare_is_no_error(tmp_path):
    # what users wrote before: each demo source switched off one by one
    cfg = load_config([write(tmp_path / "my.yml", ONE_SOURCE)],
                      [f"sources.{name}.enabled=false" for name in sorted(DEMO)], conf_dir=CONF_DIR,
                      env="local")
    assert set(cfg.sources) == {"my_orders"}


def test_relative_paths_of_a_conf_file_are_read_against_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    my = write(folder / "my.yml", ONE_SOURCE + """
lake: {root: lake, landing: exports, truth: ../truth, checkpoints: lake/_checkpoints}
mlflow: {tracking_uri: "sqlite:///mlruns/mlflow.db", artifact_location: mlruns/artifacts}
report: {out: out/report.html}
spark: {ivy_dir: cache/ivy, jars_dir: /opt/jars}
""")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config([Path("..") / "project" / "my.yml"], conf_dir=CONF_DIR, env="local")
    assert (cfg.lake.root, cfg.lake.landing, cfg.lake.truth, cfg.lake.checkpoints) == (
        f"{folder}/lake", f"{folder}/exports", f"{tmp_path}/truth", f"{folder}/lake/_checkpoints")
    assert cfg.mlflow.tracking_uri == f"sqlite:///{folder}/mlruns/mlflow.db"
    assert cfg.mlflow.artifact_location == f"{folder}/mlruns/artifacts"
    assert cfg.report.out == f"{folder}/out/report.html"
    assert (cfg.spark.ivy_dir, cfg.spark.jars_dir) == (f"{folder}/cache/ivy", "/opt/jars")
    assert my.is_file()


def test_uris_absolute_paths_and_set_values_are_left_as_written(tmp_path):
    my = write(tmp_path / "my.yml", ONE_SOURCE + """
lake: {root: "s3a://bucket/lake", landing: /data/in}
mlflow: {tracking_uri: "sqlite:////var/mlflow.db", artifact_location: "file:///var/art"}
""")
    cfg = load_config([my], ["lake.truth=here/truth"], conf_dir=CONF_DIR, env="local")
    assert (cfg.lake.root, cfg.lake.landing, cfg.lake.truth) == ("s3a://bucket/lake", "/data/in",
                                                                 "here/truth")
    assert (cfg.mlflow.tracking_uri, cfg.mlflow.artifact_location) == ("sqlite:////var/mlflow.db",
                                                                       "file:///var/art")


def test_the_project_conf_and_jar_cache_are_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_SPARK_CONF_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env="local")
    assert cfg.files[0] == str(PROJECT / "conf" / "base.yml")
    assert (cfg.spark.ivy_dir, cfg.spark.jars_dir) == (str(PROJECT / ".ivy"),
                                                       str(PROJECT / ".cache" / "jars"))
    # the workspace (lake, landing, MLflow store, report) stays the working folder
    assert (cfg.lake.root, cfg.mlflow.tracking_uri) == ("lake", "sqlite:///mlruns/mlflow.db")


def test_a_conf_dir_elsewhere_keeps_its_jar_cache_beside_it(tmp_path):
    conf = tmp_path / "copy" / "conf"
    conf.mkdir(parents=True)
    (conf / "base.yml").write_text((CONF_DIR / "base.yml").read_text())
    cfg = load_config(conf_dir=conf, env="local")
    assert (cfg.spark.ivy_dir, cfg.spark.jars_dir) == (f"{tmp_path}/copy/.ivy",
                                                       f"{tmp_path}/copy/.cache/jars")


def test_an_installed_package_without_a_project_folder_says_how_to_give_it_a_conf(tmp_path):
    # a wheel installs crm_spark alone: no conf/ beside the package, none in the working folder
    site = tmp_path / "site-packages"
    site.mkdir()
    shutil.copytree(PROJECT / "crm_spark", site / "crm_spark", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from crm_spark.config import load_config\n"
            "from crm_spark.errors import ConfigError\n"
            "try:\n    load_config()\nexcept ConfigError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "CRM_SPARK_CONF_DIR"}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == ("conf/base.yml: not found; run from a project folder holding conf/, "
                                   "or set CRM_SPARK_CONF_DIR to a copy of the project's conf/ (an "
                                   "installed wheel carries none)"), done.stderr


def test_a_missing_conf_file_is_still_one_line(tmp_path):
    with pytest.raises(ConfigError, match="nope.yml: configuration file not found"):
        load_config([tmp_path / "nope.yml"], conf_dir=CONF_DIR)


def test_the_demo_sources_and_a_users_run_together_when_both_are_named(tmp_path):
    cfg = load_config([CONF_DIR / "sources.yml", write(tmp_path / "my.yml", ONE_SOURCE)],
                      conf_dir=CONF_DIR, env="local")
    assert set(cfg.sources) == DEMO | {"my_orders"}


@pytest.mark.parametrize("example", sorted(p.name for p in (CONF_DIR / "examples").glob("*.yml")))
def test_each_example_runs_its_own_sources_only(example):
    import yaml

    path = CONF_DIR / "examples" / example
    declared = set(yaml.safe_load(path.read_text())["sources"])
    cfg = load_config([path], conf_dir=CONF_DIR, env="local")
    assert set(cfg.sources) == declared and not cfg.demo_sources
