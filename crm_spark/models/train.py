"""Training jobs: build each model's data from the lake, fit, evaluate on held-out data, log to
MLflow, register a new version as ``challenger`` and (``models.auto_promote``) promote it.

Each job scores the current champion on the same validation data, so promotion compares like
with like (``tracking.promote``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from typing import cast

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.as_of import resolve_as_of
from crm_spark.concurrency import run_all
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.features.customer import FEATURE_COLUMNS
from crm_spark.features.inputs import features_at, purchases_of, sales_of
from crm_spark.gold import sales
from crm_spark.models import churn, clv, pyfunc, recs, tracking
from crm_spark.models.pyfunc import ClvModel
from crm_spark.models.settings import (
    RECS_INTERACTIONS,
    clv_settings,
    fit_from_params,
    fit_params,
    recs_settings,
)
from crm_spark.quality.exclusions import excluded
from crm_spark.silver import read_table
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


def customer_exclusions(model: str, sales_df: DataFrame, as_of: dt.date) -> dict[str, int]:
    """The orders and customers a customer model leaves out by its rules, logged (D62): guests'
    orders, and customers whose orders all have revenue <= 0 (a model of purchases has no
    purchase of theirs to learn from or to score)."""
    guest_orders, no_purchase = sales.customer_exclusions(sales_df, as_of)
    return (excluded(model, sales.GUEST_ORDERS, guest_orders, sales.GUEST_ORDERS_WHY)
            | excluded(model, sales.NO_PURCHASE, no_purchase, sales.NO_PURCHASE_WHY))


def stage_counts(name: str, result: dict) -> dict[str, int]:
    """What a trainer's result puts in ``ops.runs.rows_written``: the version it registered
    (none when it was skipped) and the rows its rules left out."""
    counts = {k: int(v) for k, v in result.items() if " excluded: " in k}
    if "version" in result:
        counts[f"model {name} version"] = int(result["version"])
    return counts


def train_clv(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, float]:
    """Fit on the calibration period, measure the holdout, log, register, promote."""
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    calibration_end = as_of - dt.timedelta(days=cfg.models.clv_holdout_days)
    settings = clv_settings(cfg, calibration_end, as_of)
    sales_df = sales_of(lake, cfg, as_of).persist()
    exclusions = customer_exclusions("crm_clv", sales_df, as_of)
    purchases_df = purchases_of(sales_df).persist()
    calibration_df = clv.summaries(purchases_df, calibration_end, settings.time_unit).persist()
    validation_fit = clv.fit(calibration_df)
    metrics = clv.evaluate_holdout(purchases_df, calibration_df, validation_fit, settings)
    champion = tracking.alias_version(cfg, "crm_clv", tracking.CHAMPION)
    if champion is not None:
        old = tracking.load_pyfunc(cfg, "crm_clv").unwrap_python_model()
        old_fit = fit_from_params(old.params)
        old_metrics = clv.evaluate_holdout(purchases_df, calibration_df, old_fit, settings)
        metrics |= {f"champion_{k}": v for k, v in old_metrics.items()}
    # The registered model is the calibration fit: it never saw the holdout, so champion and
    # challenger compare fairly on it; scoring applies its parameters to summaries at as_of.
    params = fit_params(validation_fit)
    final_settings = dataclasses.replace(settings, calibration_end=as_of, holdout_end=None)
    model = ClvModel(params, final_settings.horizon, final_settings.discount_rate, final_settings.step,
                     settings.time_unit)
    versions = tracking.input_versions(lake, ["silver.orders", "silver.order_lines", "silver.identity_map"])
    with tracking.training_run(cfg, "crm_clv", {**params, "as_of": as_of, "calibration_end": calibration_end,
                                                "time_unit": settings.time_unit,
                                                "horizon": final_settings.horizon}, versions) as run:
        tracking.log_metrics(cfg, {**metrics, "customers": validation_fit.n_customers,
                                   "triples": validation_fit.n_triples})
        uri = tracking.log_pyfunc_model(cfg, model, signature=pyfunc.clv_signature())
    version = tracking.register(cfg, uri, "crm_clv")
    outcome = tracking.promote_if_configured(cfg, "crm_clv")
    log.info("crm_clv version %d (run %s): holdout RMSE %.4f, purchases error %.1f %%; %s", version,
             run.info.run_id, metrics["rmse_purchases"], metrics["purchases_pct_error"], outcome)
    for frame in (sales_df, purchases_df, calibration_df):
        frame.unpersist()
    return {"version": version, **metrics, **exclusions}


EPOCH = dt.date(1970, 1, 1)


def train_recs(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, float]:
    """ALS on implicit feedback: evaluated on a time split (the last ``models.recs_test_days``
    before ``as_of``) against popularity, then refitted on everything up to ``as_of`` for scoring.
    The refit's interactions (the id <-> index mapping the model needs) are kept in
    ``features.recs_interactions`` under the run id."""
    lake = Lake(spark, cfg.lake.root)
    if not lake.exists("silver.order_lines"):
        log.info("crm_recs skipped: recommendations need order lines (an order_line or pos_transaction "
                 "source); no source feeds silver.order_lines")
        return {}
    as_of = resolve_as_of(lake, ctx)
    settings = recs_settings(cfg)
    split = as_of - dt.timedelta(days=cfg.models.recs_test_days)
    end = as_of + dt.timedelta(days=1)
    sales_df = sales_of(lake, cfg, as_of).persist()
    lines_df = lake.read("silver.order_lines")
    web_df = read_table(lake, cfg, "silver.web_events")
    train_df = recs.interactions(sales_df, lines_df, web_df, EPOCH, split, settings.weights).persist()
    test_df = recs.purchases(sales_df, lines_df, split, end)
    final_df = recs.interactions(sales_df, lines_df, web_df, EPOCH, end, settings.weights).persist()
    # the evaluation's fit and the refit are independent: side by side (D91)
    def evaluation() -> dict[str, float]:
        return recs.evaluate_recs(recs.train_als(train_df, settings), train_df, test_df, settings)

    done = run_all({"evaluation": evaluation, "refit": lambda: recs.train_als(final_df, settings)},
                   cfg.spark.concurrency)
    # run_all types the mixed results as object
    metrics, model = cast(dict[str, float], done["evaluation"]), cast(ALSModel, done["refit"])
    metrics["lift_map_at_k"] = metrics["als_map_at_k"] - metrics["popular_map_at_k"]
    versions = tracking.input_versions(lake, ["silver.orders", "silver.order_lines", "silver.web_events"])
    params = {**dataclasses.asdict(settings), "as_of": as_of, "split": split}
    comparable = same_validation(cfg, "crm_recs", params, versions)
    if comparable is not None:
        metrics["champion_als_map_at_k"] = comparable.get("als_map_at_k", float("nan"))
    with tracking.training_run(cfg, "crm_recs", params, versions) as run:
        tracking.log_metrics(cfg, metrics)
        uri = tracking.log_spark_model(cfg, model, signature=pyfunc.recs_signature())
    Lake(spark, cfg.lake.root).overwrite(
        final_df.withColumn("run_id", F.lit(run.info.run_id)), RECS_INTERACTIONS, partition_by=["run_id"],
        replace_where=f"run_id = '{run.info.run_id}'")
    version = tracking.register(cfg, uri, "crm_recs")
    outcome = tracking.promote_if_configured(cfg, "crm_recs")
    log.info("crm_recs version %d: MAP@%d ALS %.4f vs popularity %.4f; %s", version, settings.k,
             metrics["als_map_at_k"], metrics["popular_map_at_k"], outcome)
    for frame in (sales_df, train_df, final_df):
        frame.unpersist()
    return {"version": version, **metrics}


def same_validation(cfg: Config, name: str, params: dict, versions: dict[str, int]) -> dict | None:
    """The champion's logged metrics when it was validated on the same data (same as_of, split
    and input table versions); None otherwise — then the newer challenger wins."""
    champion = tracking.alias_version(cfg, name, tracking.CHAMPION)
    if champion is None:
        return None
    logged = tracking.run_params(cfg, champion.run_id)
    keys = {"as_of": params.get("as_of"), "split": params.get("split"),
            **{f"input_version.{t}": v for t, v in versions.items()}}
    if all(logged.get(k) == str(v) for k, v in keys.items()):
        return tracking.run_metrics(cfg, champion.run_id)
    return None


def out_of_time_datasets(lake: Lake, cfg: Config, sales_df, as_of: dt.date):
    """``(train_as_of, valid_as_of, {"train": df, "valid": df})``: labelled, persisted feature
    sets at the two dates of the out-of-time split (``train_churn``'s docstring)."""
    horizon = cfg.models.churn_horizon_days
    # labels need the whole horizon observed: count it back from the last day with orders
    last_day = sales_df.agg(F.max("order_date")).collect()[0][0] or as_of
    valid_as_of = min(as_of, last_day) - dt.timedelta(days=horizon)
    train_as_of = valid_as_of - dt.timedelta(days=cfg.models.churn_validation_days)
    customers_df = lake.read("silver.customers")
    datasets = {}
    for name, date in (("train", train_as_of), ("valid", valid_as_of)):
        labels = churn.churn_labels(sales_df, customers_df, date, horizon)
        datasets[name] = churn.churn_dataset(features_at(lake, cfg, date, sales_df), labels).persist()
    return train_as_of, valid_as_of, datasets


def train_churn(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, float]:
    """Gradient-boosted trees and logistic regression on point-in-time features; trained at one
    as-of date and validated out of time at a later one whose labels the data already covers:
    validation as_of = latest as_of - ``models.churn_horizon_days``, training as_of = that -
    ``models.churn_validation_days``. With ``models.churn_label: explicit`` the model is trained
    on a snapshot table's churn flag instead (``churn_snapshot``)."""
    if cfg.models.churn_label == "explicit":
        from crm_spark.models import churn_snapshot

        return churn_snapshot.train(spark, cfg, ctx)
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    horizon = cfg.models.churn_horizon_days
    sales_df = sales_of(lake, cfg, as_of).persist()
    exclusions = customer_exclusions("crm_churn", sales_df, as_of)
    train_as_of, valid_as_of, datasets = out_of_time_datasets(lake, cfg, sales_df, as_of)
    budget = churn.SearchBudget(max_candidates=cfg.models.churn_max_candidates)
    result = churn.train_churn(datasets["train"], datasets["valid"], FEATURE_COLUMNS, budget, cfg.models.seed,
                               concurrency=cfg.spark.concurrency)
    metrics = {k: v for k, v in result.metrics.items() if v is not None}
    if tracking.alias_version(cfg, "crm_churn", tracking.CHAMPION) is not None:
        old = churn.evaluate_churn(tracking.load_spark_model(cfg, "crm_churn"), datasets["valid"])
        metrics |= {f"champion_{k}": v for k, v in old.items() if v is not None}
    versions = tracking.input_versions(lake, ["silver.orders", "silver.order_lines", "silver.web_events",
                                     "silver.email_events", "silver.support_tickets", "silver.customers"])
    params = {"model": result.name, **result.params, "as_of": as_of, "train_as_of": train_as_of,
              "valid_as_of": valid_as_of, "horizon_days": horizon, "label": "purchases",
              "split_kind": "out_of_time"}
    with tracking.training_run(cfg, "crm_churn", params, versions):
        tracking.log_metrics(cfg, metrics)
        tracking.log_dict(cfg, result.feature_importances, "feature_importance.json")
        tracking.log_dict(cfg, {c["name"]: c["metrics"] for c in result.candidates}, "candidates.json")
        counts = [c.name for c in datasets["valid"].schema if c.dataType.typeName() == "long"]
        uri = tracking.log_spark_model(cfg, result.model,
                                       signature=pyfunc.churn_signature(FEATURE_COLUMNS, counts))
    version = tracking.register(cfg, uri, "crm_churn")
    outcome = tracking.promote_if_configured(cfg, "crm_churn")
    log.info("crm_churn version %d (%s): out-of-time ROC-AUC %.4f, PR-AUC %.4f, top-decile lift %.2f; %s",
             version, result.name, metrics.get("roc_auc", float("nan")), metrics.get("pr_auc", float("nan")),
             metrics.get("lift_top_decile", float("nan")), outcome)
    for frame in (sales_df, *datasets.values()):
        frame.unpersist()
    return {"version": version, **metrics, **exclusions}


def train_all(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, int]:
    """The pipeline's training stage: every model, one registered version each (recommendations
    are skipped without order lines), and the rows each model's rules left out. The models train
    side by side (``spark.concurrency``, D91)."""
    trainers = {name: functools.partial(trainer, spark, cfg, ctx) for name, trainer in TRAINERS.items()}
    results = run_all(trainers, cfg.spark.concurrency)
    counts: dict[str, int] = {}
    for name, result in results.items():
        counts |= stage_counts(name, result)
    return counts


TRAINERS = {"churn": train_churn, "clv": train_clv, "recs": train_recs}


def train(spark: SparkSession, cfg: Config, ctx: RunContext, which: str) -> dict[str, float]:
    if which not in TRAINERS:
        raise CrmSparkError(f"unknown model '{which}' (known: {', '.join(TRAINERS)})")
    return TRAINERS[which](spark, cfg, ctx)
