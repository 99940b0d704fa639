"""Probabilistic (Fellegi-Sunter) matching of contact records with Splink on Spark.

The model: per-field comparisons with graded agreement levels (Jaro-Winkler on names with
term-frequency adjustment for common names, exact and fuzzy e-mail, phone, date of birth,
postcode, street, city, state and country), the prior from exact rules, u probabilities from
random pairs, m probabilities by EM on blocked pairs without labels (``training``). The
trained model is a JSON document kept in ``silver.identity_model`` so a later run reuses it
(and explains its scores) unless ``identity.retrain`` is set.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.config import IDENTITY_MATCH_COLUMNS, IdentityConfig
from crm_spark.context import RunContext
from crm_spark.identity import pairs, training
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

MODEL = "silver.identity_model"
MODEL_PARAMS = "silver.identity_model_params"
LINK_COLUMNS = ("record_id", *IDENTITY_MATCH_COLUMNS)


def settings(cfg: IdentityConfig, prior: float = 0.0001, scoped: bool = False,
             dialect: str = "spark") -> dict:
    """The Splink settings: comparisons, the prior, and the blocking rules for prediction
    (``scoped``: pairs within a deduplicated source excluded, see ``pairs``), in the SQL of
    ``dialect`` (``spark`` or, to train on the driver, ``duckdb``)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=prior,
        comparisons=[
            cl.NameComparison("first_name_match").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name_match").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email_match"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.PostcodeComparison("postcode"),
            cl.LevenshteinAtThresholds("street_match", [2]),
            cl.ExactMatch("city_match").configure(term_frequency_adjustments=True),
            cl.ExactMatch("state_match").configure(term_frequency_adjustments=True),
            cl.ExactMatch("country"),
        ],
        # splink takes SQL strings here (to_blocking_rule_creator) but annotates only creators and dicts
        blocking_rules_to_generate_predictions=[pairs.rule_sql(rule, scoped)  # type: ignore[misc]
                                                for rule in cfg.blocking],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    ).get_settings(dialect).as_dict()


def score_pairs(spark: SparkSession, lake: Lake, records_df: DataFrame, cfg: IdentityConfig,
                ctx: RunContext, scratch: str) -> DataFrame:
    """Pairs of records with their match probability at or above ``cfg.threshold``.

    Splink's intermediate tables (term frequencies, blocked pairs, comparison vectors, the
    scored pairs) are written as Parquet under ``scratch``, which the caller deletes once it
    has materialised the result. Splink's other way, caching them, was not reused between EM
    iterations here: every iteration recomputed its blocked pairs (at 1M persons 78 s per
    iteration cached, against seconds from Parquet; docs/benchmarks.md).

    Args:
        records_df: one row per record with :data:`LINK_COLUMNS`, ``source`` and ``dedupe_scope``.

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
    from splink import Linker

    scoped = pairs.is_scoped(cfg)
    saved = None if cfg.retrain else load_model(lake)
    rules = [] if saved is not None else [*cfg.prior_rules, *cfg.training_blocking]
    counts = pairs.pair_counts(records_df, [*cfg.blocking, *rules], scoped)
    if counts[()] == 0 or not any(counts[rule] for rule in cfg.blocking):
        # no candidate pair: a model could score nothing, so none is trained (D72)
        log.info("identity: no two records agree on a rule of identity.blocking; nothing to score, "
                 "no matching model trained")
        return spark.createDataFrame([], "record_id_l STRING, record_id_r STRING, match_probability DOUBLE")
    db_api = _spark_api(spark)
    records = db_api.register(records_df.select(*LINK_COLUMNS, pairs.SCOPE))
    if saved is not None:
        log.info("identity: reusing the model trained by run %s", saved["run_id"])
        model = json.loads(saved["settings_json"])
        model["blocking_rules_to_generate_predictions"] = settings(cfg, scoped=scoped)[
            "blocking_rules_to_generate_predictions"]
        linker = Linker(records, model)
    else:
        linker = Linker(records, trained_model(spark, records_df, records, cfg, counts, scoped))
        save_model(lake, linker, ctx)
    predictions = linker.inference.predict(threshold_match_probability=cfg.threshold)
    return predictions.as_spark_dataframe().select(
        "record_id_l", "record_id_r", F.col("match_probability").cast("double"))


def trained_model(spark: SparkSession, records_df: DataFrame, records, cfg: IdentityConfig,
                  counts: dict, scoped: bool) -> dict:
    """The Splink model (settings with the prior, m and u) trained on these records.

    Up to ``identity.train_on_driver_max_records`` records, the model is trained by Splink's
    DuckDB backend on a copy of the records on the driver, and its parameters are set on the
    Spark settings: on 5,000 records Spark's backend spent about a minute planning the small
    jobs of u sampling and EM, DuckDB a few seconds (D94). Above it, Spark's backend trains.

    Args:
        records: ``records_df`` registered with Splink's Spark backend.
        counts: :func:`~crm_spark.identity.pairs.pair_counts` of the prior and training rules.
    """
    from splink import DuckDBAPI, Linker

    size = records_df.count()
    if size > cfg.train_on_driver_max_records:
        linker = Linker(records, settings(cfg, training.prior(records, cfg, counts, scoped), scoped))
        training.train(spark, linker, cfg, counts, scoped)
        return linker.misc.save_model_to_json()
    log.info("identity: training on the driver (DuckDB): %d records, at most "
             "identity.train_on_driver_max_records=%d", size, cfg.train_on_driver_max_records)
    local = DuckDBAPI().register(records_df.select(*LINK_COLUMNS, pairs.SCOPE).toPandas())
    linker = Linker(local, settings(cfg, training.prior(local, cfg, counts, scoped), scoped, "duckdb"))
    training.train(None, linker, cfg, counts, scoped)
    return training.with_learned_parameters(settings(cfg, scoped=scoped), linker.misc.save_model_to_json())


# Splink's table of agreement-pattern counts, the only input of its EM iterations (with
# estimate_without_term_frequencies): its Spark backend keeps it as a view, so each iteration
# grouped every comparison vector again (D73).
EM_INPUT = "__splink__agreement_pattern_counts"


def _spark_api(spark: SparkSession):
    """Splink's Spark backend (intermediate tables as Parquet, D29), which also writes the EM
    input :data:`EM_INPUT` once per EM session instead of recomputing it every iteration."""
    from splink import SparkAPI

    class SparkAPIKeepingEmInput(SparkAPI):
        def _break_lineage_and_repartition(self, spark_df, templated_name, physical_name):
            spark_df = super()._break_lineage_and_repartition(spark_df, templated_name, physical_name)
            if templated_name != EM_INPUT:
                return spark_df
            path = f"{self._get_checkpoint_dir_path(spark_df).rstrip('/')}/{physical_name}"
            spark_df.write.mode("overwrite").parquet(path)
            return self.spark.read.parquet(path)

    return SparkAPIKeepingEmInput(spark_session=spark, break_lineage_method="parquet",
                                  num_partitions_on_repartition=max(2, spark.sparkContext.defaultParallelism))


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
