"""Churn: labels, an out-of-time model search in Spark ML, metrics and scoring.

Labels. At ``as_of`` a customer is in the population when first seen by ``as_of`` and with at
least one purchase (revenue > 0) dated on or before ``as_of``: churn means stopping to buy, so a
customer who never bought cannot churn. ``churned`` = 1 when the customer makes no purchase in
(as_of, as_of + horizon_days], else 0. Subscription data with its own flag uses ``explicit_labels``
(a snapshot table without a time axis: ``churn_snapshot`` splits it stratified instead).

Training. ``train_churn`` fits every candidate of a ``SearchBudget`` on ``train_df`` (features and
labels at one ``as_of``) and ranks them on ``valid_df`` (a later ``as_of``: out of time, rows are
never split at random). Each candidate is one Pipeline: cast to double, median imputation (fitted
on the training rows; the nulls of the features mean "unknown"), VectorAssembler, and either
GBTClassifier or StandardScaler + LogisticRegression; categorical columns are indexed and one-hot
encoded inside the Pipeline, so the fitted model scores raw rows. Classes are balanced with a weight
column w = n / (2 n_class). The chosen model's validation metrics are those it was chosen on, so they
are slightly optimistic; ``evaluate_churn`` on a third, later ``as_of`` gives an unbiased figure.

Metrics. ``roc_auc`` and ``pr_auc`` (BinaryClassificationEvaluator on the probability of class 1),
``brier`` = mean (p - y)^2, ``base_rate`` = mean y, and for the top decile (the first ceil(n / 10)
rows by probability, descending, ties broken by ``customer_id``): ``capture_top_decile`` = its
share of all churners and ``lift_top_decile`` = its churn rate / ``base_rate``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import (
    Imputer,
    OneHotEncoder,
    OneHotEncoderModel,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.concurrency import run_all
from crm_spark.errors import ConfigError, DataQualityError
from crm_spark.features.customer import filter_known_at
from crm_spark.gold.sales import utc_date, with_first_seen_by_orders

log = logging.getLogger(__name__)

LABEL = "churned"
WEIGHT = "_weight"
TRUE_FLAGS = ("yes", "y", "true", "t", "1", "1.0")
FALSE_FLAGS = ("no", "n", "false", "f", "0", "0.0")
SELECTABLE = ("roc_auc", "pr_auc", "lift_top_decile", "capture_top_decile")


@dataclass(frozen=True)
class SearchBudget:
    """The candidates ``train_churn`` tries: a grid per family, interleaved LR, GBT, LR, ...
    (so any cap keeps both families) and capped at ``max_candidates``. Shallow trees come
    first, more of them before deeper ones: on the generated 10k-person data set depth 3 beat
    depth 5 at both 20 and 50 trees (out-of-time ROC-AUC 0.8013 / 0.8048 against 0.7909 /
    0.7917), the deeper trees overfitting some 8,000 training rows. The best on
    ``select_by`` (a metric of ``churn_metrics``) wins, the earlier candidate on a tie."""

    max_candidates: int = 7
    gbt_max_depth: tuple[int, ...] = (3, 5)
    gbt_max_iter: tuple[int, ...] = (20, 50)
    lr_reg_param: tuple[float, ...] = (0.0, 0.01, 0.1)
    select_by: str = "roc_auc"

    def __post_init__(self):
        if self.max_candidates < 1 or not (self.lr_reg_param or (self.gbt_max_depth and self.gbt_max_iter)):
            raise ConfigError("churn search budget: at least one candidate is needed")
        if self.select_by not in SELECTABLE:
            raise ConfigError(f"churn search budget: select_by must be one of {SELECTABLE}, "
                              f"not {self.select_by!r}")

    def candidates(self) -> list[tuple[str, dict[str, float]]]:
        lr: list[tuple[str, dict[str, float]]] = [("logistic_regression", {"regParam": r})
                                                   for r in self.lr_reg_param]
        gbt: list[tuple[str, dict[str, float]]] = [("gbt", {"maxDepth": d, "maxIter": i})
                                                    for d in self.gbt_max_depth for i in self.gbt_max_iter]
        mixed = [c for pair in zip(lr, gbt, strict=False) for c in pair]
        mixed += lr[len(gbt):] + gbt[len(lr):]
        return mixed[:self.max_candidates]


@dataclass(frozen=True)
class ChurnResult:
    """The chosen model with its validation metrics, importances and every candidate's metrics."""

    model: PipelineModel
    name: str
    params: dict[str, float]
    metrics: dict[str, float]
    feature_importances: dict[str, float]
    feature_columns: tuple[str, ...]
    candidates: list[dict] = field(default_factory=list)
    categorical_columns: tuple[str, ...] = ()


