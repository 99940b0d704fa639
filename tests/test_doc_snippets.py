"""Every ```python block of README.md and docs/*.md runs exactly as printed (issue 21, point 4).

A block runs in its own Python process, from a folder laid out like the project after
`make run`: ``lake/`` and ``mlruns/`` are a lake the suite builds, and ``conf/``, ``.cache/``
(the pre-fetched JARs) and ``.ivy/`` are the project's. The blocks about the Telco example read
the lake its test builds, and run there (tests/models/test_churn_telco.py); the others read
``demo_lake``. Shell blocks are commands of the product, tested by the CLI tests (D52).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.support.doc_blocks import doc_blocks

TELCO = "telco_customers"


def python_blocks() -> list[tuple[str, str]]:
    return doc_blocks("python")


def telco_blocks() -> list[tuple[str, str]]:
    return [(where, code) for where, code in python_blocks() if TELCO in code]


def demo_blocks() -> list[tuple[str, str]]:
    return [(where, code) for where, code in python_blocks() if TELCO not in code]


def run_blocks(blocks: list[tuple[str, str]], lake_folder: Path) -> None:
    """Run each block as printed with ``lake_folder`` (holding ``lake/`` and ``mlruns/``) as the
    working directory, made to look like the project folder; fails with the block's output."""
    for name in ("conf", ".cache", ".ivy"):
        link = lake_folder / name
        # A fresh clone may have no .ivy/ yet; a dangling link would break copies of this folder.
        if (PROJECT / name).exists() and not link.is_symlink() and not link.exists():
            link.symlink_to(PROJECT / name, target_is_directory=True)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("CRM_SPARK_CONF_DIR", None)
    for where, code in blocks:
        done = subprocess.run([sys.executable, "-c", code], cwd=lake_folder, env=env,
                              capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"{where} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def test_the_docs_hold_python_blocks_and_each_is_run_by_a_test():
    blocks = python_blocks()
    assert len(blocks) >= 5, blocks
    assert len(demo_blocks()) + len(telco_blocks()) == len(blocks)
    telco_test = (PROJECT / "tests" / "models" / "test_churn_telco.py").read_text()
    assert not telco_blocks() or "run_blocks(telco_blocks()" in telco_test


@pytest.mark.integration
@pytest.mark.parametrize("where, code", demo_blocks(), ids=[w for w, _ in demo_blocks()])
def test_a_python_block_runs_as_printed_on_the_demo_lake(demo_lake, where, code):
    cfg, _, _ = demo_lake
    run_blocks([(where, code)], Path(cfg.lake.root).parent)
