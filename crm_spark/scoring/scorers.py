"""One scorer per model: the ``champion`` from the MLflow registry applied to the lake's customers
at the run's ``as_of``. Each returns the rows of its gold table; ``scoring.build`` writes them."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.as_of import resolve_as_of
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.features.inputs import features_at, purchases, purchases_of, sales_of
from crm_spark.models import churn, clv, recs, tracking
from crm_spark.models.settings import RECS_INTERACTIONS, fit_from_params, recs_settings
from crm_spark.privacy.consent import filter_consenting
from crm_spark.quality.exclusions import excluded
from crm_spark.silver import read_table
from crm_spark.tables import Lake


def score_clv(spark: SparkSession, cfg: Config, ctx: RunContext) -> DataFrame:
    """``gold.clv_scores`` from ``models:/crm_clv@champion`` for every customer with a purchase."""
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    model = tracking.load_pyfunc(cfg, "crm_clv").unwrap_python_model()
    settings = clv.ClvSettings(calibration_end=as_of, time_unit=model.time_unit, horizon=model.horizon,
                               discount_rate=model.discount_rate, step=model.step)
    summaries_df = clv.summaries(purchases(lake, cfg, as_of), as_of, settings.time_unit)
    return clv.predict(summaries_df, fit_from_params(model.params), settings).withColumn(
        "as_of", F.lit(as_of))


def score_churn(spark: SparkSession, cfg: Config, ctx: RunContext) -> DataFrame:
    """``gold.churn_scores``: the champion's churn probability for every customer with a purchase.

    Raises:
        CrmSparkError: ``models.churn_label`` is explicit (that model scores its snapshot table's
            rows, not the lake's customers; docs/models.md shows how).
    """
    if cfg.models.churn_label == "explicit":
        raise CrmSparkError("crm-spark score does not score churn_label explicit models; load "
                            "models:/crm_churn@champion and transform the snapshot table (docs/models.md)")
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    sales_df = sales_of(lake, cfg, as_of)
    buyers = purchases_of(sales_df).select("customer_id").distinct()
    features_df = features_at(lake, cfg, as_of, sales_df).join(buyers, on="customer_id", how="left_semi")
    return churn.score_churn(tracking.load_spark_model(cfg, "crm_churn"), features_df).withColumn(
        "as_of", F.lit(as_of))


def score_recs(spark: SparkSession, cfg: Config, ctx: RunContext) -> DataFrame:
    """``gold.recommendations`` from ``models:/crm_recs@champion`` and the interactions it was
    fitted on; customers without marketing consent get none."""
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    champion = tracking.alias_version(cfg, "crm_recs", tracking.CHAMPION)
    model = tracking.load_spark_model(cfg, "crm_recs")
    # MLflow stores a lone Spark ML model as a one-stage pipeline
    model = model.stages[-1] if hasattr(model, "stages") else model
    interactions_df = (lake.read(RECS_INTERACTIONS).filter(F.col("run_id") == champion.run_id)
                       .drop("run_id").persist())
    popular_df = recs.popular_items(interactions_df)
    customers_df = lake.read("silver.customers").select("customer_id")
    consent_df = read_table(lake, cfg, "silver.consent")
    return recs.recommendations(model, interactions_df, customers_df, consent_df, popular_df,
                                recs_settings(cfg), as_of)


def recs_left_out(lake: Lake, cfg: Config, as_of: dt.date) -> dict[str, int]:
    """The customers ``gold.recommendations`` leaves out because they do not consent to e-mail
    at ``as_of``, logged and as the ``ops.runs`` entry (empty when none is left out)."""
    customers_df = lake.read("silver.customers").select("customer_id")
    consent_df = read_table(lake, cfg, "silver.consent")
    left_out = customers_df.count() - filter_consenting(customers_df, consent_df, as_of, "email").count()
    why = ("recommendations go only to customers who consent to e-mail marketing at as_of"
           + ("" if lake.exists("silver.consent") else
              "; no source feeds silver.consent (a consent source, docs/sources.md)"))
    return excluded("gold.recommendations", "customers without e-mail consent", left_out, why)