def churn_labels(sales_df: DataFrame, customers_df: DataFrame, as_of: dt.date, horizon_days: int,
                 check_horizon: bool = True) -> DataFrame:
    """Behavioural churn labels at ``as_of`` (module doc).

    Args:
        sales_df: ``order_revenue`` output reaching past ``as_of + horizon_days``; requires
            ``customer_id, order_ts, is_purchase``.
        customers_df: silver.customers; requires ``customer_id, first_seen_at``.
        as_of: the day the features are computed for.
        horizon_days: length of the label window after ``as_of``.
        check_horizon: require an order (any customer, guests too) on or after the last day of
            the horizon, the sign that the data covers it.

    Returns:
        ``customer_id, as_of`` (DATE), ``horizon_days`` (INT), ``churned`` (INT 0/1).

    Raises:
        DataQualityError: ``check_horizon`` and the data ends before the horizon does.
    """
    horizon_end = as_of + dt.timedelta(days=horizon_days)
    if check_horizon:
        last_day = sales_df.agg(F.max(utc_date("order_ts"))).collect()[0][0]
        if last_day is None or last_day < horizon_end:
            raise DataQualityError(f"churn labels at {as_of}: orders end on {last_day}, before the "
                                   f"{horizon_days}-day horizon ends on {horizon_end}")
    day = utc_date("order_ts")
    counts_df = (filter_known_at(sales_df, "order_ts", horizon_end)
                 .filter(F.col("customer_id").isNotNull() & F.col("is_purchase"))
                 .groupBy("customer_id")
                 .agg(F.count(F.when(day <= F.lit(as_of), F.lit(1))).alias("before"),
                      F.count(F.when(day > F.lit(as_of), F.lit(1))).alias("after")))
    known_df = filter_known_at(with_first_seen_by_orders(customers_df, sales_df), "first_seen_at",
                               as_of).select("customer_id")
    return (known_df.join(counts_df, on="customer_id", how="inner")
            .filter(F.col("before") > 0)
            .select("customer_id", F.lit(as_of).alias("as_of"),
                    F.lit(horizon_days).cast("int").alias("horizon_days"),
                    (F.col("after") == 0).cast("int").alias(LABEL)))


def with_explicit_label(df: DataFrame, flag_col: str, true_values: tuple[str, ...] = TRUE_FLAGS,
                        false_values: tuple[str, ...] = FALSE_FLAGS) -> DataFrame:
    """Add ``churned`` from a churn flag, compared trimmed and in any case.

    Args:
        df: requires ``flag_col`` (any type; cast to string, so booleans read true/false).
        true_values: spellings meaning churned; false_values: spellings meaning stayed.

    Returns:
        ``df`` and ``churned`` (INT 0/1).

    Raises:
        DataQualityError: a flag is null or in neither list (up to five examples named).
    """
    flag = F.lower(F.trim(F.col(flag_col).cast("string")))
    trues = [v.strip().lower() for v in true_values]
    falses = [v.strip().lower() for v in false_values]
    labelled_df = df.withColumn(LABEL, F.when(flag.isin(*trues), F.lit(1)).when(flag.isin(*falses), F.lit(0)))
    bad = [r[0] for r in labelled_df.filter(F.col(LABEL).isNull())
           .select(F.col(flag_col).cast("string")).limit(5).collect()]
    if bad:
        raise DataQualityError(f"explicit churn labels: {flag_col} has values that are neither churned "
                               f"{list(true_values)} nor stayed {list(false_values)}, e.g. {bad}")
    return labelled_df


def explicit_labels(df: DataFrame, id_col: str, flag_col: str, true_values: tuple[str, ...] = TRUE_FLAGS,
                    false_values: tuple[str, ...] = FALSE_FLAGS) -> DataFrame:
    """Labels from a churn flag ('Yes'/'No', true/false, 1/0 by default; ``with_explicit_label``).

    Returns:
        ``customer_id`` (STRING), ``churned`` (INT 0/1).

    Raises:
        DataQualityError: a flag is null or not one of the known spellings (examples named).
    """
    return (with_explicit_label(df, flag_col, true_values, false_values)
            .select(F.col(id_col).cast("string").alias("customer_id"), LABEL))


