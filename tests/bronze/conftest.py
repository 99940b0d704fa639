"""Bronze fixtures: a private landing folder, lake and source registry per test."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_spark.config import Config
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake
from tests.conftest import make_config, test_overrides


@dataclass
class Landing:
    root: Path
    spark: object

    def config(self, sources_yaml: str, extra: list[str] = ()) -> Config:
        conf, overrides = self._layers(sources_yaml, extra)
        return make_config(self.root, overrides, conf_files=[conf])

    def cli_args(self, sources_yaml: str, extra: list[str] = ()) -> list[str]:
        """The same configuration as :meth:`config`, as crm-spark command-line options."""
        conf, overrides = self._layers(sources_yaml, extra)
        args = ["--conf", str(conf)]
        for override in [*test_overrides(self.root), *overrides]:
            args += ["--set", override]
        return args

    def _layers(self, sources_yaml: str, extra: list[str]):
        conf = self.root / "sources-test.yml"
        conf.write_text(sources_yaml)
        demo = make_config(self.root).sources
        disabled = [f"sources.{name}.enabled=false" for name in demo]
        return conf, ["run.generate_demo_if_empty=false", *disabled, *extra]

    def drop(self, source: str, name: str, text: str | bytes) -> Path:
        folder = self.root / "landing" / source
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def lake(self, cfg: Config) -> Lake:
        return Lake(self.spark, cfg.lake.root)


@pytest.fixture
def landing(spark, tmp_path) -> Landing:
    return Landing(tmp_path, spark)


@pytest.fixture
def ctx() -> RunContext:
    moment = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    return RunContext(run_id="test", started_at=moment, clock=lambda: moment)
