"""Bronze fixtures: a private landing folder, lake and source registry per test, and the test
sources most bronze tests ingest (``orders``: t_orders; ``source``: any other)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_spark import bronze
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


ORDERS_SOURCE = """
sources:
  t_orders:
    channel: test
    entity: order
    format: csv
    location: t_orders
    options: {header: true}
    schema: order_id STRING, customer STRING, ordered_at TIMESTAMP, total DECIMAL(10,2)
    formats: {ordered_at: dd/MM/yyyy HH:mm}
    required: [order_id, ordered_at]
    mapping: {order_id: order_id, customer_ref: customer, order_ts: ordered_at, total: total}
"""
ORDERS_HEADER = "order_id,customer,ordered_at,total\n"


def order_rows(*ids: str) -> str:
    """A t_orders file: the header, then one valid order per id (customer ``c<id>``, 1.00)."""
    return ORDERS_HEADER + "".join(f"{i},c{i},01/03/2024 10:00,1.00\n" for i in ids)


@dataclass
class BronzeSource:
    """One source of a test in its private landing folder, with the steps bronze tests repeat:
    drop a file, configure, ingest, read the lake.

    Args:
        landing: the test's landing folder.
        ctx: the run context every ingest of the test uses.
        name: the source's name (its landing sub-folder and bronze table).
        yaml: its ``sources:`` YAML.
    """

    landing: Landing
    ctx: RunContext
    name: str
    yaml: str

    def drop(self, file_name: str, text: str | bytes) -> Path:
        return self.landing.drop(self.name, file_name, text)

    def config(self, extra: list[str] = ()) -> Config:
        return self.landing.config(self.yaml, extra)

    def ingest(self, cfg: Config | None = None) -> dict[str, int]:
        """``bronze.build`` of the test's configuration (or ``cfg``); returns rows written per table."""
        return bronze.build(self.landing.spark, cfg or self.config(), self.ctx)

    @property
    def lake(self) -> Lake:
        return Lake(self.landing.spark, str(self.landing.root / "lake"))

    @property
    def table(self) -> str:
        return f"bronze.{self.name}"


@pytest.fixture
def landing(spark, tmp_path) -> Landing:
    return Landing(tmp_path, spark)


@pytest.fixture
def ctx() -> RunContext:
    moment = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    return RunContext(run_id="test", started_at=moment, clock=lambda: moment)


@pytest.fixture
def orders(landing, ctx) -> BronzeSource:
    """The t_orders CSV source (ORDERS_SOURCE) in the test's landing folder."""
    return BronzeSource(landing, ctx, "t_orders", ORDERS_SOURCE)


@pytest.fixture
def source(landing, ctx):
    """``source(name, yaml)``: another test source in the test's landing folder."""
    def make(name: str, yaml: str) -> BronzeSource:
        return BronzeSource(landing, ctx, name, yaml)
    return make
