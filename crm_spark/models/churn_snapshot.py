"""Churn on a snapshot table with an explicit churn flag (``models.churn_label: explicit``).

Subscription-style data such as IBM's Telco table holds one row per customer: attributes and a
flag saying whether the customer left. It has no time axis, so the out-of-time validation of the
purchase-based model is impossible; the rows are split stratified by the flag with a fixed seed
instead (docs/decisions.md D21): within each class the rows are ordered by a seeded hash of the
id, the first ``test_fraction`` of them form the test set, the next ``valid_fraction`` the
validation set, the rest the training set. ``churn.train_churn`` fits the search budget's
candidates on the training rows and picks one on the validation rows; that configuration is
fitted again on training + validation rows, and its metrics on the untouched test rows are the
run's ``roc_auc``, ``pr_auc``, ... (the selection figures are logged as ``valid_<metric>``).

The registered model is one Spark ML Pipeline from the table's raw columns (numeric casts and
imputation, categorical one-hot encoding) to the churn probability, so it scores raw rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, NumericType

from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import DataQualityError, SchemaContractError
from crm_spark.models import churn, tracking
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

SPLIT = "_split"
TRAIN, VALID, TEST = "train", "valid", "test"
SPLIT_KIND = "stratified"
# the params that fix which rows are test rows: a champion logged with the same values never
# trained on them, so it can be compared with the challenger on them
SAME_TEST_ROWS = ("label", "churn_table", "split_kind", "split_seed", "valid_fraction", "test_fraction")


@dataclass(frozen=True)
class SnapshotSettings:
    """Where the snapshot is and how to read it (the ``models.churn_*`` keys)."""

    table: str
    id_column: str
    flag_column: str
    flag_true: tuple[str, ...]
    flag_false: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    valid_fraction: float
    test_fraction: float
    seed: int

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


def snapshot_settings(cfg: Config) -> SnapshotSettings:
    m = cfg.models
    # required when churn_label is explicit, the only case that reads the table
    assert m.churn_table and m.churn_id_column and m.churn_flag_column
    return SnapshotSettings(table=m.churn_table, id_column=m.churn_id_column, flag_column=m.churn_flag_column,
                            flag_true=m.churn_flag_true, flag_false=m.churn_flag_false,
                            numeric=m.churn_numeric_features, categorical=m.churn_categorical_features,
                            valid_fraction=m.churn_valid_fraction, test_fraction=m.churn_test_fraction,
                            seed=m.seed)


def with_stratified_split(df: DataFrame, label_col: str, id_col: str, valid_fraction: float,
                          test_fraction: float, seed: int) -> DataFrame:
    """Add ``_split`` (``train``, ``valid`` or ``test``), the same share of every class in each.

    In a class of n rows ordered by ``xxhash64(seed, id)`` (then id), rows 1..round(n * test)
    are test, up to round(n * (test + valid)) valid, the rest train. The order depends on the
    ids and the seed only, not on partitioning, so a re-run splits the same way.

    Args:
        df: requires ``label_col`` and ``id_col`` (unique).

    Returns:
        ``df`` and ``_split`` (STRING).
    """
    order = F.xxhash64(F.lit(seed), F.col(id_col).cast("string"))
    # exact per-class shares need each class ranked as a whole: one task per class, which a
    # snapshot of a few million customers sorts in seconds
    in_class = Window.partitionBy(label_col).orderBy(order, F.col(id_col))
    whole_class = Window.partitionBy(label_col).rowsBetween(Window.unboundedPreceding,
                                                            Window.unboundedFollowing)
    rank = F.row_number().over(in_class)
    n = F.count(F.lit(1)).over(whole_class)
    split = (F.when(rank <= F.round(n * test_fraction), F.lit(TEST))
             .when(rank <= F.round(n * (test_fraction + valid_fraction)), F.lit(VALID))
             .otherwise(F.lit(TRAIN)))
    return df.withColumn(SPLIT, split)


def check_columns(table_df: DataFrame, s: SnapshotSettings) -> None:
    """The table has the id, flag and feature columns, and the numeric ones are numbers.

    Raises:
        SchemaContractError: naming the missing and the mistyped columns.
    """
    types = {f.name: f.dataType for f in table_df.schema.fields}
    missing = [c for c in (s.id_column, s.flag_column, *s.features) if c not in types]
    mistyped = [f"{c} ({types[c].simpleString()}, expected a number)" for c in s.numeric
                if c in types and not isinstance(types[c], NumericType | BooleanType)]
    if missing or mistyped:
        raise SchemaContractError(f"models.churn_table {s.table}", missing, mistyped)


def snapshot_dataset(table_df: DataFrame, s: SnapshotSettings) -> DataFrame:
    """The labelled, split snapshot.

    Args:
        table_df: requires the id, flag and feature columns of ``s``.

    Returns:
        ``customer_id`` (STRING), the feature columns as they are, ``churned`` (INT), ``_split``.

    Raises:
        DataQualityError: a flag in neither ``s.flag_true`` nor ``s.flag_false``.
    """
    labelled_df = churn.with_explicit_label(table_df, s.flag_column, s.flag_true, s.flag_false)
    return (labelled_df.select(F.col(s.id_column).cast("string").alias("customer_id"), *s.features,
                               churn.LABEL)
            .transform(lambda df: with_stratified_split(df, churn.LABEL, "customer_id", s.valid_fraction,
                                                        s.test_fraction, s.seed)))


def check_ids(dataset_df: DataFrame, s: SnapshotSettings) -> dict[str, int]:
    """Every row has an id and no id repeats (metrics join scores back on it).

    Returns:
        rows per split and per split's churners, e.g. ``{"train_rows": 4225, "train_churned": 1121, ...}``.

    Raises:
        DataQualityError: null or repeated ids, or an empty table.
    """
    per_split = []
    for part in (TRAIN, VALID, TEST):
        in_part = F.col(SPLIT) == part
        per_split += [F.count(F.when(in_part, 1)).alias(f"{part}_rows"),
                      F.sum(F.when(in_part, F.col(churn.LABEL)).otherwise(0)).alias(f"{part}_churned")]
    row = dataset_df.agg(F.count(F.lit(1)).alias("rows"), F.count("customer_id").alias("ids"),
                         F.countDistinct("customer_id").alias("distinct"), *per_split).collect()[0]
    if row["rows"] == 0:
        raise DataQualityError(f"models.churn_table {s.table} is empty")
    if row["ids"] < row["rows"] or row["distinct"] < row["ids"]:
        raise DataQualityError(f"models.churn_table {s.table}: {s.id_column} must identify one row per "
                               f"customer; {row['rows']} rows, {row['rows'] - row['ids']} without an id, "
                               f"{row['distinct']} distinct ids")
    return {k: int(row[k]) for k in row.asDict() if k.startswith((TRAIN, VALID, TEST))}


def train(spark: SparkSession, cfg: Config, ctx: RunContext) -> dict[str, float]:
    """Train, log, register (alias ``challenger``) and maybe promote ``crm_churn`` on the snapshot
    (module doc). ``ctx`` is unused: a snapshot has no as-of date.

    Returns:
        ``version`` and the logged metrics (test metrics unprefixed, ``valid_*``, ``champion_*``).

    Raises:
        TableNotFoundError, SchemaContractError, DataQualityError: the table, its columns, its
            ids or flags are not usable; nothing is logged or registered then.
    """

    s = snapshot_settings(cfg)
    lake = Lake(spark, cfg.lake.root)
    table_df = lake.read(s.table)
    check_columns(table_df, s)
    dataset_df = snapshot_dataset(table_df, s).persist()
    try:
        counts = check_ids(dataset_df, s)
        parts = {p: dataset_df.filter(F.col(SPLIT) == p).drop(SPLIT) for p in (TRAIN, VALID, TEST)}
        budget = churn.SearchBudget(max_candidates=cfg.models.churn_max_candidates)
        chosen = churn.train_churn(parts[TRAIN], parts[VALID], s.numeric, budget, s.seed,
                                   categorical_columns=s.categorical, concurrency=cfg.spark.concurrency)
        result = churn.refit_churn(chosen, parts[TRAIN].unionByName(parts[VALID]), s.seed)
        test = churn.evaluate_churn(result.model, parts[TEST])
        metrics = {**{k: v for k, v in test.items() if v is not None},
                   **{f"valid_{k}": v for k, v in chosen.metrics.items() if v is not None}}
        versions = tracking.input_versions(lake, [s.table])
        params = {"model": result.name, **result.params, "label": "explicit", "churn_table": s.table,
                  "id_column": s.id_column, "flag_column": s.flag_column, "split_kind": SPLIT_KIND,
                  "split_seed": s.seed, "valid_fraction": s.valid_fraction, "test_fraction": s.test_fraction,
                  "numeric_features": ",".join(s.numeric), "categorical_features": ",".join(s.categorical),
                  **counts}
        metrics |= champion_metrics(cfg, params, versions, parts[TEST])
        # numbers as doubles in the signature: a pyfunc caller may pass nulls, which pandas holds as NaN
        example_df = table_df.select(*[F.col(c).cast("double") if c in s.numeric else F.col(c)
                                       for c in result.feature_columns]).limit(5)
        with tracking.training_run(cfg, "crm_churn", params, versions):
            tracking.log_metrics(cfg, metrics)
            tracking.log_dict(cfg, result.feature_importances, "feature_importance.json")
            tracking.log_dict(cfg, {c["name"] + str(c["params"]): c["metrics"] for c in chosen.candidates},
                              "candidates.json")
            uri = tracking.log_spark_model(cfg, result.model, example_df.toPandas(),
                                           churn.score_churn(result.model, example_df, keep=()).toPandas())
    finally:
        dataset_df.unpersist()
    version = tracking.register(cfg, uri, "crm_churn")
    outcome = tracking.promote_if_configured(cfg, "crm_churn")
    log.info("crm_churn version %d (%s on %s, stratified split): test ROC-AUC %.4f, PR-AUC %.4f, top-decile "
             "lift %.2f; %s", version, result.name, s.table, metrics["roc_auc"], metrics["pr_auc"],
             metrics.get("lift_top_decile", float("nan")), outcome)
    return {"version": version, **metrics}


def champion_metrics(cfg: Config, params: dict, versions: dict[str, int],
                     test_df: DataFrame) -> dict[str, float]:
    """``champion_<metric>`` of the current champion on ``test_df`` when its run held out the same
    rows (same table version, label, split); {} otherwise, and then the challenger wins."""
    champion = tracking.alias_version(cfg, "crm_churn", tracking.CHAMPION)
    if champion is None:
        return {}
    logged = tracking.run_params(cfg, champion.run_id)
    same = {k: params[k] for k in SAME_TEST_ROWS} | {f"input_version.{t}": v for t, v in versions.items()}
    if any(logged.get(k) != str(v) for k, v in same.items()):
        log.info("crm_churn champion version %s was not trained on this split; not compared",
                 champion.version)
        return {}
    old = churn.evaluate_churn(tracking.load_spark_model(cfg, "crm_churn"), test_df)
    return {f"champion_{k}": v for k, v in old.items() if v is not None}
