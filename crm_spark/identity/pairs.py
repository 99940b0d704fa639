"""Which record pairs may be scored, and how many pairs a rule gives, counted in Spark.

A record of a source in ``identity.deduplicated_sources`` (every source under
``identity.link_type: link_only``) is never paired with another record of its source: its
``dedupe_scope`` is the source name, while any other record's scope is its own record id. A
pair is allowed when the two scopes differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.config import IdentityConfig

Rule = tuple[str, ...]
SCOPE = "dedupe_scope"


def is_scoped(cfg: IdentityConfig) -> bool:
    """Whether some pairs of records are not to be scored (a source is deduplicated)."""
    return cfg.link_type == "link_only" or bool(cfg.deduplicated_sources)


def with_dedupe_scope(records_df: DataFrame, cfg: IdentityConfig) -> DataFrame:
    """Adds ``dedupe_scope`` (requires ``source`` and ``record_id``)."""
    if cfg.link_type == "link_only":
        return records_df.withColumn(SCOPE, F.col("source"))
    return records_df.withColumn(
        SCOPE, F.when(F.col("source").isin(*cfg.deduplicated_sources), F.col("source"))
        .otherwise(F.col("record_id")))


def rule_sql(rule: Rule, scoped: bool) -> str:
    """A Splink blocking rule: equal, non-null values of every column of ``rule`` (and, when
    some source is deduplicated, records of different scopes)."""
    sql = " AND ".join(f"l.{column} = r.{column}" for column in rule)
    return f"{sql} AND l.{SCOPE} <> r.{SCOPE}" if scoped else sql


def pair_counts(records_df: DataFrame, rules: Sequence[Rule], scoped: bool) -> dict[Rule, int]:
    """The pairs of allowed records each rule gives, and ``()`` -> every allowed pair.

    A block of n records gives n(n-1)/2 pairs; when ``scoped`` and n_s of them share scope s,
    (n² - Σ n_s²) / 2. One Spark job for all rules; one row per rule reaches the driver.

    Args:
        records_df: ``dedupe_scope`` and the columns of ``rules``.
    """
    keys = list(dict.fromkeys([(), *rules]))
    counted = []
    for index, rule in enumerate(keys):
        columns = list(rule)
        present = records_df.filter(" AND ".join(f"`{c}` IS NOT NULL" for c in columns) or "TRUE")
        if scoped:
            per_scope = present.groupBy(*columns, SCOPE).agg(F.count(F.lit(1)).cast("double").alias("n"))
            per_block = per_scope.groupBy(*columns).agg(F.sum("n").alias("n"),
                                                        F.sum(F.col("n") * F.col("n")).alias("n2"))
        else:
            per_block = present.groupBy(*columns).agg(F.count(F.lit(1)).cast("double").alias("n")) \
                .withColumn("n2", F.col("n"))
        counted.append(per_block.agg(F.sum((F.col("n") * F.col("n") - F.col("n2")) / 2).alias("pairs"))
                       .select(F.lit(index).alias("rule"), F.coalesce("pairs", F.lit(0.0)).alias("pairs")))
    union = counted[0]
    for more in counted[1:]:
        union = union.unionByName(more)
    return {keys[row["rule"]]: int(row["pairs"]) for row in union.collect()}
