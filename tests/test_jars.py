"""The Delta JAR pre-fetch: a patch release whose JAR Maven Central does not serve yet is an
expected fallback, logged at info, not a warning on every fresh setup."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat

import pytest

from crm_spark.config import load_config
from crm_spark.jars import delta_candidates, prefetch
from tests.conftest import CONF_DIR

# Stands in for mvn: fails for the version named in $UNSERVED, else "downloads" one JAR.
FAKE_MVN = """#!/usr/bin/env python3
import os, pathlib, sys
args = sys.argv[1:]
pom = pathlib.Path(args[args.index("-f") + 1]).read_text()
if ">" + os.environ["UNSERVED"] + "<" in pom:
    sys.exit(1)
out = next(a.split("=", 1)[1] for a in args if a.startswith("-DoutputDirectory="))
pathlib.Path(out).mkdir(parents=True)
(pathlib.Path(out) / "delta.jar").write_bytes(b"PK")
"""


def test_an_unserved_patch_release_falls_back_at_info_level(tmp_path, monkeypatch, caplog):
    spark_cfg = dataclasses.replace(load_config(conf_dir=CONF_DIR).spark, packages=(),
                                    jars_dir=str(tmp_path / "jars"))
    candidates = delta_candidates(spark_cfg)
    if len(candidates) < 2:
        pytest.skip(f"delta-spark {candidates[0]} has no earlier patch release to fall back to")
    mvn = tmp_path / "bin" / "mvn"
    mvn.parent.mkdir()
    mvn.write_text(FAKE_MVN)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{mvn.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("UNSERVED", candidates[0])

    with caplog.at_level(logging.DEBUG, logger="crm_spark.jars"):
        fetched = prefetch(spark_cfg)

    assert fetched == [f"io.delta:delta-spark_4.2_2.13:{candidates[1]}"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(candidates[0] in r.getMessage() and "trying an earlier patch release" in r.getMessage()
               for r in caplog.records if r.levelno == logging.INFO)
