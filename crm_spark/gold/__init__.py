"""Gold: the tables analysts open first, computed for one ``as_of`` date.

Every table has an ``as_of`` column and is partitioned by it; a run replaces only its own
``as_of`` partition, so snapshots for several dates live side by side and a re-run for the same
date gives the same rows. Only data up to ``as_of`` is read (``gold.sales.filter_as_of``).
Without ``--as-of`` the date is the day of the latest order in silver (from the data, never
the clock); an ``--as-of`` after the latest data is refused unless forced (:func:`check_as_of`),
and :func:`drop_snapshot` removes a snapshot computed for a wrong date.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import TABLE_NAME, Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError, TableNotFoundError
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

# where the latest data is read: (table, timestamp column) of the silver events
DATA_DATES = (("silver.orders", "order_ts"), ("silver.web_events", "event_ts"),
              ("silver.email_events", "event_ts"), ("silver.support_tickets", "created_at"),
              ("silver.consent", "changed_at"))
SNAPSHOT_LAYERS = ("gold", "features")
SILVER_INPUTS = ("orders", "order_lines", "products", "web_events", "email_events", "campaigns",
                 "support_tickets", "consent", "customers")


@dataclass
class GoldInputs:
    """The silver tables (empty where a source has none) and what earlier gold steps made."""

    spark: SparkSession
    tables: dict[str, DataFrame]
    as_of: dt.date
    # the silver inputs no source has fed (read as empty frames)
    missing: frozenset[str] = frozenset()
    # rows left out by a rule, per "<table> <rule>": logged by the step, recorded in ops.runs
    excluded: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> DataFrame:
        return self.tables[name]


def resolve_as_of(lake: Lake, ctx: RunContext) -> dt.date:
    """The run's as_of: the one given (refused when it lies after the data, unless forced), or
    the day of the latest order.

    Raises:
        CrmSparkError: the as_of given is later than :func:`as_of_limit` and not forced.
        TableNotFoundError: no as_of given and silver.orders is missing or empty.
    """
    if ctx.as_of is not None:
        check_as_of(lake, ctx.as_of, ctx.force_as_of)
        return ctx.as_of
    if not lake.exists("silver.orders"):
        raise TableNotFoundError("silver.orders does not exist; run `crm-spark silver` first")
    latest = lake.read("silver.orders").agg(F.to_date(F.max("order_ts"))).first()[0]
    if latest is None:
        raise TableNotFoundError("silver.orders is empty: pass --as-of to compute gold anyway")
    return latest


def latest_data_date(lake: Lake) -> dt.date | None:
    """The day of the latest event in silver (orders, web and e-mail events, tickets, consent
    changes); None when silver holds none."""
    days = []
    for table, column in DATA_DATES:
        if lake.exists(table):
            # max first, the date after: Delta answers a bare max from its file statistics
            days.append(lake.read(table).agg(F.to_date(F.max(column))).first()[0])
    return max((d for d in days if d is not None), default=None)


def as_of_limit(lake: Lake) -> dt.date | None:
    """The latest as_of that has data behind it: the day after the latest event, so a cut-off
    at the end of an export (like the generator's exclusive end date) is accepted; None when
    silver holds no events."""
    latest = latest_data_date(lake)
    return latest + dt.timedelta(days=1) if latest is not None else None


def check_as_of(lake: Lake, as_of: dt.date, force: bool = False) -> None:
    """Refuse an as_of after :func:`as_of_limit` (a typo like 2099 would write a snapshot of
    nothing that then looks like the latest one); ``force`` computes it anyway."""
    limit = as_of_limit(lake)
    if limit is None or as_of <= limit:
        return
    latest = limit - dt.timedelta(days=1)
    if force:
        log.warning("as_of %s is after the latest data (%s): computing it anyway (--force-as-of)",
                    as_of, latest)
        return
    raise CrmSparkError(f"--as-of {as_of} is after the latest data ({latest}, the newest event in silver); "
                        "pass --force-as-of to compute it anyway")


def latest_snapshot(lake: Lake, table: str) -> dt.date | None:
    """The newest as_of of ``table`` not after :func:`as_of_limit`: the default of the report
    and of audience exports, so a snapshot forced past the data is shown only when asked for by
    date. None when the table is missing or empty."""
    if not lake.exists(table):
        return None
    snapshots_df = lake.read(table).select("as_of").distinct()
    limit = as_of_limit(lake)
    if limit is not None:
        within = snapshots_df.where(F.col("as_of") <= F.lit(limit)).agg(F.max("as_of")).first()[0]
        if within is not None:
            return within
    latest = snapshots_df.agg(F.max("as_of")).first()[0]
    if latest is not None and limit is not None:
        log.warning("%s has no snapshot on or before the latest data (%s); showing %s", table,
                    limit - dt.timedelta(days=1), latest)
    return latest


def drop_snapshot(spark: SparkSession, cfg: Config, as_of: dt.date) -> dict[str, int]:
    """Delete the ``as_of`` snapshot from every gold and features table (gold, scores,
    customer_360, customer features), e.g. one computed for a wrong date.

    Returns:
        Rows deleted per table (tables without that snapshot are left out).

    Raises:
        CrmSparkError: no table holds a snapshot at ``as_of`` (the message lists those held).
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    condition = F.col("as_of") == F.lit(as_of)
    deleted, held = {}, set()
    for table in snapshot_tables(lake):
        table_df = lake.read(table)
        rows = table_df.where(condition).count()
        if rows:
            lake.delete(table, condition)
            deleted[table] = rows
            log.info("%s: snapshot %s dropped (%d rows)", table, as_of, rows)
        else:
            held.update(r["as_of"] for r in table_df.select("as_of").distinct().collect())
    if not deleted:
        shown = ", ".join(str(d) for d in sorted(held)[-10:]) or "none"
        raise CrmSparkError(f"no snapshot at {as_of} in the gold or features tables; "
                            f"latest snapshots: {shown}")
    return deleted


def snapshot_tables(lake: Lake) -> list[str]:
    """The gold and features tables with an ``as_of`` column (one snapshot per as_of)."""
    found = []
    for layer in SNAPSHOT_LAYERS:
        for name in fs.child_dirs(lake.spark, f"{lake.root}/{layer}"):
            table = f"{layer}.{name}"
            if TABLE_NAME.match(table) and lake.exists(table) and "as_of" in lake.read(table).columns:
                found.append(table)
    return found


def read_inputs(spark: SparkSession, lake: Lake, cfg: Config, as_of: dt.date) -> GoldInputs:
    """Every silver input; a missing table is read as an empty frame of its contract so
    tables that need it come out empty instead of failing (e.g. no web data)."""
    from crm_spark.silver import read_table

    tables = {name: read_table(lake, cfg, f"silver.{name}") for name in SILVER_INPUTS}
    missing = frozenset(name for name in SILVER_INPUTS if not lake.exists(f"silver.{name}"))
    return GoldInputs(spark, tables, as_of, missing)


def steps() -> list[tuple[str, Callable[[GoldInputs, Config], DataFrame]]]:
    from crm_spark.gold import tables

    return tables.STEPS


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """Compute every gold table for the run's ``as_of`` and replace that snapshot.

    Returns:
        Rows written per gold table, and the rows a step left out by a rule
        (``gold.<table> excluded: <rule>``; only rules that left rows out).
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
    return written | inputs.excluded
