"""Reading the registry back, rebuilding the churn champion's validation rows and scoring a few
customers, on the session's demo lake (every stage has run once)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from crm_spark.errors import CrmSparkError
from crm_spark.models import churn, review, tracking


def test_registry_reads_back_the_champion_and_its_run(demo_lake):
    cfg, _, _ = demo_lake
    champion = tracking.version_info(cfg, "crm_churn")
    assert "champion" in champion.aliases
    assert champion.version == int(tracking.alias_version(cfg, "crm_churn", "champion").version)
    assert {"as_of", "valid_as_of", "horizon_days", "input_version.silver.orders"} <= set(champion.params)
    assert champion.version in [v.version for v in tracking.model_versions(cfg, "crm_churn")]
    runs = tracking.training_runs(cfg, "crm_churn")
    assert champion.run_id in set(runs["run_id"])
    assert set(runs["model"]) == {"crm_churn"}
    assert runs.loc[runs["run_id"] == champion.run_id, "roc_auc"].item() == pytest.approx(
        champion.metrics["roc_auc"])
    importance = tracking.load_run_dict(cfg, champion.run_id, "feature_importance.json")
    assert sum(importance.values()) == pytest.approx(1.0)
    with pytest.raises(CrmSparkError, match="no artifact"):
        tracking.load_run_dict(cfg, champion.run_id, "nothing.json")
    assert tracking.model_versions(cfg, "no_such_model") == []


def test_rebuilt_holdout_gives_the_metrics_logged_at_training(spark, demo_lake):
    cfg, lake, _ = demo_lake
    champion = tracking.version_info(cfg, "crm_churn")
    assert review.changed_inputs(lake, champion.params) == {}
    holdout_df = review.churn_holdout(spark, cfg, champion.params)
    scored_df = review.score_holdout(tracking.load_spark_model(cfg, "crm_churn"), holdout_df)
    assert scored_df.columns == ["customer_id", "churned", "churn_probability"]
    metrics = churn.churn_metrics(scored_df)
    for name in ("n", "base_rate", "roc_auc", "pr_auc", "brier"):
        assert metrics[name] == pytest.approx(champion.metrics[name], abs=1e-9), name


def test_changed_inputs_names_moved_and_missing_tables(demo_lake):
    _, lake, _ = demo_lake
    current = lake.version("silver.orders")
    params = {"input_version.silver.orders": str(current + 5), "input_version.silver.customers":
              str(lake.version("silver.customers")), "input_version.silver.gone": "3", "as_of": "2024-01-01"}
    assert review.changed_inputs(lake, params) == {"silver.orders": (current + 5, current),
                                                   "silver.gone": (3, None)}


def test_churn_holdout_needs_the_logged_dates(spark, demo_lake):
    cfg, _, _ = demo_lake
    with pytest.raises(CrmSparkError, match="valid_as_of"):
        review.churn_holdout(spark, cfg, {"as_of": "2024-12-31", "horizon_days": "90"})


def test_score_customers_matches_the_score_stage(spark, demo_lake):
    cfg, lake, _ = demo_lake
    as_of = lake.read("gold.churn_scores").agg(F.max("as_of")).first()[0]
    stored = {r["customer_id"]: r["churn_probability"] for r in
              lake.read("gold.churn_scores").filter(F.col("as_of") == F.lit(as_of))
              .orderBy("customer_id").limit(3).collect()}
    ids = [*stored, "nobody"]
    rows = {r["customer_id"]: r for r in review.score_customers(spark, cfg, as_of, ids).collect()}
    assert set(rows) == set(ids)
    clv = {r["customer_id"]: r["clv"] for r in lake.read("gold.clv_scores")
           .filter((F.col("as_of") == F.lit(as_of)) & F.col("customer_id").isin(ids)).collect()}
    recs = {}
    for r in (lake.read("gold.recommendations").filter((F.col("as_of") == F.lit(as_of))
                                                       & F.col("customer_id").isin(ids))
              .orderBy("customer_id", "rank").collect()):
        recs.setdefault(r["customer_id"], []).append(r["product_id"])
    for customer_id, probability in stored.items():
        assert rows[customer_id]["churn_probability"] == pytest.approx(probability)
        assert rows[customer_id]["clv"] == pytest.approx(clv[customer_id])
        assert rows[customer_id]["recommendations"] == recs.get(customer_id)
    nobody = rows["nobody"].asDict()
    assert all(nobody[c] is None for c in nobody if c != "customer_id")
    with pytest.raises(CrmSparkError, match="no customer ids"):
        review.score_customers(spark, cfg, as_of, [])
