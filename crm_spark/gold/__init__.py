"""Gold: the tables analysts open first, computed for one ``as_of`` date.

Every table has an ``as_of`` column and is partitioned by it; a run replaces only its own
``as_of`` partition, so snapshots for several dates live side by side and a re-run for the same
date gives the same rows. Only data up to ``as_of`` is read (``gold.sales.filter_as_of``).
Without ``--as-of`` the date is the day of the latest order in silver (from the data, never
the clock).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import Config
from crm_spark.errors import TableNotFoundError
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

SILVER_INPUTS = ("orders", "order_lines", "products", "web_events", "email_events", "campaigns",
                 "support_tickets", "consent", "customers")


@dataclass
class GoldInputs:
    """The silver tables (empty where a source has none) and what earlier gold steps made."""

    spark: SparkSession
    tables: dict[str, DataFrame]
    as_of: dt.date

    def __getitem__(self, name: str) -> DataFrame:
        return self.tables[name]


def resolve_as_of(lake: Lake, ctx: RunContext) -> dt.date:
    if ctx.as_of is not None:
        return ctx.as_of
    if not lake.exists("silver.orders"):
        raise TableNotFoundError("silver.orders does not exist; run `crm-spark silver` first")
    latest = lake.read("silver.orders").agg(F.max("order_ts")).first()[0]
    if latest is None:
        raise TableNotFoundError("silver.orders is empty: pass --as-of to compute gold anyway")
    return latest.date()


def read_inputs(spark: SparkSession, lake: Lake, cfg: Config, as_of: dt.date) -> GoldInputs:
    """Every silver input; a missing table is read as an empty frame of its contract so
    tables that need it come out empty instead of failing (e.g. no web data)."""
    from crm_spark.silver import empty_table

    tables = {}
    for name in SILVER_INPUTS:
        table = f"silver.{name}"
        tables[name] = lake.read(table) if lake.exists(table) else empty_table(spark, table, cfg)
    return GoldInputs(spark, tables, as_of)


def steps() -> list[tuple[str, Callable[[GoldInputs, Config], DataFrame]]]:
    from crm_spark.gold import tables

    return tables.STEPS


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """Compute every gold table for the run's ``as_of`` and replace that snapshot.

    Returns:
        Rows written per gold table.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    as_of = resolve_as_of(lake, ctx)
    log.info("gold: as_of %s", as_of)
    inputs = read_inputs(spark, lake, cfg, as_of)
    written = {}
    for name, step in steps():
        start = time.perf_counter()
        table_df = step(inputs, cfg)
        if table_df is None:
            continue
        table_df = table_df.persist()
        inputs.tables[name] = table_df
        rows = table_df.count()
        lake.overwrite(table_df, f"gold.{name}", partition_by=["as_of"],
                       replace_where=f"as_of = DATE'{as_of.isoformat()}'")
        written[f"gold.{name}"] = rows
        log.info("gold.%s: %d rows in %.1f s", name, rows, time.perf_counter() - start)
    for name, _ in steps():
        if name in inputs.tables:
            inputs.tables[name].unpersist()
    return written
