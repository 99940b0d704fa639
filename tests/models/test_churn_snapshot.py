"""Churn on a snapshot table with an explicit flag: configuration, the stratified split by hand,
categorical inputs inside the model, and bad input refused before anything is logged."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from crm_spark.errors import ConfigError, DataQualityError, SchemaContractError
from crm_spark.models import tracking
from crm_spark.models.churn import SearchBudget, score_churn, train_churn, with_explicit_label
from crm_spark.models.churn_snapshot import snapshot_settings, train, with_stratified_split
from crm_spark.pipeline import RunContext
from crm_spark.tables import Lake
from tests.conftest import make_config

EXPLICIT = ["models.churn_label=explicit", "models.churn_table=bronze.subscribers",
            "models.churn_id_column=sub_id", "models.churn_flag_column=left",
            "models.churn_flag_true=['Yes']", "models.churn_flag_false=['No']",
            "models.churn_numeric_features=[months]", "models.churn_categorical_features=[plan]"]


def test_explicit_churn_configuration_is_read(tmp_path):
    s = snapshot_settings(make_config(tmp_path, EXPLICIT))
    assert (s.table, s.id_column, s.flag_column, s.flag_true, s.flag_false) == (
        "bronze.subscribers", "sub_id", "left", ("Yes",), ("No",))
    assert (s.numeric, s.categorical, s.valid_fraction, s.test_fraction, s.seed) == (
        ("months",), ("plan",), 0.2, 0.2, 42)
    assert make_config(tmp_path).models.churn_label == "purchases"  # the generated-data default


@pytest.mark.parametrize("extra, message", [
    (["models.churn_label=flag"], "churn_label: 'flag' is not purchases or explicit"),
    (["models.churn_table=null"], "models.churn_table: is required when churn_label is explicit"),
    (["models.churn_table=subscribers"], "'subscribers' is not a table name"),
    (["models.churn_numeric_features=[]", "models.churn_categorical_features=[]"], "at least one"),
    (["models.churn_categorical_features=[months]"], "'months' is listed twice"),
    (["models.churn_numeric_features=[sub_id]"], "churn_id_column: 'sub_id' cannot also be a feature"),
    (["models.churn_flag_false=[' yes', 'No']"], "churn_flag_false: ['yes'] also in churn_flag_true"),
    (["models.churn_flag_true=[Yes]"], "churn_flag_true.0: expected a string, got a boolean"),  # YAML 1.1
    (["models.churn_test_fraction=0"], "churn_test_fraction: must be a fraction in (0, 1)"),
    (["models.churn_test_fraction=0.5", "models.churn_valid_fraction=0.5"], "must be below 1"),
    (["models.churn_numeric_features=['monthly charges']"], "'monthly charges' is not a column name"),
])
def test_explicit_churn_configuration_errors_name_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError) as error:
        make_config(tmp_path, [*EXPLICIT, *extra])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_explicit_label_with_configured_spellings(spark):
    df = spark.createDataFrame([("a", "Yes"), ("b", " no "), ("c", "YES")], "id string, flag string")
    labelled = with_explicit_label(df, "flag", ("Yes",), ("No",)).select("id", "churned")
    assert sorted(labelled.collect()) == [("a", 1), ("b", 0), ("c", 1)]
    bad_df = spark.createDataFrame([("a", "Yes"), ("b", "1"), ("c", None)], "id string, flag string")
    with pytest.raises(DataQualityError, match=r"e\.g\. \['1', None\]|e\.g\. \[None, '1'\]"):
        with_explicit_label(bad_df, "flag", ("Yes",), ("No",))


def split_counts(df):
    counts = df.groupBy("_split", "churned").count().collect()
    return {(r["_split"], r["churned"]): r["count"] for r in counts}


def test_stratified_split_keeps_each_class_share_by_hand(spark):
    # 10 churners and 20 stayers; test 0.2, validation 0.3. Churners: test round(2.0) = 2, validation
    # round(5.0) - 2 = 3, train 5. Stayers: test round(4.0) = 4, validation round(10.0) - 4 = 6, train 10.
    rows = [(f"id{i:02d}", int(i < 10)) for i in range(30)]
    df = spark.createDataFrame(rows, "customer_id string, churned int")
    split_df = with_stratified_split(df, "churned", "customer_id", 0.3, 0.2, seed=7)
    assert split_counts(split_df) == {("test", 1): 2, ("valid", 1): 3, ("train", 1): 5,
                                      ("test", 0): 4, ("valid", 0): 6, ("train", 0): 10}

    assignment = sorted(split_df.select("customer_id", "_split").collect())
    shuffled_df = with_stratified_split(df.repartition(5, "customer_id"), "churned", "customer_id", 0.3, 0.2,
                                        seed=7)
    assert sorted(shuffled_df.select("customer_id", "_split").collect()) == assignment  # not partition-bound
    other_seed_df = with_stratified_split(df, "churned", "customer_id", 0.3, 0.2, seed=8)
    assert sorted(other_seed_df.select("customer_id", "_split").collect()) != assignment


def planted_plans(spark, n: int, seed: int):
    """Churn depends on the plan only: monthly 60 %, yearly 5 %; a tenth has no plan (churn 30 %);
    ``months`` is noise."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["monthly", "yearly", None], n, p=[0.45, 0.45, 0.10])
    p = np.select([plan == "monthly", plan == "yearly"], [0.6, 0.05], 0.3)
    churned = (rng.random(n) < p).astype(int)
    rows = [(f"c{seed}_{i:05d}", None if plan[i] is None else str(plan[i]), float(rng.uniform(0, 72)),
             int(churned[i])) for i in range(n)]
    return spark.createDataFrame(rows, "customer_id string, plan string, months double, churned int")


