"""Silver: bronze rows in canonical columns, standardised and deduplicated, merged into
``silver.contacts`` and the conformed fact tables.

Incremental: each (silver table, source) pair remembers the last bronze ``_batch_id`` it
merged in ``silver._progress``; a run reads only later batches. Merges update a key only when
the incoming row is newer, so replaying a batch (a run killed between the merge and the
progress write) changes nothing.
"""

from __future__ import annotations

import functools
import logging
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import Config
from crm_spark.pipeline import RunContext
from crm_spark.silver.contacts import CONTACT_COLUMNS, CONTACTS, KEYS, dedupe_latest, standardise_contacts
from crm_spark.silver.facts import FACTS, FactSpec
from crm_spark.sources.canonical import ENTITIES
from crm_spark.sources.registry import NAME, Source, load_sources
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

PROGRESS = "silver._progress"
# tables whose keys are source identifiers (required columns): Delta refuses a null there
NOT_NULL_KEYS = (CONTACTS, "silver.orders", "silver.order_lines")


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """Merge what bronze gained since the last run into every silver table.

    Returns:
        Rows merged per silver table in this run (only tables that received rows).
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    sources = load_sources(cfg)
    progress = read_progress(lake)
    written: dict[str, int] = {}
    contact_sources = [s for s in sources if s.spec.entity == "contact"]
    targets = [(CONTACTS, contact_sources, KEYS, None)] + [
        (spec.table, [s for s in sources if s.spec.entity in spec.entities], spec.keys, spec)
        for spec in FACTS
    ]
    for table, table_sources, keys, spec in targets:
        start = time.perf_counter()
        batches = []
        for source in table_sources:
            since = progress.get((table, source.name), -1)
            upto = latest_batch(lake, source)
            if upto is None or upto <= since:
                continue
            rows_df = canonical_rows(lake, source, since, upto)
            batches.append((source, upto, transform(rows_df, cfg, spec)))
        if not batches:
            continue
        merged_df = dedupe_latest(functools.reduce(DataFrame.unionByName, [b[2] for b in batches]),
                                  keys, ("updated_at", "_ingested_at", "_batch_id") if spec is None
                                  else ("_ingested_at", "_batch_id")).persist()
        rows = merged_df.count()
        condition = ("s.updated_at > t.updated_at OR (s.updated_at <=> t.updated_at AND "
                     "s._ingested_at > t._ingested_at)") if spec is None else \
            "s._ingested_at > t._ingested_at"
        lake.merge_upsert(merged_df, table, keys, update_condition=condition)
        merged_df.unpersist()
        if table in NOT_NULL_KEYS:
            lake.ensure_not_null(table, keys)
        write_progress(lake, ctx, [(table, source.name, upto) for source, upto, _ in batches])
        written[table] = rows
        log.info("%s: merged %d rows from %s in %.1f s", table, rows,
                 ", ".join(s.name for s, _, _ in batches), time.perf_counter() - start)
    return written


def transform(rows_df: DataFrame, cfg: Config, spec: FactSpec | None) -> DataFrame:
    if spec is None:
        return standardise_contacts(rows_df, cfg.silver).select(*CONTACT_COLUMNS)
    return spec.transform(rows_df, cfg.silver)


def canonical_rows(lake: Lake, source: Source, since: int, upto: int) -> DataFrame:
    """Bronze rows of batches (since, upto] in the canonical columns of the source's entity,
    plus source, source_channel, customer_source and lineage."""
    bronze_df = lake.read(f"bronze.{source.name}").filter(F.col("_batch_id").between(since + 1, upto))
    columns = []
    for column in ENTITIES[source.spec.entity]:
        expression = source.spec.mapping.get(column.name)
        if expression is None:
            value = F.lit(None)
        elif NAME.match(expression):
            value = F.col(expression)
        else:
            value = F.expr(expression)
        columns.append(value.cast(column.type).alias(column.name))
    return bronze_df.select(
        F.lit(source.name).alias("source"), F.lit(source.spec.channel).alias("source_channel"),
        F.lit(source.spec.customer_source).cast("string").alias("customer_source"),
        *columns, "_batch_id", "_ingested_at",
    )


def latest_batch(lake: Lake, source: Source) -> int | None:
    table = f"bronze.{source.name}"
    if not lake.exists(table):
        return None
    return lake.read(table).agg(F.max("_batch_id")).first()[0]


def read_progress(lake: Lake) -> dict[tuple[str, str], int]:
    if not lake.exists(PROGRESS):
        return {}
    return {(r["table"], r["source"]): r["last_batch_id"] for r in lake.read(PROGRESS).collect()}


def write_progress(lake: Lake, ctx: RunContext, rows: list[tuple[str, str, int]]) -> None:
    spark = lake.spark
    progress_df = spark.createDataFrame(
        [(table, source, upto, ctx.run_id, ctx.now()) for table, source, upto in rows],
        "table STRING, source STRING, last_batch_id BIGINT, run_id STRING, updated_at TIMESTAMP",
    )
    lake.merge_upsert(progress_df, PROGRESS, ["table", "source"])


def empty_table(spark: SparkSession, table: str, cfg: Config) -> DataFrame:
    """An empty frame with the columns and types of a silver table, for readers of a table
    that no source feeds (its contract is what the silver transform produces)."""
    if table == "silver.customers":
        from crm_spark.identity.golden import golden_records

        contacts_df = empty_table(spark, CONTACTS, cfg).withColumn("customer_id", F.lit(None).cast("string"))
        return golden_records(contacts_df, cfg.identity).withColumn(
            "resolved_at", F.lit(None).cast("timestamp"))
    spec = next((s for s in FACTS if s.table == table), None)
    if spec is None and table != CONTACTS:
        raise ValueError(f"{table} is not a silver table")
    entity = "contact" if spec is None else spec.entities[0]
    columns = ", ".join(f"`{c.name}` {c.type}" for c in ENTITIES[entity])
    rows_df = spark.createDataFrame(
        [], f"source STRING, source_channel STRING, customer_source STRING, {columns}, "
            "_batch_id BIGINT, _ingested_at TIMESTAMP")
    return transform(rows_df, cfg, spec)
