"""The table registry and every Delta read and write.

A table is named ``layer.table`` and stored at ``<lake.root>/<layer>/<table>``; the root may be
any Hadoop URI. Writes go through :class:`Lake` only, so idempotent retries (Delta's
``txnAppId``/``txnVersion``), table properties and schema evolution live in one place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crm_spark import fs
from crm_spark.config import TABLE_NAME
from crm_spark.errors import CrmSparkError, DataQualityError, TableNotFoundError

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "features", "scores", "quality", "ops", "privacy")
COMMIT_FILE = re.compile(r"^\d{20}\.json$")
TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"


@dataclass(frozen=True)
class Txn:
    """Identifies one logical write so that a retry of it is skipped by Delta.

    ``app_id`` names the writer (e.g. ``ingest:crm_contacts``) and ``version`` increases with
    each batch it writes; Delta records the pair in the table's log.
    """

    app_id: str
    version: int


@dataclass(frozen=True)
class TableInfo:
    name: str
    path: str
    version: int
    rows: int | None          # None: a data file has no row count in the Delta log
    last_operation: str
    last_write: str           # UTC, YYYY-MM-DD HH:MM:SS


class Lake:
    """Delta tables under one root, read and written with one Spark session."""

    def __init__(self, spark: SparkSession, root: str,
                 table_properties: Mapping[str, str] | None = None):
        self.spark = spark
        self.root = root.rstrip("/")
        self.table_properties = dict(table_properties or {})

    def path(self, table: str) -> str:
        layer, name = parse_table_name(table)
        return f"{self.root}/{layer}/{name}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """Read a table, optionally as of a Delta version (time travel)."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        try:
            return reader.load(self.path(table))
        except AnalysisException as e:
            if not self.exists(table):
                raise TableNotFoundError(
                    f"{table} does not exist at {self.path(table)}; run the stage that writes it"
                ) from e
            raise CrmSparkError(f"{table}: cannot be read: {e.getMessage()}") from e

    def version(self, table: str) -> int:
        history = DeltaTable.forPath(self.spark, self.path(table)).history(1)
        return history.select("version").collect()[0][0]

    def log_version(self, table: str) -> int | None:
        """The table's current version from the newest commit file name in its ``_delta_log``
        (a file listing: no Spark job, no log replay); None when there is no table."""
        log_files = fs.file_names(self.spark, f"{self.path(table)}/_delta_log")
        commits = [int(f[:-5]) for f in log_files if COMMIT_FILE.match(f)]
        return max(commits) if commits else None

    def log_versions(self, layers: Iterable[str]) -> dict[str, int]:
        """The current version of every table in ``layers`` (see :meth:`log_version`)."""
        versions = {}
        for layer in layers:
            for name in fs.child_dirs(self.spark, f"{self.root}/{layer}"):
                table = f"{layer}.{name}"
                version = self.log_version(table) if TABLE_NAME.match(table) else None
                if version is not None:
                    versions[table] = version
        return versions

    def create_with_not_null(self, table: str, schema, columns: Iterable[str]) -> None:
        """Create the table empty, with ``schema`` and a CHECK constraint ``<column>_not_null``
        per column in its first commit, unless it exists. Adding the constraints later
        (:meth:`ensure_not_null`) is one commit and one scan of the table each; on a new table
        that is most of a small run's silver time (D83)."""
        if self.exists(table):
            return
        location = fs.qualified(self.spark, self.path(table))
        # nullable as a DataFrame write makes a new table: a non-null column of this batch's plan
        # must not become a NOT NULL column that refuses later batches
        builder = DeltaTable.createIfNotExists(self.spark).location(location).addColumns(_nullable(schema))
        for key, value in self.table_properties.items():
            builder = builder.property(key, value)
        for column in columns:
            builder = builder.property(f"delta.constraints.{column}_not_null", f"`{column}` IS NOT NULL")
        builder.execute()
        log.info("%s: created with constraints %s", table, ", ".join(f"{c}_not_null" for c in columns))

    def ensure_not_null(self, table: str, columns: Iterable[str]) -> None:
        """Add a Delta CHECK constraint ``<column>_not_null`` for each column that lacks one, so
        every later write of a null there fails (the table must exist and hold no null)."""
        detail = DeltaTable.forPath(self.spark, self.path(table)).detail().collect()[0]
        present = {k.removeprefix("delta.constraints.") for k in detail["properties"]}
        path = fs.qualified(self.spark, self.path(table)).replace("`", "``")
        for column in columns:
            if f"{column}_not_null" in present:
                continue
            try:
                self.spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {column}_not_null "
                               f"CHECK (`{column}` IS NOT NULL)")
            except AnalysisException as e:
                # str(), not getMessage(): Spark has no message template for Delta's error class
                first_line = (str(e).strip().splitlines() or [""])[0]
                raise DataQualityError(f"{table}: constraint {column}_not_null cannot be added: "
                                       f"{first_line}") from e
            log.info("%s: added constraint %s_not_null", table, column)

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = (),
                  txn: Txn | None = None, replace_where: str | None = None) -> None:
        """Replace the table's content (or the rows matching ``replace_where``) atomically.
        Replacing a slice adds the columns ``df`` has and the table lacks (older rows get nulls),
        so a table kept across versions of this code gains the new columns."""
        writer = self._writer(df, "overwrite", partition_by, txn)
        writer = writer.option("overwriteSchema", "false" if replace_where else "true")
        if replace_where:
            writer = writer.option("replaceWhere", replace_where).option("mergeSchema", "true")
        self._save(writer, table)

    def append(self, df: DataFrame, table: str, partition_by: Sequence[str] = (),
               txn: Txn | None = None, merge_schema: bool = False) -> None:
        """Append rows; with ``txn`` a retried append of the same batch writes nothing."""
        writer = self._writer(df, "append", partition_by, txn)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        self._save(writer, table)

    def merge_upsert(self, df: DataFrame, table: str, keys: Sequence[str],
                     partition_by: Sequence[str] = (), txn: Txn | None = None,
                     update_condition: str | None = None, not_null: Sequence[str] = ()) -> None:
        """Insert new keys and update matching ones; creates the table on first use.

        Args:
            keys: the columns that identify a row; ``df`` must hold each key once.
            update_condition: optional SQL over ``t`` (target) and ``s`` (source) that must
                hold for a matched row to be updated, e.g. ``s.updated_at > t.updated_at``.
            not_null: columns a new table gets a ``<column>_not_null`` constraint for, in its
                first commit (:meth:`create_with_not_null`).
        """
        if not keys:
            raise ValueError("merge_upsert needs at least one key column")
        if not self.exists(table):
            if not_null and not partition_by:
                self.create_with_not_null(table, df.schema, not_null)
            self.append(df, table, partition_by=partition_by, txn=txn)
            return
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        target = DeltaTable.forPath(self.spark, self.path(table)).alias("t")
        merge = (
            target.merge(df.alias("s"), on)
            .whenMatchedUpdateAll(condition=update_condition)
            .whenNotMatchedInsertAll()
        )
        with self._dml_txn(txn), _constraints(table):
            merge.execute()
        log.info("merged into %s on %s", table, ", ".join(keys))

    def sync(self, df: DataFrame, table: str, keys: Sequence[str], compare: Sequence[str],
             delete_missing: bool = True, scope: str | None = None,
             not_null: Sequence[str] = ()) -> None:
        """Make the table equal ``df`` while touching only rows that differ: update a key whose
        ``compare`` columns changed (null-safe), insert new keys, and (``delete_missing``)
        delete keys ``df`` no longer has. Other columns (e.g. a ``resolved_at``) keep their
        old value on rows whose ``compare`` columns did not change.

        Args:
            scope: optional SQL over ``t`` limiting which target rows may be deleted.
            not_null: as for :meth:`merge_upsert`.
        """
        if not self.exists(table):
            if not_null:
                self.create_with_not_null(table, df.schema, not_null)
            self.append(df, table)
            return
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in compare)
        merge = (
            DeltaTable.forPath(self.spark, self.path(table)).alias("t")
            .merge(df.alias("s"), on)
            .whenMatchedUpdateAll(condition=changed)
            .whenNotMatchedInsertAll()
        )
        if delete_missing:
            merge = merge.whenNotMatchedBySourceDelete(condition=scope)
        with _constraints(table):
            merge.execute()

    def delete(self, table: str, condition: str | Column, txn: Txn | None = None) -> None:
        """Delete the rows matching ``condition`` (a SQL string or a Column)."""
        if not self.exists(table):
            return
        with self._dml_txn(txn):
            DeltaTable.forPath(self.spark, self.path(table)).delete(condition)

    def list_tables(self, layers: Iterable[str] = LAYERS) -> list[TableInfo]:
        """Every Delta table under the root with its version, row count and last write.

        Nothing is scanned: the rows are the ``numRecords`` statistics of the current snapshot's
        files (less the rows deletion vectors mark deleted), summed in one Spark job for all
        tables, and the last write is the newest commit's ``commitInfo``.
        """
        versions = {}
        for layer in layers:
            for name in fs.child_dirs(self.spark, f"{self.root}/{layer}"):
                table = f"{layer}.{name}"
                version = self.log_version(table) if TABLE_NAME.match(table) else None
                if version is not None:
                    versions[table] = version
        rows = self.row_counts(list(versions))
        infos = []
        for table, version in versions.items():
            operation, written = self._last_commit(table, version)
            infos.append(TableInfo(name=table, path=self.path(table), version=version,
                                   rows=rows.get(table), last_operation=operation, last_write=written))
        return infos

    def row_counts(self, tables: Sequence[str]) -> dict[str, int | None]:
        """Rows per table from the Delta log's file statistics; None for a table with a data file
        written without statistics (the table is left out when this Delta build has no
        ``DeltaLog`` snapshot API, e.g. another vendor's runtime)."""
        if not tables:
            return {}
        try:
            files_df: DataFrame | None = None
            for table in tables:
                part = self._snapshot_files(table).select(
                    F.lit(table).alias("table"),
                    F.get_json_object("stats", "$.numRecords").cast("long").alias("records"),
                    F.coalesce(F.col("deletionVector.cardinality"), F.lit(0)).alias("deleted"))
                files_df = part if files_df is None else files_df.unionByName(part)
            assert files_df is not None  # `tables` is not empty
            totals = files_df.groupBy("table").agg(
                F.sum("records").alias("records"), F.sum("deleted").alias("deleted"),
                F.count(F.when(F.col("records").isNull(), 1)).alias("without_stats")).collect()
        except (Py4JError, TypeError) as e:   # TypeError: the class is missing (a JavaPackage)
            log.info("row counts unavailable from the Delta log: %s", str(e).splitlines()[0])
            return {}
        counts: dict[str, int | None] = dict.fromkeys(tables, 0)   # a table without files is empty
        for row in totals:
            counts[row["table"]] = None if row["without_stats"] else row["records"] - row["deleted"]
        return counts

    def _snapshot_files(self, table: str) -> DataFrame:
        """The current snapshot's ``add`` actions (path, size, stats JSON, deletion vector)."""
        jvm: Any = self.spark.sparkContext._jvm
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog
        snapshot = delta_log.forTableWithSnapshot(self.spark._jsparkSession, self.path(table))._2()
        return DataFrame(snapshot.allFiles().toDF(), self.spark)

    def _last_commit(self, table: str, version: int) -> tuple[str, str]:
        """(operation, UTC time) of commit ``version``, from its ``commitInfo`` line."""
        commit = f"{self.path(table)}/_delta_log/{version:020d}.json"
        for line in fs.head_lines(self.spark, fs.qualified_uri(self.spark, commit), 5):
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info:
                millis = info.get("inCommitTimestamp") or info.get("timestamp") or 0
                written = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
                return info.get("operation", "unknown"), written.strftime("%Y-%m-%d %H:%M:%S")
        last = DeltaTable.forPath(self.spark, self.path(table)).history(1).collect()[0]
        return last["operation"], str(last["timestamp"])[:19]

    def _writer(self, df, mode, partition_by, txn):
        writer = df.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if txn is not None:
            writer = writer.option("txnAppId", txn.app_id).option("txnVersion", txn.version)
        for key, value in self.table_properties.items():
            writer = writer.option(key, value)
        return writer

    def _save(self, writer, table: str) -> None:
        try:
            with _constraints(table):
                writer.save(self.path(table))
        except AnalysisException as e:
            raise CrmSparkError(f"{table}: write failed: {e.getMessage()}") from e

    def _dml_txn(self, txn: Txn | None):
        return _SessionConf(self.spark, {
            TXN_APP_ID_CONF: txn.app_id if txn else None,
            TXN_VERSION_CONF: str(txn.version) if txn else None,
        })


