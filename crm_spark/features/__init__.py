"""Features: point-in-time tables computed for one ``as_of`` date from silver and the sales base,
the inputs of the models (``features.customer_features``)."""

from __future__ import annotations

from pyspark.sql import SparkSession

from crm_spark.as_of import resolve_as_of
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.features.inputs import features_at, sales_of
from crm_spark.tables import Lake


def build(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """``features.customer_features`` for the run's as_of (replacing that snapshot)."""
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    as_of = resolve_as_of(lake, ctx)
    sales_df = sales_of(lake, cfg, as_of)
    features_df = features_at(lake, cfg, as_of, sales_df).persist()
    lake.overwrite(features_df, "features.customer_features", partition_by=["as_of"],
                   replace_where=f"as_of = DATE'{as_of.isoformat()}'")
    rows = features_df.count()
    features_df.unpersist()
    return {"features.customer_features": rows}
