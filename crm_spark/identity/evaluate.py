"""Identity-resolution quality against a truth file: pairwise precision, recall and F1, and
cluster metrics, computed from cluster sizes in Spark (pairs are counted, never listed)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.errors import CrmSparkError
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

TRUE_ID_COLUMNS = ("true_id", "person_id", "cluster")


@dataclass(frozen=True)
class IdentityQuality:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    precision: float
    recall: float
    f1: float
    true_clusters: int
    predicted_clusters: int
    exact_cluster_share: float

    def as_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def read_truth(spark: SparkSession, path: str, source: str | None = None,
               id_column: str = "source_id", true_column: str | None = None) -> DataFrame:
    """``source, source_id, true_id`` from a CSV (or folder of CSVs) with a header.

    Raises:
        CrmSparkError: the file cannot be read or lacks the columns.
    """
    try:
        truth_df = spark.read.option("header", True).csv(path)
        columns = truth_df.columns
    except Exception as e:  # a missing path raises AnalysisException, others py4j errors
        raise CrmSparkError(f"--truth {path}: cannot be read as CSV with a header") from e
    true_column = true_column or next((c for c in TRUE_ID_COLUMNS if c in columns), None)
    missing = [c for c in (id_column, true_column) if c is None or c not in columns]
    if source is None and "source" not in columns:
        missing.append("source (or pass --source)")
    if missing:
        raise CrmSparkError(f"--truth {path}: missing column(s) {', '.join(map(str, missing))}; "
                            f"found {', '.join(columns)}")
    assert id_column is not None and true_column is not None  # in `missing` otherwise
    source_col = F.lit(source) if source is not None else F.col("source")
    return truth_df.select(source_col.alias("source"), F.col(id_column).alias("source_id"),
                           F.col(true_column).alias("true_id")).filter(F.col("true_id").isNotNull())


def pairwise_quality(truth_df: DataFrame, map_df: DataFrame) -> IdentityQuality:
    """Compare the identity map with the truth over the records in the truth. A truth record
    missing from the map counts as a customer of its own."""
    joined = (truth_df.join(map_df.select("source", "source_id", "customer_id"),
                            on=["source", "source_id"], how="left")
              .withColumn("customer_id", F.coalesce("customer_id", F.concat_ws("|", "source", "source_id"))))

    def pairs(*keys):
        sized = joined.groupBy(*keys).agg(F.count("*").alias("n"))
        return sized.agg(F.sum(F.col("n") * (F.col("n") - 1) / 2).cast("long").alias("pairs"),
                         F.count("*").alias("groups")).collect()[0]

    true_stats, predicted_stats = pairs("true_id"), pairs("customer_id")
    both = pairs("true_id", "customer_id")
    true_pairs, predicted_pairs = true_stats["pairs"] or 0, predicted_stats["pairs"] or 0
    tp = both["pairs"] or 0
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    sizes = joined.groupBy("customer_id").agg(F.count("*").alias("customer_size"))
    per_true = (joined.join(sizes, on="customer_id").groupBy("true_id")
                .agg(F.countDistinct("customer_id").alias("customers"), F.count("*").alias("size"),
                     F.max("customer_size").alias("customer_size")))
    exact = per_true.filter((F.col("customers") == 1) & (F.col("size") == F.col("customer_size"))).count()
    records = joined.count()
    return IdentityQuality(
        records=records, true_pairs=true_pairs, predicted_pairs=predicted_pairs, true_positive_pairs=tp,
        precision=round(precision, 6), recall=round(recall, 6), f1=round(f1, 6),
        true_clusters=true_stats["groups"], predicted_clusters=predicted_stats["groups"],
        exact_cluster_share=round(exact / true_stats["groups"], 6) if true_stats["groups"] else 1.0)


def evaluate_identity(lake: Lake, truth_df: DataFrame) -> IdentityQuality:
    from crm_spark.identity import IDENTITY_MAP

    quality = pairwise_quality(truth_df, lake.read(IDENTITY_MAP))
    log.info("identity quality: precision %.4f, recall %.4f, F1 %.4f over %d records",
             quality.precision, quality.recall, quality.f1, quality.records)
    return quality
