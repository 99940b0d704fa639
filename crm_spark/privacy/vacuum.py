"""The vacuum policy: remove data files that no current table version needs once they are older
than ``privacy.vacuum_retention_hours``, so erased rows stop being readable by time travel."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from delta.tables import DeltaTable

from crm_spark.tables import Lake, _SessionConf

log = logging.getLogger(__name__)

DELTA_DEFAULT_RETENTION_HOURS = 168
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"


def vacuum(lake: Lake, tables: Iterable[str], retention_hours: int) -> dict[str, int]:
    """VACUUM each table with ``retention_hours``; returns files deleted per table.

    A retention shorter than Delta's default (7 days) is what the policy asks for, so Delta's
    safety check is lifted for these calls only. Readers and writers running longer than the
    retention could then miss files; the configuration documents this.
    """
    deleted = {}
    confs = {VACUUM_LOGGING: "true"}
    if retention_hours < DELTA_DEFAULT_RETENTION_HOURS:
        confs[RETENTION_CHECK] = "false"
    with _SessionConf(lake.spark, confs):
        for table in tables:
            if not lake.exists(table):
                continue
            delta_table = DeltaTable.forPath(lake.spark, lake.path(table))
            delta_table.vacuum(float(retention_hours))
            last = delta_table.history(1).select("operation", "operationMetrics").collect()[0]
            files = (
                int((last["operationMetrics"] or {}).get("numDeletedFiles", 0))
                if last["operation"] == "VACUUM END"
                else 0
            )
            deleted[table] = files
            log.info("vacuum %s (retention %d h): %d file(s) deleted", table, retention_hours, files)
    return deleted
