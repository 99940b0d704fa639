"""Scoring: the ``champion`` models from the MLflow registry applied to the lake's customers.

Writes ``gold.clv_scores``, ``gold.churn_scores`` and ``gold.recommendations`` for the run's
``as_of`` (replacing only that snapshot), then refreshes ``gold.customer_360`` so it carries
churn probability, predicted CLV and the top recommendations.
"""

from __future__ import annotations

import functools
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.as_of import resolve_as_of
from crm_spark.concurrency import run_all
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.models import tracking
from crm_spark.scoring.scorers import recs_left_out, score_churn, score_clv, score_recs
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


# model -> (gold table, scorer)
SCORERS = {"crm_clv": ("gold.clv_scores", score_clv),
           "crm_churn": ("gold.churn_scores", score_churn),
           "crm_recs": ("gold.recommendations", score_recs)}


def build(spark: SparkSession, cfg: Config, ctx: RunContext, only: tuple[str, ...] = ()) -> dict[str, int]:
    """Score with every champion (or the models in ``only``).

    Raises:
        CrmSparkError: a model asked for in ``only`` has no champion; with ``only`` empty, no
            model has one.
    """
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    as_of = resolve_as_of(lake, ctx)

    def write_scores(name: str, table: str, score) -> dict[str, int]:
        scores_df = score(spark, cfg, ctx).persist()
        lake.overwrite(scores_df, table, partition_by=["as_of"],
                       replace_where=f"as_of = DATE'{as_of.isoformat()}'")
        counts = {table: scores_df.count()}
        scores_df.unpersist()
        if name == "crm_recs":
            counts.update(recs_left_out(lake, cfg, as_of))
        return counts

    tasks = {}
    for name, (table, score) in SCORERS.items():
        if only and name not in only:
            continue
        if tracking.alias_version(cfg, name, tracking.CHAMPION) is None:
            if only:
                tracking.load_pyfunc(cfg, name)   # raises the one-line "train and promote" error
            log.warning("score: %s has no champion yet; %s not written", name, table)
            continue
        tasks[name] = functools.partial(write_scores, name, table, score)
    written: dict[str, int] = {}
    for counts in run_all(tasks, cfg.spark.concurrency).values():   # side by side (D91)
        written |= counts
    if not written:
        raise CrmSparkError("no model has a champion: run `crm-spark train churn|clv|recs` first")
    written["gold.customer_360"] = refresh_customer_360(spark, lake, cfg, as_of)
    return written


def model_outputs(lake: Lake, as_of) -> DataFrame | None:
    """``customer_id, churn_probability, predicted_clv, recommendations`` at ``as_of``."""
    parts = []
    if lake.exists("gold.churn_scores"):
        parts.append(lake.read("gold.churn_scores").filter(F.col("as_of") == F.lit(as_of))
                     .select("customer_id", "churn_probability"))
    if lake.exists("gold.clv_scores"):
        parts.append(lake.read("gold.clv_scores").filter(F.col("as_of") == F.lit(as_of))
                     .select("customer_id", F.col("clv").cast("decimal(18,2)").alias("predicted_clv")))
    if lake.exists("gold.recommendations"):
        parts.append(lake.read("gold.recommendations").filter(F.col("as_of") == F.lit(as_of))
                     .groupBy("customer_id")
                     .agg(F.transform(F.array_sort(F.collect_list(F.struct("rank", "product_id"))),
                                      lambda r: r["product_id"]).alias("recommendations")))
    if not parts:
        return None
    outputs = parts[0]
    for part in parts[1:]:
        outputs = outputs.join(part, on="customer_id", how="full")
    for column, kind in (("churn_probability", "double"), ("predicted_clv", "decimal(18,2)"),
                         ("recommendations", "array<string>")):
        if column not in outputs.columns:
            outputs = outputs.withColumn(column, F.lit(None).cast(kind))
    return outputs.select("customer_id", "churn_probability", "predicted_clv", "recommendations")


def refresh_customer_360(spark: SparkSession, lake: Lake, cfg: Config, as_of) -> int:
    from crm_spark.gold import read_inputs
    from crm_spark.gold.tables import customer_360_step

    inputs = read_inputs(spark, lake, cfg, as_of)
    for name in ("sales", "rfm"):
        inputs.tables[name] = lake.read(f"gold.{name}").filter(F.col("as_of") == F.lit(as_of))
    if lake.exists("gold.ticket_insights"):   # the tickets' themes (last_ticket_theme)
        insights_df = lake.read("gold.ticket_insights")
        inputs.tables["ticket_insights"] = insights_df.filter(F.col("as_of") == F.lit(as_of))
    scores_df = model_outputs(lake, as_of)
    if scores_df is not None:   # customer_360 reads no scores as absent
        inputs.tables["scores"] = scores_df
    table_df = customer_360_step(inputs, cfg).persist()
    lake.overwrite(table_df, "gold.customer_360", partition_by=["as_of"],
                   replace_where=f"as_of = DATE'{as_of.isoformat()}'")
    rows = table_df.count()
    table_df.unpersist()
    return rows
