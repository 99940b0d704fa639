"""The run's as-of date, and the snapshots the gold and features tables keep per as-of date.

Every stage that reads up to a date (gold, features, train, score) resolves it here, so all of
them agree on it. Without ``--as-of`` the date is the day of the latest order in silver (from the
data, never the clock); an ``--as-of`` after the latest data is refused unless forced
(:func:`check_as_of`). The report and audience exports default to :func:`latest_snapshot`, and
:func:`drop_snapshot` removes a snapshot computed for a wrong date.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession
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
    latest = lake.read("silver.orders").agg(F.to_date(F.max("order_ts"))).collect()[0][0]
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
            days.append(lake.read(table).agg(F.to_date(F.max(column))).collect()[0][0])
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
        within = snapshots_df.where(F.col("as_of") <= F.lit(limit)).agg(F.max("as_of")).collect()[0][0]
        if within is not None:
            return within
    latest = snapshots_df.agg(F.max("as_of")).collect()[0][0]
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
    deleted: dict[str, int] = {}
    held: set[str] = set()
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
