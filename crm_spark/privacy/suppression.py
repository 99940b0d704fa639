"""The suppression list: keyed hashes of erased people's identifiers, consulted at ingest.

``privacy.suppression`` holds ``kind, key_hash, subject_hash, erasure_id, added_at`` — never a
raw value. An ingest batch flags each row whose identifiers (see :mod:`subjects`) hash to a
listed value; flagged rows are counted as suppressed and written nowhere, so a person erased
today does not come back with tomorrow's export.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import Config
from crm_spark.privacy import subjects
from crm_spark.privacy.hashing import hash_key, keyed_hash
from crm_spark.sources.registry import Source
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

SUPPRESSION = "privacy.suppression"


@dataclass(frozen=True)
class Suppressor:
    """Flags the rows of one source that belong to an erased person."""

    source: Source
    config: Config
    key: str
    list_df: DataFrame
    version: int  # of privacy.suppression when the flags were computed

    def flag(self, rows_df: DataFrame) -> DataFrame:
        """Adds ``_suppressed`` (BOOLEAN): a row holds an identifier on the list.

        Each row's identifiers are hashed once into one exploded column and matched with one
        broadcast join (separate joins per identifier made plans too large to compile).
        ``rows_df`` is read twice: persist it first when it is expensive.

        Requires: the source's columns (as declared in its schema)."""
        identifiers = subjects.source_identifiers(self.source, self.config.silver)
        if not identifiers:
            return rows_df.withColumn("_suppressed", F.lit(False))
        keyed = rows_df.withColumn("_row_fp", fingerprint(rows_df.columns))
        hashes = F.array(
            *[
                F.struct(F.lit(kind).alias("_kind"), keyed_hash(kind, value, self.key).alias("_key_hash"))
                for kind, value in identifiers
            ]
        )
        listed = self.list_df.select(F.col("kind").alias("_kind"), F.col("key_hash").alias("_key_hash"))
        hits = (
            keyed.select("_row_fp", F.explode(hashes).alias("_id"))
            .select("_row_fp", "_id._kind", "_id._key_hash")
            .join(F.broadcast(listed.distinct()), on=["_kind", "_key_hash"], how="left_semi")
            .select("_row_fp")
            .distinct()
            .withColumn("_hit", F.lit(True))
        )
        return (
            keyed.join(hits, on="_row_fp", how="left")
            .withColumn("_suppressed", F.coalesce(F.col("_hit"), F.lit(False)))
            .drop("_row_fp", "_hit")
        )


def suppressor(lake: Lake, source: Source, cfg: Config) -> Suppressor | None:
    """The flagger for ``source``, or None while nobody has been erased.

    Raises:
        ConfigError: the list exists but the hashing key is not in the environment (ingesting
            without checking it could bring erased people back).
    """
    if not lake.exists(SUPPRESSION) or not subjects.source_identifiers(source, cfg.silver):
        return None
    key = hash_key(cfg.privacy.hash_key_env)
    return Suppressor(
        source, cfg, key, lake.read(SUPPRESSION).select("kind", "key_hash"), lake.version(SUPPRESSION)
    )


def changed_since(lake: Lake, flagger: Suppressor | None) -> bool:
    """True when an erasure added to the list after ``flagger`` read it (or the list is new)."""
    if not lake.exists(SUPPRESSION):
        return False
    return flagger is None or lake.version(SUPPRESSION) != flagger.version


def recheck_batch(lake: Lake, cfg: Config, source: Source, flagger: Suppressor | None, batch_id: int) -> int:
    """After a batch is written: if an erasure added to the list meanwhile, delete the batch's
    rows that belong to the newly erased people (the erasure could not see them yet) and move
    their count from bronze to suppressed in the ingest log. Returns rows deleted."""
    if not changed_since(lake, flagger):
        return 0
    fresh = suppressor(lake, source, cfg)
    table = f"bronze.{source.name}"
    if fresh is None or not lake.exists(table):
        return 0
    deleted, _ = delete_matching(
        lake, table, fresh.flag(lake.read(table).where(F.col("_batch_id") == batch_id)).where("_suppressed")
    )
    if deleted:
        log.warning("%s batch %d: %d row(s) of people erased while it ran deleted", table, batch_id, deleted)
        (
            DeltaTable.forPath(lake.spark, lake.path("bronze._ingest_log")).update(
                condition=(F.col("source") == source.name) & (F.col("batch_id") == batch_id),
                set={
                    "rows_bronze": F.col("rows_bronze") - deleted,
                    "rows_suppressed": F.coalesce(F.col("rows_suppressed"), F.lit(0)) + deleted,
                },
            )
        )
    return deleted


def fingerprint(columns: Sequence[str], alias: str | None = None) -> Column:
    """A hash of a whole row, to name rows of tables that have no key."""
    prefix = f"{alias}." if alias else ""
    return F.sha2(F.to_json(F.struct(*[F.col(f"{prefix}`{c}`").alias(c) for c in columns])), 256)


def delete_matching(lake: Lake, table: str, rows_df: DataFrame) -> tuple[int, int]:
    """Delete from ``table`` every row equal to a row of ``rows_df`` (a subset of the table's
    rows, extra columns allowed). Deletion vectors are purged so the data files holding the rows
    are rewritten, which is what makes a later vacuum final.

    Returns:
        (rows deleted, bytes the MERGE wrote)"""
    columns = lake.read(table).columns
    fingerprints = rows_df.select(fingerprint(columns).alias("_fp")).distinct()
    target = DeltaTable.forPath(lake.spark, lake.path(table))
    (
        target.alias("t")
        .merge(fingerprints.alias("s"), fingerprint(columns, "t") == F.col("s._fp"))
        .whenMatchedDelete()
        .execute()
    )
    last = target.history(1).select("operation", "operationMetrics").collect()[0]
    metrics = (last["operationMetrics"] or {}) if last["operation"] == "MERGE" else {}
    deleted = int(metrics.get("numTargetRowsDeleted", 0))
    properties = target.detail().select("properties").collect()[0][0] or {}
    if deleted and properties.get("delta.enableDeletionVectors", "false").lower() == "true":
        path = fs.qualified(lake.spark, lake.path(table)).replace("`", "``")
        lake.spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    return deleted, int(metrics.get("numTargetBytesAdded", 0))
