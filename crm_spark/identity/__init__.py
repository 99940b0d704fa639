"""Identity resolution: the contact records of every source linked into customers with stable
ids (``silver.identity_map``), a golden record per customer (``silver.customers`` and its
history), and ``customer_id`` on every silver fact.

Steps: deterministic edges (same mailbox, phone, login) and probabilistic edges (Splink,
Fellegi-Sunter) -> connected components -> stable ids against the previous run -> golden
record -> facts keyed. Every run re-links all contacts; ids stay stable by construction
(``stable_ids``), so a re-run with no new data changes no row.
"""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import IDENTITY_MATCH_COLUMNS, Config
from crm_spark.context import RunContext
from crm_spark.errors import TableNotFoundError
from crm_spark.identity import golden, graph, keys, linkage, pairs, stable_ids
from crm_spark.silver.contacts import CONTACTS
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

IDENTITY_MAP = "silver.identity_map"
RULE_PRIORITY = {"email": 4, "phone": 3, "login": 2, "probabilistic": 1}


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """Resolve every contact record to a customer and key the facts.

    Returns:
        Rows per identity table (map, customers) and fact rows whose customer changed.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    if not lake.exists(CONTACTS):
        raise TableNotFoundError(f"{CONTACTS} does not exist; run `crm-spark silver` first")
    start = time.perf_counter()
    contacts_df = (lake.read(CONTACTS).withColumn("record_id", record_id())
                   .transform(with_match_columns)
                   .transform(lambda df: pairs.with_dedupe_scope(df, cfg.identity)).persist())
    records = contacts_df.count()
    log.info("identity: %d contact records", records)

    edges_df = graph.deterministic_edges(contacts_df, cfg.identity.deterministic_keys)
    scratch = f"{cfg.lake.checkpoints.rstrip('/')}/identity-scratch"
    fs.delete(spark, scratch)  # left behind by a run that failed
    if cfg.identity.probabilistic:
        scored_edges = linkage.score_pairs(spark, lake, contacts_df, cfg.identity, ctx, scratch)
        edges_df = edges_df.unionByName(scored_edges.withColumn("rule", F.lit("probabilistic")))
    edges_df = graph.cut_lineage(edges_df)
    log.info("identity: %d edges at or above the threshold (%.1f s)", edges_df.count(),
             time.perf_counter() - start)
    fs.delete(spark, scratch)
    components_df = graph.connected_components(contacts_df.select("record_id"), edges_df)
    log.info("identity: connected components done (%.1f s)", time.perf_counter() - start)

    previous_df = None
    if lake.exists(IDENTITY_MAP):
        previous_df = lake.read(IDENTITY_MAP).select(record_id().alias("record_id"), "customer_id")
    mapping_df, new_ids_df, merges_df, splits_df = stable_ids.assign_ids(
        lake, components_df, previous_df, ctx, cfg.identity.id_prefix,
        record_ages_df=contacts_df.select("record_id", "created_at"))
    stable_ids.record_ids(lake, new_ids_df, merges_df, ctx, splits_df)
    log.info("identity: customer ids assigned (%.1f s)", time.perf_counter() - start)

    map_df = identity_rows(contacts_df, mapping_df, edges_df, ctx).persist()
    lake.sync(map_df, IDENTITY_MAP, ["source", "source_id"],
              compare=["customer_id", "match_probability", "rule"],
              not_null=["source", "source_id", "customer_id"])
    lake.ensure_not_null(IDENTITY_MAP, ["source", "source_id", "customer_id"])
    map_df.unpersist()
    map_df = lake.read(IDENTITY_MAP).persist()
    log.info("identity: %s written (%.1f s)", IDENTITY_MAP, time.perf_counter() - start)

    customers_df = golden.golden_records(
        contacts_df.join(map_df.select("source", "source_id", "customer_id"), on=["source", "source_id"]),
        cfg.identity).withColumn("resolved_at", F.lit(ctx.now()).cast("timestamp")).persist()
    lake.sync(customers_df, golden.CUSTOMERS, ["customer_id"],
              compare=[c for c in customers_df.columns if c not in ("customer_id", "resolved_at")],
              not_null=["customer_id"])
    lake.ensure_not_null(golden.CUSTOMERS, ["customer_id"])
    golden.write_history(lake, customers_df, ctx)
    customers = customers_df.count()
    log.info("identity: golden records and their history written (%.1f s)", time.perf_counter() - start)

    written = {IDENTITY_MAP: records, golden.CUSTOMERS: customers}
    for table, changed in keys.key_facts(lake, contacts_df, map_df, cfg.spark.concurrency).items():
        written[f"{table} (customer_id set)"] = changed
    log.info("identity: %d records -> %d customers in %.1f s", records, customers,
             time.perf_counter() - start)
    for frame in (contacts_df, edges_df, mapping_df, map_df, customers_df, new_ids_df, merges_df,
                  splits_df):
        frame.unpersist()
    return written


def record_id():
    return F.concat_ws("|", "source", "source_id")


def with_match_columns(contacts_df: DataFrame) -> DataFrame:
    """Adds, as null, the match columns a lake written by an earlier version lacks (until
    `crm-spark silver --rebuild` fills them), so that resolve still runs on the others."""
    missing = [c for c in IDENTITY_MATCH_COLUMNS if c not in contacts_df.columns]
    if missing:
        log.warning("identity: %s has no %s; compared as missing", CONTACTS, ", ".join(missing))
    return contacts_df.withColumns({c: F.lit(None).cast("string") for c in missing})


def identity_rows(contacts_df: DataFrame, mapping_df: DataFrame, edges_df: DataFrame,
                  ctx: RunContext) -> DataFrame:
    """``silver.identity_map`` rows: each record's customer, and the strongest edge that tied it
    to another record (rule and match probability; ``unique`` for a record on its own)."""
    priority = F.create_map(*[F.lit(x) for kv in RULE_PRIORITY.items() for x in kv])
    ends = edges_df.select(F.col("record_id_l").alias("record_id"), "rule", "match_probability").unionByName(
        edges_df.select(F.col("record_id_r").alias("record_id"), "rule", "match_probability"))
    best = ends.groupBy("record_id").agg(
        F.max_by(F.struct("rule", "match_probability"),
                 F.struct(priority[F.col("rule")], "match_probability")).alias("best"))
    return (contacts_df.select("record_id", "source", "source_id")
            .join(mapping_df, on="record_id", how="inner")
            .join(best, on="record_id", how="left")
            .select("source", "source_id", "customer_id",
                    F.round("best.match_probability", 6).alias("match_probability"),
                    F.coalesce("best.rule", F.lit("unique")).alias("rule"),
                    F.lit(ctx.now()).cast("timestamp").alias("resolved_at")))
