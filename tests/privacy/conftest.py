"""A generated lake for erasure tests: 1,100 persons through ingest, silver, resolve (rules
only), gold and features. Erasure is destructive, so the tests of a module share it in order."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_spark import pipeline
from crm_spark.tables import Lake
from tests.conftest import make_config, test_overrides

HASH_KEY = "test-key-for-erasure-0123456789"
PERSONS = 1100
EXTRA = [
    f"generate.persons={PERSONS}",
    "generate.seed=23",
    "identity.probabilistic=false",
    "run.generate_demo_if_empty=false",
]


@pytest.fixture(scope="module")
def erase_lake(spark, tmp_path_factory):
    """(config, lake, cli options) of a lake built once per test module."""
    root = tmp_path_factory.mktemp("erase")
    cfg = make_config(root, EXTRA)
    pipeline.generate_demo(spark, cfg)
    ctx = pipeline.RunContext("build", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), cfg.generate.end_date)
    wanted = ("ingest", "silver", "resolve", "gold", "features")
    pipeline.run_stages(spark, cfg, ctx, [s for s in pipeline.stages() if s.name in wanted])
    options = [arg for override in [*test_overrides(root), *EXTRA] for arg in ("--set", override)]
    return cfg, Lake(spark, cfg.lake.root), options


@pytest.fixture
def hash_key(monkeypatch):
    monkeypatch.setenv("CRM_SPARK_PII_KEY", HASH_KEY)
    return HASH_KEY
