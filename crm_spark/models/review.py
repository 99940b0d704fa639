"""What a model review needs besides the registry (``tracking``): the churn champion's
out-of-time validation rows rebuilt from the lake, and the champions' scores for a handful of
customers.

A training run logs the dates its data was cut at (``as_of``, ``valid_as_of``,
``horizon_days``) and the Delta version of every input table (``input_version.<table>``). The
validation rows rebuilt from those dates are the rows the model was chosen on as long as the
silver tables have not changed since; :func:`changed_inputs` names the ones that did.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.features.inputs import features_at, purchases, sales_of
from crm_spark.models import churn, clv, tracking
from crm_spark.scoring.scorers import score_churn, score_clv, score_recs
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

INPUT_VERSION = "input_version."


def _date_param(run_params: Mapping[str, str], key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(run_params[key])
    except (KeyError, ValueError) as e:
        raise CrmSparkError(f"the churn run logged no valid '{key}' parameter "
                            f"(got {run_params.get(key)!r}); was it trained by crm-spark?") from e


def changed_inputs(lake: Lake, run_params: Mapping[str, str]) -> dict[str, tuple[int, int | None]]:
    """Input tables whose Delta version differs from the one the run logged.

    Returns:
        ``{table: (logged version, current version or None when the table is gone)}``.
    """
    changed = {}
    for key, logged in run_params.items():
        if not key.startswith(INPUT_VERSION):
            continue
        table = key.removeprefix(INPUT_VERSION)
        current = lake.version(table) if lake.exists(table) else None
        if current != int(logged):
            changed[table] = (int(logged), current)
    return changed


def churn_holdout(spark: SparkSession, cfg: Config, run_params: Mapping[str, str]) -> DataFrame:
    """The out-of-time validation rows of a churn training run, rebuilt from the lake.

    Args:
        run_params: the run's logged params (``tracking.version_info(...).params``); requires
            ``as_of``, ``valid_as_of`` and ``horizon_days``.

    Returns:
        ``churn.churn_dataset`` columns: the point-in-time features at ``valid_as_of`` of the
        customers labelled then, and ``churned``.

    Raises:
        CrmSparkError: a parameter is missing or malformed.
    """
    split = run_params.get("split_kind", "out_of_time")
    if split != "out_of_time":
        raise CrmSparkError(f"the churn run was validated on a {split} split of a snapshot table, not out "
                            "of time: score its test rows of that table instead (docs/models.md)")
    lake = Lake(spark, cfg.lake.root)
    as_of, valid_as_of = _date_param(run_params, "as_of"), _date_param(run_params, "valid_as_of")
    try:
        horizon = int(run_params["horizon_days"])
    except (KeyError, ValueError) as e:
        raise CrmSparkError(f"the churn run logged no valid 'horizon_days' parameter "
                            f"(got {run_params.get('horizon_days')!r})") from e
    changed = changed_inputs(lake, run_params)
    if changed:
        log.warning("churn holdout: inputs changed since the run (table: logged, current version): %s; "
                    "the rebuilt rows may differ from those the model was chosen on", changed)
    sales_df = sales_of(lake, cfg, as_of)
    labels_df = churn.churn_labels(sales_df, lake.read("silver.customers"), valid_as_of, horizon)
    return churn.churn_dataset(features_at(lake, cfg, valid_as_of, sales_df), labels_df)


def score_holdout(model: PipelineModel, holdout_df: DataFrame) -> DataFrame:
    """``customer_id``, ``churned`` (INT) and the model's ``churn_probability`` for labelled rows.

    Args:
        holdout_df: features, ``customer_id`` and ``churned`` (e.g. :func:`churn_holdout`).
    """
    scored_df = churn.score_churn(model, holdout_df)
    return scored_df.alias("s").join(holdout_df.select("customer_id", churn.LABEL).alias("h"),
                                     on="customer_id", how="inner").select(
        "customer_id", F.col(churn.LABEL).cast("int").alias(churn.LABEL), "churn_probability")


def _ids_df(spark: SparkSession, customer_ids: Iterable[str]) -> DataFrame:
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    if not ids:
        raise CrmSparkError("no customer ids to score")
    return spark.createDataFrame([(c,) for c in ids], "customer_id string")


def clv_summaries(spark: SparkSession, cfg: Config, as_of: dt.date, customer_ids: Iterable[str],
                  time_unit: str) -> DataFrame:
    """The CLV model's input for the listed customers: ``customer_id, x, t_x, T`` (DOUBLE),
    ``m_x`` at ``as_of`` in ``time_unit`` (the champion's ``time_unit``); customers without a
    purchase by then have no row."""
    ids_df = _ids_df(spark, customer_ids)
    purchases_df = purchases(Lake(spark, cfg.lake.root), cfg, as_of).join(
        ids_df, on="customer_id", how="left_semi")
    return clv.summaries(purchases_df, as_of, time_unit).select(
        "customer_id", *(F.col(c).cast("double").alias(c) for c in ("x", "t_x", "T")), "m_x")


def score_customers(spark: SparkSession, cfg: Config, as_of: dt.date,
                    customer_ids: Iterable[str]) -> DataFrame:
    """Score a handful of customers with every champion, as ``crm-spark score`` would at ``as_of``.

    Each scorer of the score stage runs and its rows for the listed customers are kept; a model
    without a champion (or a churn model trained on a snapshot's flag) leaves its columns null.

    Returns:
        one row per listed id: ``customer_id``, ``churn_probability``, ``expected_purchases``,
        ``probability_alive``, ``clv`` (DOUBLE; null without a purchase by ``as_of``) and
        ``recommendations`` (ARRAY<STRING> of product ids, best first; null without e-mail consent).

    Raises:
        CrmSparkError: no id given.
    """
    ids_df = _ids_df(spark, customer_ids)
    ctx = RunContext("review", dt.datetime.combine(as_of, dt.time(), dt.UTC), as_of)
    has = {name: tracking.alias_version(cfg, name, tracking.CHAMPION) is not None
           for name in tracking.MODEL_NAMES}
    # a churn model trained on a snapshot's flag scores that snapshot's rows, not the lake's customers
    has["crm_churn"] &= getattr(cfg.models, "churn_label", "purchases") != "explicit"
    parts = {
        "crm_churn": (lambda: score_churn(spark, cfg, ctx),
                      {"churn_probability": "double"}),
        "crm_clv": (lambda: score_clv(spark, cfg, ctx),
                    {"expected_purchases": "double", "probability_alive": "double", "clv": "double"}),
        "crm_recs": (lambda: _recommendation_lists(score_recs(spark, cfg, ctx)),
                     {"recommendations": "array<string>"}),
    }
    result_df = ids_df
    for name, (score, columns) in parts.items():
        if has[name]:
            part_df = score().join(ids_df, on="customer_id", how="left_semi").select("customer_id", *columns)
            result_df = result_df.join(part_df, on="customer_id", how="left")
        else:
            log.warning("score_customers: %s has no champion; its columns are null", name)
            result_df = result_df.select("*", *(F.lit(None).cast(t).alias(c) for c, t in columns.items()))
    return result_df.select("customer_id", "churn_probability", "expected_purchases", "probability_alive",
                            "clv", "recommendations")


def _recommendation_lists(recommendations_df: DataFrame) -> DataFrame:
    ranked = F.array_sort(F.collect_list(F.struct("rank", "product_id")))
    return recommendations_df.groupBy("customer_id").agg(
        F.transform(ranked, lambda r: r["product_id"]).alias("recommendations"))
