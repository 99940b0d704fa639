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

from crm_spark.concurrency import run_all
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.silver import row_ids
from crm_spark.silver.contacts import (
    CONTACT_COLUMNS,
    CONTACTS,
    KEYS,
    VALIDATED,
    dedupe_latest,
    invalid_value_counts,
    standardise_contacts,
)
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
        Rows merged per silver table in this run (only tables that received rows), and per
        source and contact column the values nulled as invalid
        (``silver.contacts invalid <column> (<source>)``), and per source whose order ids are
        its ``_row_id`` the rows repeated exactly (``silver.orders repeated rows kept (<source>)``).
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    progress = read_progress(lake)

    def merge_new_batches(table: str, table_sources: list[Source], keys: tuple[str, ...],
                          spec: FactSpec | None) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
        start = time.perf_counter()
        batches = []
        for source in table_sources:
            since = progress.get((table, source.name), -1)
            upto = latest_batch(lake, source)
            if upto is None or upto <= since:
                continue
            batches.append((source, upto, transform(canonical_rows(lake, source, since, upto), cfg, spec)))
        if not batches:
            return {}, []
        merged_df = latest_rows(batches, keys, spec).persist()
        rows = merged_df.count()
        counts = (invalid_counts(merged_df, table)
                  | repeated_row_counts(merged_df, table, [s for s, _, _ in batches]))
        condition = ("s.updated_at > t.updated_at OR (s.updated_at <=> t.updated_at AND "
                     "s._ingested_at > t._ingested_at)") if spec is None else \
            "s._ingested_at > t._ingested_at"
        lake.merge_upsert(merged_df, table, keys, update_condition=condition,
                          not_null=keys if table in NOT_NULL_KEYS else ())
        merged_df.unpersist()
        if table in NOT_NULL_KEYS:
            lake.ensure_not_null(table, keys)
        log.info("%s: merged %d rows from %s in %.1f s", table, rows,
                 ", ".join(s.name for s, _, _ in batches), time.perf_counter() - start)
        return counts | {table: rows}, [(table, source.name, upto) for source, upto, _ in batches]

    # the tables merge side by side (D91); their progress is written once all have merged
    merged = run_all({table: functools.partial(merge_new_batches, table, table_sources, keys, spec)
                      for table, table_sources, keys, spec in targets(load_sources(cfg))},
                     cfg.spark.concurrency)
    written: dict[str, int] = {}
    for counts, _ in merged.values():
        written |= counts
    done = [row for _, rows in merged.values() for row in rows]
    if done:
        write_progress(lake, ctx, done)
    return written


