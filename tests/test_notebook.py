"""Notebook parameters from environment variables (no Spark)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from crm_spark.errors import ConfigError
from crm_spark.notebook import find_project, notebook_params
from tests.conftest import PROJECT


def test_defaults_find_the_project_above_the_notebooks_folder():
    params = notebook_params({}, cwd=PROJECT / "notebooks")
    assert params.project == PROJECT
    assert (params.conf_files, params.overrides, params.as_of) == ((), (), None)
    cfg = params.load_config()
    assert cfg.lake.root == "lake"
    assert cfg.mlflow.tracking_uri == "sqlite:///mlruns/mlflow.db"


def test_every_variable_is_read(tmp_path):
    extra = tmp_path / "extra.yml"
    extra.write_text("report:\n  currency: EUR\n")
    environ = {
        "CRM_SPARK_PROJECT": str(PROJECT),
        "CRM_SPARK_CONF": os.pathsep.join([str(extra), ""]),
        "CRM_SPARK_SET": "lake.root=/data/lake\n\n  mlflow.tracking_uri=sqlite:////data/m.db  \n",
        "CRM_SPARK_AS_OF": "2024-06-30",
    }
    params = notebook_params(environ, cwd=tmp_path)
    assert params.project == PROJECT
    assert params.conf_files == (str(extra),)
    assert params.overrides == ("lake.root=/data/lake", "mlflow.tracking_uri=sqlite:////data/m.db")
    assert params.as_of == dt.date(2024, 6, 30)
    cfg = params.load_config()
    assert (cfg.lake.root, cfg.mlflow.tracking_uri, cfg.report.currency) == (
        "/data/lake", "sqlite:////data/m.db", "EUR")


def test_relative_conf_files_are_relative_to_the_project(tmp_path):
    params = notebook_params({"CRM_SPARK_PROJECT": str(PROJECT), "CRM_SPARK_CONF": "conf/examples/none.yml"},
                             cwd=tmp_path)
    with pytest.raises(ConfigError, match=str(PROJECT / "conf" / "examples" / "none.yml")):
        params.load_config()


@pytest.mark.parametrize("environ, message", [
    ({"CRM_SPARK_SET": "lake.root"}, "key=value"),
    ({"CRM_SPARK_SET": "=x"}, "key=value"),
    ({"CRM_SPARK_AS_OF": "30/06/2024"}, "not a date"),
    ({"CRM_SPARK_PROJECT": "/nonexistent/crm"}, "no conf/base.yml"),
])
def test_bad_values_are_one_line_config_errors(environ, message):
    with pytest.raises(ConfigError, match=message):
        notebook_params(environ, cwd=PROJECT)


def test_no_project_above_a_foreign_folder(tmp_path):
    with pytest.raises(ConfigError, match="CRM_SPARK_PROJECT"):
        find_project(tmp_path)
