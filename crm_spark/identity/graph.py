"""Edges between records and the persons they form: deterministic rules, then connected
components, computed in Spark (no edge ever reaches the driver)."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.errors import CrmSparkError
from crm_spark.identity.pairs import SCOPE

log = logging.getLogger(__name__)

DETERMINISTIC_COLUMNS = {"email": "email_match", "phone": "phone", "login": "login"}
MAX_ITERATIONS = 50


def deterministic_edges(records_df: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """Records that share a standardised e-mail, phone or login: each record is linked to the
    smallest record id holding the same value (a star per value, enough for connectivity).

    Two records of one ``dedupe_scope`` (one deduplicated source, ``identity.pairs``) are never
    linked: a record of the hub's scope links to the smallest record of another scope instead,
    which keeps every value's records of different scopes connected.

    Returns:
        ``record_id_l, record_id_r, match_probability (1.0), rule``.
    """
    edges = []
    for key in keys:
        column = DETERMINISTIC_COLUMNS[key]
        by_value = Window.partitionBy(column)
        keyed_df = records_df.filter(F.col(column).isNotNull()).select("record_id", SCOPE, column)
        hubbed_df = keyed_df.withColumn("hub", F.min(F.struct("record_id", SCOPE)).over(by_value))
        other_scope = F.when(F.col(SCOPE) != F.col(f"hub.{SCOPE}"), F.col("record_id"))
        edges.append(
            hubbed_df.withColumn("other_hub", F.min(other_scope).over(by_value))
            .withColumn("linked_to", F.when(F.col(SCOPE) != F.col(f"hub.{SCOPE}"), F.col("hub.record_id"))
                        .when(F.col("record_id") != F.col("hub.record_id"), F.col("other_hub")))
            .filter(F.col("linked_to").isNotNull())
            .select(F.least("linked_to", "record_id").alias("record_id_l"),
                    F.greatest("linked_to", "record_id").alias("record_id_r"),
                    F.lit(1.0).alias("match_probability"), F.lit(key).alias("rule"))
        )
    if not edges:
        spark = records_df.sparkSession
        return spark.createDataFrame([], "record_id_l STRING, record_id_r STRING, "
                                         "match_probability DOUBLE, rule STRING")
    union = edges[0]
    for more in edges[1:]:
        union = union.unionByName(more)
    return union


def cut_lineage(df: DataFrame) -> DataFrame:
    """Materialise ``df`` and forget how it was computed, so that the rounds below do not plan
    an ever longer query.

    On a cluster the rows are written to Spark's checkpoint folder (``build_spark`` sets one):
    a local checkpoint lives only in executor memory, so losing one executor would lose rows
    that nothing can recompute. In local mode the executors live and die with the driver, and
    the cheaper local checkpoint is enough.
    """
    if not (df.sparkSession.sparkContext.master or "").startswith("local"):
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def connected_components(nodes_df: DataFrame, edges_df: DataFrame) -> DataFrame:
    """Label every node with the smallest node id of its connected component.

    Min-label propagation: each round a node takes the smallest label among itself and its
    neighbours, until no label changes. Rounds grow with the longest shortest path inside a
    component, which is short for persons (a handful of records).

    Args:
        nodes_df: ``record_id``.
        edges_df: ``record_id_l, record_id_r``.

    Returns:
        ``record_id, component``.
    """
    if edges_df.isEmpty():   # every node its own component: no round to run (D72)
        log.info("identity: no edges; every record is its own component")
        return nodes_df.select("record_id", F.col("record_id").alias("component"))
    both_ways = (
        edges_df.select(F.col("record_id_l").alias("src"), F.col("record_id_r").alias("dst"))
        .unionByName(edges_df.select(F.col("record_id_r").alias("src"), F.col("record_id_l").alias("dst")))
        .distinct().transform(cut_lineage)
    )
    labels = nodes_df.select("record_id", F.col("record_id").alias("component")).transform(cut_lineage)
    for iteration in range(1, MAX_ITERATIONS + 1):
        offered = (both_ways.join(labels.withColumnRenamed("record_id", "src"), on="src", how="inner")
                   .groupBy(F.col("dst").alias("record_id")).agg(F.min("component").alias("offer")))
        updated = (labels.alias("l").join(offered.alias("o"), on="record_id", how="left")
                   .select("record_id", F.least(F.col("l.component"), F.coalesce("o.offer", "l.component"))
                           .alias("component"), (F.col("o.offer") < F.col("l.component")).alias("_changed"))
                   .transform(cut_lineage))
        changed = updated.filter(F.col("_changed")).count()
        labels = updated.drop("_changed")
        log.info("identity: connected components round %d: %d labels changed", iteration, changed)
        if changed == 0:
            return labels
    raise CrmSparkError(f"connected components did not converge in {MAX_ITERATIONS} rounds")
