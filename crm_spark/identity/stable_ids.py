"""Stable customer ids: this run's components mapped onto the ids of earlier runs.

Rules (all set-based in Spark):

1. An existing id belongs to the component holding its oldest record (earliest ``created_at``,
   then smallest record id), so an id never moves to a different person, and a customer whose
   records split apart keeps its id on the side of its oldest record.
2. A component that owns no existing id gets a new one, derived from a hash of its smallest
   record id — salted, for a component split off an earlier customer, with the smallest id its
   records held, so it cannot take back the id its first record once seeded (deterministic; a
   collision with any id ever issued stops the run). Each split is appended to
   ``silver.identity_splits`` (``new_id`` from ``from_id``).
3. A component that owns several existing ids is one customer who was known as several: it
   keeps the oldest id (by creation time, then id) and the others are merged into it; each
   merge is appended to ``silver.identity_merges`` and the registry row of the merged id
   records ``merged_into``, so downstream tables can follow.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

REGISTRY = "silver.customer_ids"
MERGES = "silver.identity_merges"
SPLITS = "silver.identity_splits"
REGISTRY_SCHEMA = ("customer_id STRING, created_at TIMESTAMP, created_run STRING, "
                   "merged_into STRING, merged_at TIMESTAMP")


def assign_ids(lake: Lake, components_df: DataFrame, previous_df: DataFrame | None,
               ctx: RunContext, id_prefix: str,
               record_ages_df: DataFrame | None = None) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    """Customer ids for this run's components.

    Args:
        components_df: ``record_id, component``.
        previous_df: ``record_id, customer_id`` from the last run (None on the first run).
        record_ages_df: ``record_id, created_at``, which record of a split customer is its
            oldest (None: the smallest record id decides).

    Returns:
        (``record_id, customer_id``, new registry rows, merges ``merged_id, into_id``, splits
        ``new_id, from_id``), the last three to be persisted by ``record_ids``.

    Raises:
        CrmSparkError: a new id collides with another or with one issued before.
    """
    spark = lake.spark
    registry_df = (lake.read(REGISTRY) if lake.exists(REGISTRY)
                   else spark.createDataFrame([], REGISTRY_SCHEMA))
    if previous_df is None:
        previous_df = spark.createDataFrame([], "record_id STRING, customer_id STRING")
    if record_ages_df is None:
        record_ages_df = spark.createDataFrame([], "record_id STRING, created_at TIMESTAMP")
    held = (components_df.join(previous_df.select("record_id", F.col("customer_id").alias("old_id")),
                               on="record_id", how="inner")
            .join(record_ages_df.select("record_id", "created_at"), on="record_id", how="left"))
    oldest_first = Window.partitionBy("old_id").orderBy(
        F.col("created_at").asc_nulls_last(), F.col("record_id"))
    owned = (held.withColumn("_rank", F.row_number().over(oldest_first)).filter("_rank = 1")
             .select("component", "old_id")
             .join(registry_df.select(F.col("customer_id").alias("old_id"), "created_at"),
                   on="old_id", how="left"))
    survivors = owned.groupBy("component").agg(
        F.min_by("old_id", F.struct("created_at", "old_id")).alias("customer_id"))
    merges_df = (owned.join(survivors, on="component", how="inner")
                 .filter(F.col("old_id") != F.col("customer_id"))
                 .select(F.col("old_id").alias("merged_id"), F.col("customer_id").alias("into_id"))
                 .persist())

    unowned = components_df.select("component").distinct().join(survivors, on="component", how="left_anti")
    split_from = held.join(unowned, on="component", how="left_semi").select("component", "old_id").distinct()
    salt = split_from.groupBy("component").agg(F.min("old_id").alias("salt"))
    fresh = (unowned.join(salt, on="component", how="left")
             .select("component", new_id(F.col("component"), id_prefix, F.col("salt")).alias("customer_id")))
    splits_df = (split_from.join(fresh, on="component", how="inner")
                 .select(F.col("customer_id").alias("new_id"), F.col("old_id").alias("from_id"))
                 .persist())
    assignment = survivors.unionByName(fresh)
    mapping_df = (components_df.join(assignment, on="component", how="inner")
                  .select("record_id", "customer_id").persist())
    new_rows_df = fresh.select(
        "customer_id", F.lit(ctx.now()).cast("timestamp").alias("created_at"),
        F.lit(ctx.run_id).alias("created_run"), F.lit(None).cast("string").alias("merged_into"),
        F.lit(None).cast("timestamp").alias("merged_at")).persist()
    # ids in use: held by records, or merged away. A registry row with neither was written by a
    # run that died before its identity map: the same component gets the same id again.
    used_df = previous_df.select("customer_id").unionByName(
        registry_df.filter(F.col("merged_into").isNotNull()).select("customer_id"))
    check_new_ids(new_rows_df, used_df)
    return mapping_df, new_rows_df, merges_df, splits_df


def new_id(component, prefix: str, split_from=None):
    """``<prefix>`` + 15 hex digits of a hash of the component's smallest record id, and of the
    id it split from when it did (a null ``split_from`` hashes as the unsalted id)."""
    parts = [F.lit("customer"), component]
    if split_from is not None:
        # xxhash64 skips nulls, so a component that split from nothing keeps its unsalted id
        parts.append(split_from)
    hashed = F.xxhash64(*parts).bitwiseAND(F.lit(0x0FFFFFFFFFFFFFFF))
    return F.concat(F.lit(prefix), F.lpad(F.lower(F.hex(hashed)), 15, "0"))


def check_new_ids(new_rows_df: DataFrame, used_df: DataFrame) -> None:
    counts = new_rows_df.agg(F.count("*").alias("n"), F.countDistinct("customer_id").alias("d")).collect()[0]
    reused = new_rows_df.join(used_df, on="customer_id", how="left_semi").count()
    if counts["n"] != counts["d"] or reused:
        raise CrmSparkError(
            f"identity: {counts['n'] - counts['d'] + reused} new customer id(s) collide with each "
            "other or with an id issued before; change identity.id_prefix and re-run")


def record_ids(lake: Lake, new_rows_df: DataFrame, merges_df: DataFrame, ctx: RunContext,
               splits_df: DataFrame | None = None) -> None:
    """Add new ids to the registry, mark merged ids, and log the merges and splits."""
    registry_rows = new_rows_df.unionByName(merges_df.select(
        F.col("merged_id").alias("customer_id"), F.lit(None).cast("timestamp").alias("created_at"),
        F.lit(None).cast("string").alias("created_run"), F.col("into_id").alias("merged_into"),
        F.lit(ctx.now()).cast("timestamp").alias("merged_at")))
    if not lake.exists(REGISTRY):
        lake.append(new_rows_df, REGISTRY)
    else:
        (DeltaTable.forPath(lake.spark, lake.path(REGISTRY)).alias("t")
         .merge(registry_rows.alias("s"), "t.customer_id = s.customer_id")
         .whenMatchedUpdate(condition="s.merged_into IS NOT NULL",
                            set={"merged_into": "s.merged_into", "merged_at": "s.merged_at"})
         .whenNotMatchedInsertAll(condition="s.created_at IS NOT NULL")
         .execute())
    merged = merges_df.count()
    if merged:
        # an id is merged once; a replayed run finds its merges already logged
        _log_once(lake, MERGES, merges_df.select(
            "merged_id", "into_id", F.lit(ctx.now()).cast("timestamp").alias("merged_at"),
            F.lit(ctx.run_id).alias("run_id")), ["merged_id"])
        log.info("identity: %d customer id(s) merged into older ids (see %s)", merged, MERGES)
    split = splits_df.count() if splits_df is not None else 0
    if splits_df is not None and split:
        _log_once(lake, SPLITS, splits_df.select(
            "new_id", "from_id", F.lit(ctx.now()).cast("timestamp").alias("split_at"),
            F.lit(ctx.run_id).alias("run_id")), ["new_id", "from_id"])
        log.info("identity: %d customer(s) split off an existing id got a new id (see %s)",
                 splits_df.select("new_id").distinct().count(), SPLITS)


def _log_once(lake: Lake, table: str, rows_df: DataFrame, keys: list[str]) -> None:
    """Append ``rows_df`` to ``table``, skipping the rows a replayed run already logged."""
    if not lake.exists(table):
        lake.append(rows_df, table)
        return
    (DeltaTable.forPath(lake.spark, lake.path(table)).alias("t")
     .merge(rows_df.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in keys))
     .whenNotMatchedInsertAll().execute())