def churn_dataset(features_df: DataFrame, labels_df: DataFrame) -> DataFrame:
    """The labelled customers' features: features inner-joined to labels on (customer_id, as_of).

    Returns:
        every column of ``features_df`` and ``churned``.
    """
    return features_df.alias("f").join(
        labels_df.alias("l"),
        on=(F.col("f.customer_id") == F.col("l.customer_id")) & (F.col("f.as_of") == F.col("l.as_of")),
        how="inner",
    ).select("f.*", F.col(f"l.{LABEL}").alias(LABEL))


def _stages(name: str, params: dict, features: list[str], seed: int,
            categorical: list[str] | tuple[str, ...] = ()) -> list:
    numeric = [c for c in features if c not in categorical]
    doubles = [f"_x_{c}" for c in numeric]
    filled = [f"_i_{c}" for c in numeric]
    stages = []
    if numeric:
        casts = ", ".join(f"CAST(`{c}` AS DOUBLE) AS `{d}`" for c, d in zip(numeric, doubles, strict=True))
        stages += [SQLTransformer(statement=f"SELECT *, {casts} FROM __THIS__"),
                   Imputer(strategy="median", inputCols=doubles, outputCols=filled)]
    if categorical:
        # "keep" gives nulls and values unseen in training their own all-zero code, so the
        # registered model scores any raw row instead of failing on a new category
        indexed, encoded = [f"_c_{c}" for c in categorical], [f"_o_{c}" for c in categorical]
        # the indexer's extra code for invalid values is the last category, the one the encoder drops
        stages += [StringIndexer(inputCols=list(categorical), outputCols=indexed, handleInvalid="keep",
                                 stringOrderType="alphabetAsc"),
                   OneHotEncoder(inputCols=indexed, outputCols=encoded, dropLast=True)]
        filled += encoded
    stages.append(VectorAssembler(inputCols=filled, outputCol="_features"))
    if name == "gbt":
        return stages + [GBTClassifier(featuresCol="_features", labelCol=LABEL, weightCol=WEIGHT, seed=seed,
                                       **params)]
    return stages + [StandardScaler(inputCol="_features", outputCol="_scaled", withMean=True, withStd=True),
                     LogisticRegression(featuresCol="_scaled", labelCol=LABEL, weightCol=WEIGHT, maxIter=100,
                                        **params)]


def _importances(model: PipelineModel, features: list[str],
                 categorical: list[str] | tuple[str, ...] = ()) -> dict[str, float]:
    """Share of the model's importance (GBT) or |standardised coefficient| (LR) per input column;
    a categorical column sums its one-hot slots."""
    last: Any = model.stages[-1]   # GBTClassificationModel or LogisticRegressionModel
    if hasattr(last, "featureImportances"):
        values = last.featureImportances.toArray().tolist()
    else:
        values = [abs(v) for v in last.coefficients.toArray().tolist()]
    columns = [c for c in features if c not in categorical]
    encoders = [s for s in model.stages if isinstance(s, OneHotEncoderModel)]
    if encoders:
        for column, size in zip(categorical, encoders[0].categorySizes, strict=True):
            columns += [column] * (size - 1 if encoders[0].getDropLast() else size)
    if len(columns) != len(values):
        raise DataQualityError(f"churn importances: {len(values)} model inputs for {len(columns)} slots")
    total = sum(values) or 1.0
    shares = dict.fromkeys(features, 0.0)
    for column, value in zip(columns, values, strict=True):
        shares[column] += value / total
    return shares


def score_churn(model: PipelineModel, features_df: DataFrame,
                keep: tuple[str, ...] = ("customer_id",)) -> DataFrame:
    """Churn probabilities: the ``keep`` columns and ``churn_probability`` (DOUBLE, probability
    of class 1)."""
    scored_df = model.transform(features_df)
    return scored_df.select(*keep,
                            vector_to_array(F.col("probability"))[1].cast("double").alias("churn_probability"))