def _nullable(data_type):
    """``data_type`` with every field, element and value nullable (Delta's ``asNullable``)."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _nullable(f.dataType), True, f.metadata)
                             for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_nullable(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(_nullable(data_type.keyType), _nullable(data_type.valueType), True)
    return data_type


class _SessionConf:
    """Sets session confs for one DML statement and restores them afterwards."""

    def __init__(self, spark: SparkSession, values: Mapping[str, str | None]):
        self.spark = spark
        self.values = {k: v for k, v in values.items() if v is not None}
        self.saved: dict[str, str | None] = {}

    def __enter__(self):
        for key, value in self.values.items():
            self.saved[key] = self.spark.conf.get(key, None)
            self.spark.conf.set(key, value)

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, value)


@contextlib.contextmanager
def _constraints(table: str):
    """Turn a write that breaks a Delta CHECK constraint (nothing is written) into one line."""
    try:
        yield
    except Py4JJavaError as e:
        java = e.java_exception
        if "DeltaInvariantViolationException" not in java.getClass().getName():
            raise
        raise DataQualityError(f"{table}: write refused: {' '.join(str(java.getMessage()).split())}") from e


def parse_table_name(table: str) -> tuple[str, str]:
    if not TABLE_NAME.match(table):
        raise CrmSparkError(f"'{table}' is not a table name of the form layer.table")
    layer, name = table.split(".")
    return layer, name
