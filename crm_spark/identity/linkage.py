"""Probabilistic (Fellegi-Sunter) matching of contact records with Splink on Spark.

The model: per-field comparisons with graded agreement levels (Jaro-Winkler on names with
term-frequency adjustment for common names, exact and fuzzy e-mail, phone, date of birth,
postcode and city), u probabilities from random pairs, m probabilities by EM on blocked pairs
without labels. The trained model is a JSON document kept in ``silver.identity_model`` so a
later run reuses it (and explains its scores) unless ``identity.retrain`` is set.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import IdentityConfig
from crm_spark.errors import CrmSparkError
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

MODEL = "silver.identity_model"
MODEL_PARAMS = "silver.identity_model_params"
LINK_COLUMNS = ("record_id", "first_name_match", "last_name_match", "email_match", "email_local",
                "phone", "birth_date", "postcode", "postcode_match", "city_match")


def settings(cfg: IdentityConfig) -> dict:
    """The Splink settings: comparisons and the blocking rules for prediction."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("first_name_match").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name_match").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email_match"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("city_match").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in cfg.blocking],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    ).get_settings("spark").as_dict()


def score_pairs(spark: SparkSession, lake: Lake, records_df: DataFrame, cfg: IdentityConfig,
                ctx: RunContext, scratch: str) -> DataFrame:
    """Pairs of records with their match probability at or above ``cfg.threshold``.

    Splink's intermediate tables (term frequencies, blocked pairs, comparison vectors, the
    scored pairs) are written as Parquet under ``scratch``, which the caller deletes once it
    has materialised the result. Splink's other way, caching them, was not reused between EM
    iterations here: every iteration recomputed its blocked pairs (at 1M persons 78 s per
    iteration cached, against seconds from Parquet; docs/benchmarks.md).

    Args:
        records_df: one row per record with :data:`LINK_COLUMNS`.

    Returns:
        ``record_id_l, record_id_r, match_probability`` (each pair once), read from ``scratch``.
    """
    with _checkpoint_dir(spark, scratch):
        return _score_pairs(spark, lake, records_df, cfg, ctx)


@contextmanager
def _checkpoint_dir(spark: SparkSession, path: str):
    """Spark's checkpoint folder set to ``path`` (where Splink writes), then put back."""
    context = spark.sparkContext
    previous = context.getCheckpointDir()
    context.setCheckpointDir(path)
    try:
        yield
    finally:
        if previous:
            context.setCheckpointDir(previous)


def _score_pairs(spark: SparkSession, lake: Lake, records_df: DataFrame, cfg: IdentityConfig,
                 ctx: RunContext) -> DataFrame:
    from splink import Linker, SparkAPI

    db_api = SparkAPI(spark_session=spark, break_lineage_method="parquet",
                      num_partitions_on_repartition=max(2, spark.sparkContext.defaultParallelism))
    records = db_api.register(records_df.select(*LINK_COLUMNS))
    saved = None if cfg.retrain else load_model(lake)
    if saved is not None:
        log.info("identity: reusing the model trained by run %s", saved["run_id"])
        model = json.loads(saved["settings_json"])
        model["blocking_rules_to_generate_predictions"] = settings(cfg)[
            "blocking_rules_to_generate_predictions"]
        linker = Linker(records, model)
    else:
        linker = Linker(records, settings(cfg))
        train(linker, cfg)
        save_model(lake, linker, ctx)
    predictions = linker.inference.predict(threshold_match_probability=cfg.threshold)
    return predictions.as_spark_dataframe().select(
        "record_id_l", "record_id_r", F.col("match_probability").cast("double"))


def train(linker, cfg: IdentityConfig) -> None:
    """u from random pairs, lambda from the deterministic rules, m by EM per training rule."""
    from splink import block_on
    from splink.internals.exceptions import EMTrainingException  # not re-exported by splink 5

    start = time.perf_counter()
    deterministic = [block_on(column) for column in ("email_match", "phone")]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=cfg.max_pairs_for_u, seed=cfg.seed)
    trained = 0
    for rule in cfg.training_blocking:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True)
            trained += 1
        except EMTrainingException:
            # a source without that identifier (e.g. no phone numbers): the other rules train
            log.warning("identity: training rule %s gives no record pairs in this data; skipped",
                        "+".join(rule))
    if not trained:
        raise CrmSparkError(
            "identity: no rule of identity.training_blocking ("
            + ", ".join("+".join(rule) for rule in cfg.training_blocking)
            + ") gives record pairs in this data; add a rule on columns it holds, or set "
              "identity.probabilistic=false")
    log.info("identity: trained the matching model in %.1f s", time.perf_counter() - start)


def save_model(lake: Lake, linker, ctx: RunContext) -> None:
    """Keep the model JSON and its m/u table (one row per comparison level)."""
    model = linker.misc.save_model_to_json()
    spark = lake.spark
    model_df = spark.createDataFrame(
        [(ctx.run_id, ctx.now(), json.dumps(model, sort_keys=True))],
        "run_id STRING, trained_at TIMESTAMP, settings_json STRING")
    lake.append(model_df, MODEL)
    rows = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            rows.append((ctx.run_id, comparison["output_column_name"], level["label_for_charts"],
                         m, u, (m / u) if m and u else None))
    params_df = spark.createDataFrame(
        rows, "run_id STRING, comparison STRING, level STRING, m_probability DOUBLE, "
              "u_probability DOUBLE, bayes_factor DOUBLE")
    lake.append(params_df, MODEL_PARAMS)


def load_model(lake: Lake):
    """The latest saved model row, or None."""
    if not lake.exists(MODEL):
        return None
    return lake.read(MODEL).orderBy(F.col("trained_at").desc(), F.col("run_id").desc()).first()