def top_decile(scored_df: DataFrame, label_col: str = LABEL, probability_col: str = "churn_probability",
               id_col: str = "customer_id") -> dict[str, float | None]:
    """``lift_top_decile`` and ``capture_top_decile`` (module doc); None without churners."""
    # One global ranking is the definition of a decile; the rows are one per customer.
    ranking = Window.orderBy(F.col(probability_col).desc(), F.col(id_col).asc())
    everyone = Window.partitionBy()
    in_top = F.row_number().over(ranking) <= F.ceil(F.count(F.lit(1)).over(everyone) / 10)
    row = (scored_df.select(F.col(label_col).cast("double").alias("y"), in_top.alias("in_top"))
           .agg(F.count(F.lit(1)).alias("n"), F.sum("y").alias("positives"),
                F.count(F.when(F.col("in_top"), F.lit(1))).alias("n_top"),
                F.sum(F.when(F.col("in_top"), F.col("y"))).alias("positives_top"))
           .collect()[0])
    if not row["positives"]:
        return {"lift_top_decile": None, "capture_top_decile": None}
    lift = (row["positives_top"] / row["n_top"]) / (row["positives"] / row["n"])
    return {"lift_top_decile": lift, "capture_top_decile": row["positives_top"] / row["positives"]}


def churn_metrics(scored_df: DataFrame, label_col: str = LABEL, probability_col: str = "churn_probability",
                  id_col: str = "customer_id") -> dict[str, float | None]:
    """roc_auc, pr_auc, lift/capture of the top decile, brier, base_rate and n (module doc).

    Args:
        scored_df: requires ``id_col``, ``label_col`` (0/1) and ``probability_col`` (DOUBLE).
    """
    df = scored_df.select(id_col, F.col(label_col).cast("double").alias(label_col), probability_col)
    row = df.agg(F.count(F.lit(1)).alias("n"), F.avg(label_col).alias("base_rate"),
                 F.avg((F.col(probability_col) - F.col(label_col)) ** 2).alias("brier")).collect()[0]
    metrics = {"n": float(row["n"]), "base_rate": row["base_rate"], "brier": row["brier"]}
    curves: tuple[tuple[str, Literal["areaUnderROC", "areaUnderPR"]], ...] = (
        ("roc_auc", "areaUnderROC"), ("pr_auc", "areaUnderPR"))
    for name, metric in curves:
        evaluator = BinaryClassificationEvaluator(rawPredictionCol=probability_col, labelCol=label_col,
                                                  metricName=metric)
        metrics[name] = evaluator.evaluate(df)
    return {**metrics, **top_decile(df, label_col, probability_col, id_col)}


def evaluate_churn(model: PipelineModel, labelled_df: DataFrame,
                   label_col: str = LABEL) -> dict[str, float | None]:
    """``churn_metrics`` of ``model`` on ``labelled_df`` (features, ``customer_id`` and the label)."""
    scored_df = score_churn(model, labelled_df).join(
        labelled_df.select("customer_id", label_col), on="customer_id", how="inner").cache()
    try:
        return churn_metrics(scored_df, label_col)
    finally:
        scored_df.unpersist()


def _check_out_of_time(train_df: DataFrame, valid_df: DataFrame) -> None:
    if "as_of" not in train_df.columns or "as_of" not in valid_df.columns:
        return
    last_train = train_df.agg(F.max("as_of")).collect()[0][0]
    first_valid = valid_df.agg(F.min("as_of")).collect()[0][0]
    if last_train is not None and first_valid is not None and first_valid <= last_train:
        raise DataQualityError(f"churn validation must be out of time: valid as_of {first_valid} is not "
                               f"after train as_of {last_train}")


def _class_weights(train_df: DataFrame) -> DataFrame:
    counts = {int(r[LABEL]): r["count"] for r in train_df.groupBy(LABEL).count().collect()}
    if sorted(counts) != [0, 1]:
        raise DataQualityError(f"churn training needs both classes; label counts are {counts}")
    n = sum(counts.values())
    weight = F.when(F.col(LABEL) == 1, n / (2 * counts[1])).otherwise(n / (2 * counts[0]))
    return train_df.withColumn(WEIGHT, weight.cast("double"))


