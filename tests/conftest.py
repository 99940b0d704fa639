"""One Spark session for the whole test run: local[2], few partitions, UI off, UTC, Delta on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crm_spark.config import Config, load_config
from crm_spark.spark import build_spark
from crm_spark.tables import Lake

PROJECT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT / "conf"
SHARED_DATA = PROJECT.parent / "shared" / "data"

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def test_overrides(root: Path) -> list[str]:
    """The --set overrides that point a configuration at a private folder and a small Spark."""
    return [
        "spark.master=local[2]",
        "spark.shuffle_partitions=2",
        "spark.driver_memory=4g",
        f"spark.ivy_dir={PROJECT / '.ivy'}",
        f"spark.jars_dir={PROJECT / '.cache' / 'jars'}",
        f"lake.root={root / 'lake'}",
        f"lake.landing={root / 'landing'}",
        f"lake.truth={root / 'truth'}",
        f"lake.checkpoints={root / 'lake' / '_checkpoints'}",
        f"mlflow.tracking_uri=sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        f"mlflow.artifact_location={root / 'mlruns' / 'artifacts'}",
        "spark.options.spark.ui.enabled=false",
        "spark.options.spark.default.parallelism=2",
        "spark.options.spark.sql.adaptive.coalescePartitions.initialPartitionNum=2",
        "spark.options.spark.databricks.delta.snapshotPartitions=2",
        f"spark.options.spark.sql.warehouse.dir={root / 'warehouse'}",
    ]


def make_config(root: Path, extra: list[str] = (), conf_files: list[Path] = ()) -> Config:
    return load_config(conf_files, [*test_overrides(root), *extra], conf_dir=CONF_DIR, env="local")


@pytest.fixture(scope="session")
def session_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crm")


@pytest.fixture(scope="session")
def base_config(session_root) -> Config:
    return make_config(session_root)


@pytest.fixture(scope="session")
def spark(base_config):
    session = build_spark(base_config)
    yield session
    session.stop()


@pytest.fixture
def spark_fn(spark):
    """The shared session; temp views made by a test are dropped after it."""
    yield spark
    for view in spark.catalog.listTables():
        if view.isTemporary:
            spark.catalog.dropTempView(view.name)


@pytest.fixture
def lake(spark, tmp_path) -> Lake:
    return Lake(spark, str(tmp_path / "lake"))


DEMO_PERSONS = 400
DEMO_SEED = 11


@pytest.fixture(scope="session")
def demo_lake(spark, tmp_path_factory):
    """A tiny generated data set run through every stage once; tests read what it produced.

    Returns:
        (config, lake, stage reports)
    """
    import datetime as dt

    from crm_spark import pipeline

    root = tmp_path_factory.mktemp("demo")
    cfg = make_config(root, [f"generate.persons={DEMO_PERSONS}", f"generate.seed={DEMO_SEED}"])
    pipeline.generate_demo(spark, cfg)
    ctx = pipeline.RunContext("demo", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), cfg.generate.end_date)
    reports = pipeline.run_stages(spark, cfg, ctx, pipeline.stages())
    return cfg, Lake(spark, cfg.lake.root), reports


@pytest.fixture(scope="session")
def own_data_retail(tmp_path_factory):
    """The README's "Your own data" commands run once, as printed, on the Online Retail export
    (tests/support/own_data.py); tests/gold/test_online_retail.py checks the lake they wrote."""
    from tests.support.own_data import run_readme_commands

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present")
    return run_readme_commands(tmp_path_factory.mktemp("own_data"))


# A test that runs the whole flow (these session fixtures) or whole stages on a lake of its own
# (these modules: ingest, silver, resolve, the generator, ALS) is an integration test, so the
# edit loop's `make test-fast` leaves it out; `make test` and CI run everything.
WHOLE_FLOW_FIXTURES = {"demo_lake", "own_data_retail"}
WHOLE_STAGE_MODULES = {
    "tests/bronze/test_ingest.py", "tests/bronze/test_bad_input.py", "tests/bronze/test_spark_failures.py",
    "tests/silver/test_silver_build.py", "tests/silver/test_rebuild.py",
    "tests/identity/test_stable_ids.py", "tests/identity/test_linkage_training.py",
    "tests/identity/test_export.py", "tests/identity/test_link_type.py",
    "tests/generate/test_generate.py", "tests/models/test_recs.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        module = Path(str(item.fspath)).relative_to(PROJECT).as_posix()
        if module in WHOLE_STAGE_MODULES or WHOLE_FLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
