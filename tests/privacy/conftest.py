"""The erasure tests' lake: a copy of the session's ``demo_lake`` folder (lake, landing,
checkpoints and ``mlruns/``, every stage run once), so that no second pipeline is built for
them. Erasure is destructive, so the tests of a module share the copy in order; the session's
demo lake itself is never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_spark.tables import Lake
from tests.conftest import DEMO_PERSONS, DEMO_SEED, make_config, test_overrides

HASH_KEY = "test-key-for-erasure-0123456789"
EXTRA = [
    f"generate.persons={DEMO_PERSONS}",
    f"generate.seed={DEMO_SEED}",
    "run.generate_demo_if_empty=false",
]


@pytest.fixture(scope="module")
def erase_lake(spark, demo_lake, tmp_path_factory):
    """(config, lake, cli options) of a copy of demo_lake made once per test module; its
    checkpoints and MLflow store follow it to the new folder (D53, D54)."""
    demo_cfg, _, _ = demo_lake
    root = tmp_path_factory.mktemp("erase") / "project"
    shutil.copytree(Path(demo_cfg.lake.root).parent, root, symlinks=True)
    cfg = make_config(root, EXTRA)
    options = [arg for override in [*test_overrides(root), *EXTRA] for arg in ("--set", override)]
    return cfg, Lake(spark, cfg.lake.root), options


@pytest.fixture
def hash_key(monkeypatch):
    monkeypatch.setenv("CRM_SPARK_PII_KEY", HASH_KEY)
    return HASH_KEY