def rebuild(spark: SparkSession, cfg: Config, ctx: RunContext, only: str | None = None) -> dict[str, int]:
    """Rebuild silver from every bronze batch, so changed silver settings apply to rows already
    written (``crm-spark silver --rebuild``).

    Each table is replaced in one Delta transaction: a reader, or a run killed half-way, sees
    the old table or the new one, never a mix. With ``only``, ``silver.contacts`` replaces just
    that source's rows; the fact tables the source feeds are rebuilt whole from all their
    sources, as their keys do not name the source. ``customer_id`` on the facts is null until
    the next ``resolve``, as after any silver run that changes a fact.

    Returns:
        Rows written per rebuilt table, and the invalid-value and repeated-row counts of
        :func:`build`.

    Raises:
        ConfigError: ``only`` is not a source in the configuration.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    sources = load_sources(cfg)
    if only is not None:
        load_sources(cfg, only)
    written: dict[str, int] = {}
    for table, table_sources, keys, spec in targets(sources):
        if only is not None and only not in {s.name for s in table_sources}:
            continue
        start = time.perf_counter()
        is_slice = only is not None and "source" in keys and lake.exists(table)
        rebuilt = [s for s in table_sources if not is_slice or s.name == only]
        batches = []
        for source in rebuilt:
            upto = latest_batch(lake, source)
            if upto is not None:
                batches.append((source, upto, transform(canonical_rows(lake, source, -1, upto), cfg, spec)))
        if not batches:
            continue
        rebuilt_df = latest_rows(batches, keys, spec).persist()
        rows = rebuilt_df.count()
        written.update(invalid_counts(rebuilt_df, table))
        written.update(repeated_row_counts(rebuilt_df, table, [s for s, _, _ in batches]))
        lake.overwrite(rebuilt_df, table, replace_where=f"source = '{only}'" if is_slice else None)
        rebuilt_df.unpersist()
        finish(lake, ctx, table, keys, batches)
        written[table] = rows
        log.info("%s: rebuilt %s from %s: %d rows in %.1f s", table,
                 f"the rows of {only}" if is_slice else "whole",
                 ", ".join(s.name for s, _, _ in batches), rows, time.perf_counter() - start)
    return written


def targets(sources: list[Source]) -> list[tuple[str, list[Source], tuple[str, ...], FactSpec | None]]:
    """(silver table, the sources that feed it, its keys, its fact spec; None for contacts)."""
    contact_sources = [s for s in sources if s.spec.entity == "contact"]
    return [(CONTACTS, contact_sources, KEYS, None)] + [
        (spec.table, [s for s in sources if s.spec.entity in spec.entities], spec.keys, spec)
        for spec in FACTS
    ]


def latest_rows(batches: list[tuple[Source, int, DataFrame]], keys: tuple[str, ...],
                spec: FactSpec | None) -> DataFrame:
    """The transformed rows of all batches, one per key: the latest version."""
    order = ("updated_at", "_ingested_at", "_batch_id") if spec is None else ("_ingested_at", "_batch_id")
    return dedupe_latest(functools.reduce(DataFrame.unionByName, [b[2] for b in batches]), keys, order)


def finish(lake: Lake, ctx: RunContext, table: str, keys: tuple[str, ...],
           batches: list[tuple[Source, int, DataFrame]]) -> None:
    if table in NOT_NULL_KEYS:
        lake.ensure_not_null(table, keys)
    write_progress(lake, ctx, [(table, source.name, upto) for source, upto, _ in batches])


def invalid_counts(rows_df: DataFrame, table: str) -> dict[str, int]:
    """Values nulled as invalid per source and column of ``silver.contacts`` (logged; empty for
    other tables). ``rows_df`` should be persisted: this reads it once more."""
    if table != CONTACTS:
        return {}
    counts = {}
    for row in invalid_value_counts(rows_df).collect():   # one row per source
        for column in VALIDATED:
            if row[column]:
                counts[f"{table} invalid {column} ({row['source']})"] = row[column]
                log.warning("%s: %d %s value(s) of %s nulled as invalid", table, row[column], column,
                            row["source"])
    return counts


def repeated_row_counts(rows_df: DataFrame, table: str, sources: list[Source]) -> dict[str, int]:
    """Orders of sources whose ``order_id`` is their ``_row_id`` that repeat an earlier row of
    their file exactly: kept as orders of their own (D60), and logged and counted as
    ``silver.orders repeated rows kept (<source>)`` so a double export does not go unnoticed.
    ``rows_df`` should be persisted: this reads it once more."""
    if table != "silver.orders":
        return {}
    by_row_id = [s.name for s in sources if s.spec.mapping.get("order_id") == row_ids.ROW_ID]
    counts = {}
    for source, rows in sorted(row_ids.repeated_rows(rows_df, "order_id", by_row_id).items()):
        counts[f"{table} repeated rows kept ({source})"] = rows
        log.warning("%s: %d row(s) of %s repeat an earlier row of their file exactly; each is kept "
                    "as an order of its own (map order_id to a key expression to merge them)",
                    table, rows, source)
    return counts


def transform(rows_df: DataFrame, cfg: Config, spec: FactSpec | None) -> DataFrame:
    if spec is None:
        return standardise_contacts(rows_df, cfg.silver).select(*CONTACT_COLUMNS)
    return spec.transform(rows_df, cfg.silver)


def canonical_rows(lake: Lake, source: Source, since: int, upto: int) -> DataFrame:
    """Bronze rows of batches (since, upto] in the canonical columns of the source's entity,
    plus source, source_channel, customer_source and lineage."""
    bronze_df = lake.read(f"bronze.{source.name}").filter(F.col("_batch_id").between(since + 1, upto))
    if any(row_ids.uses_row_id(e) for e in source.spec.mapping.values()):
        bronze_df = row_ids.with_row_id(bronze_df, source.name, source.column_names)
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
    return lake.read(table).agg(F.max("_batch_id")).collect()[0][0]


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


def read_table(lake: Lake, cfg: Config, table: str) -> DataFrame:
    """A silver table, or an empty frame of its contract when no source has fed it (an orders
    export without lines has no ``silver.order_lines``; revenue then comes from order totals)."""
    return lake.read(table) if lake.exists(table) else empty_table(lake.spark, table, cfg)


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
