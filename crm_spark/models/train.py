"""Training jobs: build each model's data from the lake, fit, evaluate on held-out data, log to
MLflow, register a new version as ``challenger`` and (``models.auto_promote``) promote it.

Each job scores the current champion on the same validation data, so promotion compares like
with like (``tracking.promote``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import Config
from crm_spark.errors import CrmSparkError
from crm_spark.gold.sales import order_revenue
from crm_spark.models import clv, tracking
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

PROMOTION_METRIC = {"crm_clv": ("rmse_purchases", False), "crm_churn": ("roc_auc", True),
                    "crm_recs": ("map_at_k", True)}


def as_of_for(lake: Lake, ctx: RunContext) -> dt.date:
    from crm_spark.gold import resolve_as_of

    return resolve_as_of(lake, ctx)


def input_versions(lake: Lake, tables: list[str]) -> dict[str, int]:
    return {t: lake.version(t) for t in tables if lake.exists(t)}


def purchases(lake: Lake, as_of: dt.date) -> DataFrame:
    """``customer_id, order_ts, revenue`` of known customers' purchases up to ``as_of``."""
    sales_df = order_revenue(lake.read("silver.orders"), lake.read("silver.order_lines"), as_of)
    return (sales_df.filter(F.col("is_purchase") & F.col("customer_id").isNotNull())
            .select("customer_id", "order_ts", F.col("revenue").cast("double").alias("revenue")))


def clv_settings(cfg: Config, calibration_end: dt.date, holdout_end: dt.date | None) -> clv.ClvSettings:
    unit = 7 if cfg.models.clv_time_unit == "weeks" else 1
    return clv.ClvSettings(
        calibration_end=calibration_end, holdout_end=holdout_end, time_unit=cfg.models.clv_time_unit,
        horizon=cfg.models.clv_horizon_days / unit,
        discount_rate=(1 + cfg.models.clv_discount_rate_annual) ** (unit / 365) - 1,
        step=7.0 / unit)


def fit_params(fit: clv.ClvFit) -> dict[str, float]:
    """The fitted parameters under the names the registry exposes."""
    bg, gg = fit.bgnbd, fit.gamma_gamma
    return {"bgnbd_r": bg.r, "bgnbd_alpha": bg.alpha, "bgnbd_a": bg.a, "bgnbd_b": bg.b,
            "gg_p": gg.p, "gg_q": gg.q, "gg_v": gg.v}


def fit_from_params(params: dict[str, float]) -> clv.ClvFit:
    from crm_spark.models import btyd

    return clv.ClvFit(btyd.BgNbdParams(params["bgnbd_r"], params["bgnbd_alpha"], params["bgnbd_a"],
                                       params["bgnbd_b"]),
                      btyd.GammaGammaParams(params["gg_p"], params["gg_q"], params["gg_v"]),
                      0, 0, 0, 0, 0.0)


def train_clv(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, float]:
    """Fit on the calibration period, measure the holdout, refit on everything up to ``as_of``
    for scoring, log, register, promote."""
    lake = Lake(spark, cfg.lake.root)
    as_of = as_of_for(lake, ctx)
    calibration_end = as_of - dt.timedelta(days=cfg.models.clv_holdout_days)
    settings = clv_settings(cfg, calibration_end, as_of)
    purchases_df = purchases(lake, as_of).persist()
    calibration_df = clv.summaries(purchases_df, calibration_end, settings.time_unit).persist()
    validation_fit = clv.fit(calibration_df)
    metrics = clv.evaluate_holdout(purchases_df, calibration_df, validation_fit, settings)
    champion = tracking.alias_version(cfg, "crm_clv", tracking.CHAMPION)
    if champion is not None:
        old = tracking.load_pyfunc(cfg, "crm_clv").unwrap_python_model()
        old_fit = fit_from_params(old.params)
        old_metrics = clv.evaluate_holdout(purchases_df, calibration_df, old_fit, settings)
        metrics |= {f"champion_{k}": v for k, v in old_metrics.items()}
    final_settings = dataclasses.replace(settings, calibration_end=as_of, holdout_end=None)
    final_df = clv.summaries(purchases_df, as_of, settings.time_unit)
    final_fit = clv.fit(final_df)
    params = fit_params(final_fit)
    from crm_spark.models.pyfunc import ClvModel

    model = ClvModel(params, final_settings.horizon, final_settings.discount_rate, final_settings.step,
                     settings.time_unit)
    example = final_df.select("x", "t_x", "T", "m_x").limit(5).toPandas()
    versions = input_versions(lake, ["silver.orders", "silver.order_lines", "silver.identity_map"])
    with tracking.training_run(cfg, "crm_clv", {**params, "as_of": as_of, "calibration_end": calibration_end,
                                                "time_unit": settings.time_unit,
                                                "horizon": final_settings.horizon}, versions) as run:
        tracking.log_metrics(cfg, {**metrics, **{f"validation_fit_{k}": v
                                                 for k, v in fit_params(validation_fit).items()},
                                   "customers": final_fit.n_customers, "triples": final_fit.n_triples})
        uri = tracking.log_pyfunc_model(cfg, model, example, model.predict(None, example))
    version = tracking.register(cfg, uri, "crm_clv")
    outcome = promote_if_configured(cfg, "crm_clv")
    log.info("crm_clv version %d (run %s): holdout RMSE %.4f, purchases error %.1f %%; %s", version,
             run.info.run_id, metrics["rmse_purchases"], metrics["purchases_pct_error"], outcome)
    purchases_df.unpersist()
    calibration_df.unpersist()
    return {"version": version, **metrics}


def promote_if_configured(cfg: Config, name: str) -> str:
    if not cfg.models.auto_promote:
        return "auto_promote is off: run `crm-spark promote " + name + "`"
    metric, higher = PROMOTION_METRIC[name]
    return tracking.promote(cfg, name, metric, higher)[1]


def score_clv(spark: SparkSession, cfg: Config, ctx: RunContext) -> DataFrame:
    """``gold.clv_scores`` from ``models:/crm_clv@champion`` for every customer with a purchase."""
    lake = Lake(spark, cfg.lake.root)
    as_of = as_of_for(lake, ctx)
    model = tracking.load_pyfunc(cfg, "crm_clv").unwrap_python_model()
    settings = clv.ClvSettings(calibration_end=as_of, time_unit=model.time_unit, horizon=model.horizon,
                               discount_rate=model.discount_rate, step=model.step)
    summaries_df = clv.summaries(purchases(lake, as_of), as_of, settings.time_unit)
    return clv.predict(summaries_df, fit_from_params(model.params), settings).withColumn(
        "as_of", F.lit(as_of))


TRAINERS = {"clv": train_clv}


def train(spark: SparkSession, cfg: Config, ctx: RunContext, which: str) -> dict[str, float]:
    if which not in TRAINERS:
        raise CrmSparkError(f"unknown model '{which}' (known: {', '.join(TRAINERS)})")
    return TRAINERS[which](spark, cfg, ctx)
