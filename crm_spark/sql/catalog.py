"""Every lake table registered in the session's catalog as ``<layer>.<table>``.

The catalog is Spark's in-memory one, filled from the lake by the sessions that use names
(``crm-spark sql``, ``crm-spark serve-sql``, ``build_spark(cfg, catalog=True)``; D87), so it
always points at the lake's current root: a copied or moved lake needs nothing rewritten (D79).
Each layer folder is a database whose location is that folder, and each table is an external
Delta table at ``<lake.root>/<layer>/<table>``: dropping one from the catalog never deletes its
data.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

from py4j.protocol import Py4JError
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from crm_spark import fs
from crm_spark.config import TABLE_NAME
from crm_spark.tables import LAYERS, Lake

log = logging.getLogger(__name__)

# Registering reads each table's Delta log; a few at a time halves the wait on two cores (D79).
REGISTER_THREADS = 4


def register_lake(spark: SparkSession, root: str) -> list[str]:
    """Register every Delta table under ``root`` that the catalog lacks or has elsewhere.

    A table registered at another location (a lake used earlier in this session) is pointed at
    ``root``; a table someone created in the catalog itself (managed) is left alone. A table, or
    a lake, that cannot be registered is logged and skipped: the session stays usable, and its
    tables stay readable by path.

    Returns:
        The tables registered now (``layer.table``), in order.
    """
    try:
        return _register_lake(spark, root)
    except (AnalysisException, Py4JError) as e:   # an unreachable lake fails its own stage later
        log.warning("catalog: the tables of %s are not registered: %s", root,
                    (str(e).strip().splitlines() or [""])[0])
        return []


def _register_lake(spark: SparkSession, root: str) -> list[str]:
    start = time.perf_counter()
    lake, lake_root = Lake(spark, root), fs.qualified(spark, root).rstrip("/")
    folders = {layer: fs.child_dirs(spark, f"{lake.root}/{layer}") for layer in LAYERS}
    layers = [layer for layer, names in folders.items() if names]
    for layer in layers:
        _ensure_database(spark, layer, f"{lake_root}/{layer}")
    known = catalog_tables(spark, layers)
    todo = []
    for table in (f"{layer}.{name}" for layer in layers for name in folders[layer]):
        location = f"{lake_root}/{table.replace('.', '/', 1)}"
        registered = known.get(table)
        if registered is not None and _same(registered[0], location):
            continue   # the common case at a session start in the same process: nothing to read
        if not TABLE_NAME.match(table) or lake.log_version(table) is None:
            continue   # not a Delta table (a scratch folder)
        if registered is None:
            todo.append((table, location))
        elif registered[1] == "EXTERNAL":
            spark.sql(f"DROP TABLE {_quoted(table)}")   # external: the catalog entry only
            todo.append((table, location))
        else:
            log.warning("%s: the catalog holds a table of that name at %s; the lake's table at "
                        "%s is not registered", table, registered[0], location)
    with ThreadPoolExecutor(REGISTER_THREADS) as pool:
        done = [t for t in pool.map(lambda item: _register(spark, *item), todo) if t]
    if done:
        log.info("catalog: %d tables of %s registered in %.1f s (%s)", len(done), root,
                 time.perf_counter() - start, ", ".join(layers))
    return sorted(done)


def catalog_tables(spark: SparkSession, databases: list[str]) -> dict[str, tuple[str, str]]:
    """``layer.table`` -> (location, EXTERNAL or MANAGED) of the catalog's tables in
    ``databases``, from the catalog alone (no Delta log is read)."""
    found = {}
    for database in databases:
        for row in spark.sql(f"SHOW TABLE EXTENDED IN `{database}` LIKE '*'").collect():
            if row["isTemporary"]:
                continue
            info = dict(line.split(": ", 1) for line in row["information"].splitlines() if ": " in line)
            found[f"{database}.{row['tableName']}"] = (info.get("Location", ""), info.get("Type", ""))
    return found


def _ensure_database(spark: SparkSession, layer: str, location: str) -> None:
    if not spark.catalog.databaseExists(layer):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}` LOCATION {_literal(location)}")
        return
    current = spark.sql(f"DESCRIBE DATABASE `{layer}`").collect()
    where = next((r["info_value"] for r in current if r["info_name"] == "Location"), "")
    if not _same(where, location):
        # tables an analyst creates in a layer belong in the lake the session points at
        spark.sql(f"ALTER DATABASE `{layer}` SET LOCATION {_literal(location)}")


def _register(spark: SparkSession, table: str, location: str) -> str | None:
    try:
        spark.sql(f"CREATE TABLE IF NOT EXISTS {_quoted(table)} USING delta LOCATION {_literal(location)}")
    except AnalysisException as e:
        log.warning("catalog: %s not registered: %s", table, (str(e).strip().splitlines() or [""])[0])
        return None
    return table


def _same(a: str, b: str) -> bool:
    return unquote(a).rstrip("/") == unquote(b).rstrip("/")


def _quoted(table: str) -> str:
    layer, name = table.split(".", 1)
    return f"`{layer}`.`{name}`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
