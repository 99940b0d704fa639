"""The golden record: one row per customer built from its contact records by survivorship
rules, and its SCD type 2 history.

Rules per field (``identity.survivorship``):

- ``trust``: the value from the most trusted source (``identity.source_trust`` order; sources
  not listed come last), the most recently updated record among equals;
- ``recent``: the most recently updated non-null value;
- ``frequent``: the value most records agree on, the most recent among equally frequent.

Nulls never win while a non-null value exists.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.config import IdentityConfig
from crm_spark.context import RunContext
from crm_spark.tables import Lake

CUSTOMERS = "silver.customers"
HISTORY = "silver.customers_history"
GOLDEN_FIELDS = ("first_name", "last_name", "email", "phone", "street", "city", "postcode",
                 "state", "country", "birth_date")


def golden_records(records_df: DataFrame, cfg: IdentityConfig) -> DataFrame:
    """Contacts with ``customer_id`` -> one golden row per customer.

    Requires ``customer_id, source, updated_at, created_at`` and :data:`GOLDEN_FIELDS`.
    Returns ``customer_id``, the golden fields, ``record_count``, ``sources`` (sorted),
    ``first_seen_at``, ``last_updated_at``.
    """
    trust = F.lit(len(cfg.source_trust))
    for rank, source in reversed(list(enumerate(cfg.source_trust))):
        trust = F.when(F.col("source") == source, F.lit(rank)).otherwise(trust)
    ranked_df = records_df.withColumn("_trust", trust).withColumn(
        "_updated", F.coalesce("updated_at", "created_at").cast("long"))
    picks = [
        F.count("*").alias("record_count"),
        F.array_sort(F.collect_set("source")).alias("sources"),
        F.min("created_at").alias("first_seen_at"),
        F.max("updated_at").alias("last_updated_at"),
    ]
    frequent = []
    for name in GOLDEN_FIELDS:
        rule = cfg.survivorship.get(name, "recent")
        value = F.col(name)
        if rule == "trust":
            order = F.when(value.isNotNull(), F.struct(F.col("_trust"), -F.col("_updated"), F.col("source")))
            picks.append(F.min_by(value, order).alias(name))
        elif rule == "recent":
            order = F.when(value.isNotNull(), F.struct(F.col("_updated"), F.col("source")))
            picks.append(F.max_by(value, order).alias(name))
        else:
            frequent.append(name)
    golden_df = ranked_df.groupBy("customer_id").agg(*picks)
    for name in frequent:
        counted = (ranked_df.filter(F.col(name).isNotNull())
                   .groupBy("customer_id", name)
                   .agg(F.count("*").alias("_n"), F.max("_updated").alias("_last")))
        chosen = counted.groupBy("customer_id").agg(
            F.max_by(name, F.struct("_n", "_last", F.col(name).cast("string"))).alias(name))
        golden_df = golden_df.join(chosen, on="customer_id", how="left")
    return golden_df.select("customer_id", *GOLDEN_FIELDS, "record_count", "sources",
                            "first_seen_at", "last_updated_at")


def with_record_hash(golden_df: DataFrame) -> DataFrame:
    """Adds ``record_hash``: changes exactly when a golden field changes."""
    return golden_df.withColumn("record_hash", F.sha2(F.to_json(F.struct(*GOLDEN_FIELDS)), 256))


def write_history(lake: Lake, golden_df: DataFrame, ctx: RunContext) -> None:
    """SCD type 2: a customer whose golden fields changed gets its current row closed
    (``valid_to`` = now, ``is_current`` false) and a new current row; a customer that no longer
    exists (merged into another) has its current row closed."""
    now = F.lit(ctx.now()).cast("timestamp")
    rows_df = with_record_hash(golden_df).select(
        "customer_id", *GOLDEN_FIELDS, "record_hash", now.alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"), F.lit(True).alias("is_current"))
    if not lake.exists(HISTORY):
        lake.append(rows_df, HISTORY)
        return
    current = lake.read(HISTORY).filter("is_current").select("customer_id", "record_hash")
    compared = rows_df.alias("s").join(current.alias("c"), on="customer_id", how="left")
    is_new = F.col("c.record_hash").isNull()
    changed = compared.filter(is_new | (F.col("c.record_hash") != F.col("s.record_hash")))
    # a changed customer twice: keyed (closes its current row) and unkeyed (inserts the new one)
    staged = (changed.filter(~is_new).select("s.*").withColumn("_merge_key", F.col("customer_id"))
              .unionByName(changed.select("s.*").withColumn("_merge_key", F.lit(None).cast("string"))))
    # customers without a golden row any more (merged away): close their current row
    gone = (lake.read(HISTORY).filter("is_current").select("customer_id")
            .join(rows_df.select("customer_id"), on="customer_id", how="left_anti")
            .select("customer_id", now.alias("valid_from"), F.col("customer_id").alias("_merge_key")))
    (DeltaTable.forPath(lake.spark, lake.path(HISTORY)).alias("t")
     .merge(staged.unionByName(gone, allowMissingColumns=True).alias("s"),
            "t.customer_id = s._merge_key AND t.is_current")
     .whenMatchedUpdate(set={"is_current": "false", "valid_to": "s.valid_from"})
     .whenNotMatchedInsert(condition="s._merge_key IS NULL",
                           values={c: f"s.`{c}`" for c in rows_df.columns})
     .execute())