def train_churn(train_df: DataFrame, valid_df: DataFrame, feature_columns: list[str] | tuple[str, ...],
                budget: SearchBudget = SearchBudget(), seed: int = 42,
                categorical_columns: list[str] | tuple[str, ...] = (), concurrency: int = 1) -> ChurnResult:
    """Fit the budget's candidates on ``train_df``, keep the best on ``valid_df`` (module doc).

    Args:
        train_df: ``churn_dataset`` at one ``as_of``; requires ``customer_id``, the features and
            ``churned``.
        valid_df: the same at a later ``as_of`` (its labels best end by the time it is scored).
        feature_columns: the numeric model inputs, e.g. ``features.customer.FEATURE_COLUMNS``;
            columns null on every training row are left out (nothing to learn, nothing to impute).
        budget: the candidates.
        seed: seed of the GBT.
        categorical_columns: string inputs, one-hot encoded inside the model (nulls and unseen
            values score as their own all-zero code); left out too when null on every row.
        concurrency: candidates fitted side by side (``spark.concurrency``, D91); the choice
            does not depend on it.

    Returns:
        ``ChurnResult``; ``candidates`` holds ``{"name", "params", "metrics", "seconds"}`` each.

    Raises:
        DataQualityError: a class missing from ``train_df``, or ``valid_df`` not later.
    """
    _check_out_of_time(train_df, valid_df)
    inputs = [*feature_columns, *categorical_columns]
    counts = train_df.agg(*[F.count(c).alias(c) for c in inputs]).collect()[0].asDict()
    features = [c for c in inputs if counts[c] > 0]
    categorical = [c for c in categorical_columns if counts[c] > 0]
    if len(features) < len(inputs):
        log.warning("churn: features null on every training row left out: %s",
                    sorted(set(inputs) - set(features)))
    label = F.col(LABEL).cast("double").alias(LABEL)
    prepared_df = _class_weights(train_df.select("customer_id", *features, label)).cache()

    def fit_and_evaluate(name: str, params: dict) -> tuple[PipelineModel, dict, float]:
        started = time.monotonic()
        model = Pipeline(stages=_stages(name, params, features, seed, categorical)).fit(prepared_df)
        metrics = evaluate_churn(model, valid_df)
        return model, metrics, round(time.monotonic() - started, 1)

    grid = budget.candidates()
    try:
        fitted = run_all({str(i): functools.partial(fit_and_evaluate, name, params)
                          for i, (name, params) in enumerate(grid)}, concurrency)
    finally:
        prepared_df.unpersist()
    candidates, best = [], None
    for (name, params), (model, metrics, seconds) in zip(grid, fitted.values(), strict=True):
        log.info("churn candidate %s %s: roc_auc %.4f, pr_auc %.4f (%.1f s)", name, params,
                 metrics["roc_auc"], metrics["pr_auc"], seconds)
        candidates.append({"name": name, "params": params, "metrics": metrics, "seconds": seconds})
        score = metrics[budget.select_by]
        if best is None or (score is not None and score > best[0]):
            best = (score if score is not None else -math.inf, name, params, model, metrics)
    assert best is not None  # the budget has at least one candidate
    _, name, params, model, metrics = best
    return ChurnResult(model=model, name=name, params=params, metrics=metrics,
                       feature_importances=_importances(model, features, categorical),
                       feature_columns=tuple(features), candidates=candidates,
                       categorical_columns=tuple(categorical))


def refit_churn(result: ChurnResult, train_df: DataFrame, seed: int = 42) -> ChurnResult:
    """The configuration ``result`` chose, fitted again on ``train_df`` (e.g. training and
    validation rows once the choice is made).

    Args:
        result: a ``train_churn`` result; its columns, model family and params are reused.
        train_df: requires ``customer_id``, ``result.feature_columns`` and ``churned``.
        seed: seed of the GBT.

    Returns:
        ``result`` with the new model and its importances; ``metrics`` and ``candidates`` stay
        those of the choice (the new model has not been evaluated).

    Raises:
        DataQualityError: a class missing from ``train_df``.
    """
    features, categorical = list(result.feature_columns), list(result.categorical_columns)
    label = F.col(LABEL).cast("double").alias(LABEL)
    prepared_df = _class_weights(train_df.select("customer_id", *features, label)).cache()
    try:
        stages = _stages(result.name, result.params, features, seed, categorical)
        model = Pipeline(stages=stages).fit(prepared_df)
    finally:
        prepared_df.unpersist()
    return dataclasses.replace(result, model=model,
                               feature_importances=_importances(model, features, categorical))
