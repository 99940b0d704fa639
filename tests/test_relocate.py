"""A lake (landing, checkpoints, tables, mlruns/) copied elsewhere works there, with the old
folder gone (D53, D54)."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from crm_spark import pipeline
from crm_spark.bronze import checkpoint_of, checkpoints
from crm_spark.models import tracking
from crm_spark.sources.registry import load_sources
from crm_spark.tables import Lake
from tests.conftest import DEMO_PERSONS, DEMO_SEED, make_config

# the moved run is about paths, not about what its models or segments come out as
CHEAP_STAGES = ["models.churn_max_candidates=1", "models.recs_max_iter=3", "gold.segments_k_max=3"]


def move(old: Path, new: Path) -> None:
    shutil.copytree(old, new)
    shutil.rmtree(old)


def references(root: Path, text: str) -> list[str]:
    """Files under ``root`` (checkpoint logs and the MLflow database) that still name ``text``."""
    found = [str(p) for p in (root / "lake" / "_checkpoints").rglob("*")
             if p.is_file() and text in p.read_bytes().decode("latin-1")]
    database = root / "mlruns" / "mlflow.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            for table, column in [("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                  ("model_versions", "storage_location"),
                                  ("logged_models", "artifact_location")]:
                found += [f"{table}.{column}" for (value,) in db.execute(f"select {column} from {table}")
                          if value and text in value]
    return found


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input * 2


def test_a_moved_mlflow_store_loads_its_models_from_the_new_folder(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    cfg = make_config(old)
    with tracking.training_run(cfg, "crm_clv", {}, {}):
        uri = tracking.log_pyfunc_model(cfg, Doubler(), pd.DataFrame({"x": [1.0]}),
                                        pd.DataFrame({"x": [2.0]}))
    tracking.register(cfg, uri, "crm_clv")
    move(old, new)
    model = tracking.load_pyfunc(make_config(new), "crm_clv", tracking.CHALLENGER)
    assert model.predict(pd.DataFrame({"x": [1.5]}))["x"].tolist() == [3.0]
    assert references(new, str(old)) == []


def test_a_moved_demo_lake_runs_every_stage_and_loads_every_model(demo_lake, spark, tmp_path_factory):
    """The session's demo lake is copied to a first folder and pointed there, then moved to a
    second one; every stage runs there with the first folder deleted."""
    cfg, _, _ = demo_lake
    extra = [f"generate.persons={DEMO_PERSONS}", f"generate.seed={DEMO_SEED}"]
    first = tmp_path_factory.mktemp("first") / "project"
    shutil.copytree(Path(cfg.lake.root).parent, first, symlinks=True)
    first_cfg = make_config(first, extra)
    for source in (s for s in load_sources(first_cfg) if s.spec.format != "jdbc"):
        checkpoints.follow_source_folder(spark, checkpoint_of(first_cfg, source), source.path)
    tracking.alias_version(first_cfg, "crm_churn", tracking.CHAMPION)   # points the store at first/
    second = tmp_path_factory.mktemp("second") / "project"
    move(first, second)
    moved_cfg = make_config(second, [*extra, *CHEAP_STAGES])
    before = Lake(spark, moved_cfg.lake.root).read("bronze._ingest_log").count()
    ctx = pipeline.RunContext("moved", dt.datetime(2025, 1, 2, tzinfo=dt.UTC), moved_cfg.generate.end_date)
    pipeline.run_stages(spark, moved_cfg, ctx, pipeline.stages())
    # nothing ingested again: the checkpoints know their files under the new folder
    assert Lake(spark, moved_cfg.lake.root).read("bronze._ingest_log").count() == before
    for name in ("crm_churn", "crm_recs"):
        assert tracking.load_spark_model(moved_cfg, name) is not None
    assert tracking.load_pyfunc(moved_cfg, "crm_clv") is not None
    assert references(second, str(first)) == []
    assert references(second, str(Path(cfg.lake.root).parent)) == []