def test_categorical_inputs_are_encoded_inside_the_model(spark):
    train_df, valid_df = planted_plans(spark, 1500, seed=1), planted_plans(spark, 800, seed=2)
    budget = SearchBudget(max_candidates=2, gbt_max_depth=(2,), gbt_max_iter=(10,), lr_reg_param=(0.01,))
    result = train_churn(train_df, valid_df, ["months"], budget, seed=42, categorical_columns=["plan"])

    assert result.feature_columns == ("months", "plan")
    assert result.categorical_columns == ("plan",)
    assert set(result.feature_importances) == {"months", "plan"}
    assert sum(result.feature_importances.values()) == pytest.approx(1.0)
    assert result.feature_importances["plan"] > result.feature_importances["months"]
    # Ranking by the true probability: churners are 0.27 monthly, 0.03 no plan, 0.0225 yearly of all rows,
    # stayers 0.18, 0.07, 0.4275. AUC = (0.27 * 0.4975 + 0.03 * 0.4275 + (0.27 * 0.18 + 0.03 * 0.07
    # + 0.0225 * 0.4275) / 2) / (0.3225 * 0.6775) = 0.811; 800 validation rows: a standard error near 0.02.
    assert result.metrics["roc_auc"] > 0.75

    # Raw rows score, including a plan never seen in training, a missing plan and missing months.
    raw_df = spark.createDataFrame([("m", "monthly", 10.0), ("y", "yearly", 10.0), ("n", "weekly", 10.0),
                                    ("z", None, 10.0), ("w", "monthly", None)],
                                   "customer_id string, plan string, months double")
    p = {r["customer_id"]: r["churn_probability"] for r in score_churn(result.model, raw_df).collect()}
    # Class weights balance the classes: monthly odds 0.6 / 0.4 * 0.6775 / 0.3225 = 3.2 -> p = 0.76;
    # yearly 0.05 / 0.95 * 2.1 = 0.11 -> p = 0.10.
    assert p["m"] > 0.5 > p["y"]
    assert p["n"] == pytest.approx(p["z"], abs=1e-12)  # unseen and missing share the all-zero code
    assert 0.0 < p["w"] < 1.0


SUBSCRIBERS = "sub_id string, plan string, months int, left string"


def test_train_refuses_bad_tables_and_registers_nothing(spark, tmp_path):
    cfg = make_config(tmp_path, EXPLICIT)
    lake = Lake(spark, cfg.lake.root)
    ctx = RunContext("t", dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    rows = [("s1", "monthly", 3, "Yes"), ("s2", "yearly", 30, "No"), ("s1", "yearly", 12, "No")]
    lake.overwrite(spark.createDataFrame(rows, SUBSCRIBERS), "bronze.subscribers")
    with pytest.raises(DataQualityError, match="sub_id must identify one row per customer; 3 rows, 0 with"):
        train(spark, cfg, ctx)

    lake.overwrite(spark.createDataFrame(rows[:2], SUBSCRIBERS).drop("plan").withColumn(
        "months", F.col("months").cast("string")), "bronze.subscribers")
    with pytest.raises(SchemaContractError, match=r"missing plan; mistyped months \(string, expected a"):
        train(spark, cfg, ctx)
    assert tracking.model_versions(cfg, "crm_churn") == []
