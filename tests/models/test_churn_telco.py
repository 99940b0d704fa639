"""Churn on the real IBM Telco table through conf/examples/telco_churn.yml, as a user runs it:
`crm-spark ... ingest --source telco_customers`, then `crm-spark ... train churn`.

The expected band is the published one (../shared/data/README.md: test ROC-AUC about 0.83-0.86,
logistic regression about 0.858 on an 80/20 split), not a figure this code produced.
"""

from __future__ import annotations

import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from crm_spark.cli import main
from crm_spark.models import tracking
from crm_spark.tables import Lake
from tests import conftest
from tests.conftest import PROJECT, SHARED_DATA, make_config

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (SHARED_DATA / "telco_churn").is_dir(),
                                 reason="../shared/data not present")]

EXAMPLE = PROJECT / "conf" / "examples" / "telco_churn.yml"
TELCO_ROWS, TELCO_CHURNED = 7_043, 1_869
# a small search budget keeps the test short: one logistic regression and one GBT
BUDGET = ["models.churn_max_candidates=2", f"sources.telco_customers.location={SHARED_DATA / 'telco_churn'}"]


def test_telco_trains_through_the_example_config_within_the_published_band(spark, tmp_path, capsys):
    options = ["--conf", str(EXAMPLE)]
    for override in [*conftest.test_overrides(tmp_path), *BUDGET]:
        options += ["--set", override]
    assert main([*options, "ingest", "--source", "telco_customers"]) == 0
    assert main([*options, "train", "churn"]) == 0

    cfg = make_config(tmp_path, BUDGET, conf_files=[EXAMPLE])
    version = tracking.version_info(cfg, "crm_churn", tracking.CHALLENGER)
    assert version.version == 1
    assert tracking.version_info(cfg, "crm_churn", tracking.CHAMPION).version == 1  # auto_promote, no rival
    params, metrics = version.params, version.metrics
    with capsys.disabled():
        print(f"\nTelco churn ({params['model']}): test ROC-AUC {metrics['roc_auc']:.4f}, PR-AUC "
              f"{metrics['pr_auc']:.4f}, top-decile lift {metrics['lift_top_decile']:.2f}, brier "
              f"{metrics['brier']:.4f}; validation ROC-AUC {metrics['valid_roc_auc']:.4f}")
    assert 0.82 <= metrics["roc_auc"] <= 0.88
    assert params["split_kind"] == "stratified"
    assert params["churn_table"] == "bronze.telco_customers"
    # 20 % of each class is test data: churners round(1869 * 0.2) = 374, stayers round(5174 * 0.2) = 1035
    assert metrics["n"] == 374 + 1035
    assert metrics["base_rate"] == pytest.approx(374 / 1409)
    assert (params["train_rows"], params["train_churned"]) == (str(7043 - 2 * 1409), str(1869 - 2 * 374))
    importances = tracking.load_run_dict(cfg, version.run_id, "feature_importance.json")
    assert set(importances) == {*cfg.models.churn_numeric_features, *cfg.models.churn_categorical_features}

    # the registered model scores the table's raw rows
    raw_df = Lake(spark, cfg.lake.root).read("bronze.telco_customers")
    churn_p = vector_to_array(F.col("probability"))[1]
    scored = (tracking.load_spark_model(cfg, "crm_churn").transform(raw_df)
              .agg(F.count(F.lit(1)).alias("n"), F.min(churn_p).alias("low"), F.max(churn_p).alias("high"))
              .first())
    assert scored["n"] == TELCO_ROWS
    assert 0.0 <= scored["low"] < 0.5 < scored["high"] <= 1.0

    # the docs' snippets about this example run as printed on this lake (tests/test_doc_snippets.py)
    from tests.test_doc_snippets import run_blocks, telco_blocks

    run_blocks(telco_blocks(), tmp_path)
