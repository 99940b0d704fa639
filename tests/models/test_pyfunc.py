"""The registered CLV model takes its documented input: integer counts, float times, a missing
spend (issue 21, point 4; D49). No Spark: MLflow alone, as another program uses it."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from crm_spark.models import pyfunc, tracking
from tests.conftest import make_config


def test_the_clv_model_accepts_integer_counts_and_refuses_a_misnamed_column(tmp_path):
    cfg = make_config(tmp_path)
    params = {"bgnbd_r": 0.5, "bgnbd_alpha": 10.0, "bgnbd_a": 0.8, "bgnbd_b": 2.5,
              "gg_p": 6.0, "gg_q": 4.0, "gg_v": 15.0}
    model = pyfunc.ClvModel(params, horizon=365.0, discount_rate=0.0, step=7.0, time_unit="days")
    with tracking.training_run(cfg, "crm_clv", {}, {}):
        uri = tracking.log_pyfunc_model(cfg, model, signature=pyfunc.clv_signature())
    tracking.register(cfg, uri, "crm_clv")

    loaded = mlflow.pyfunc.load_model("models:/crm_clv@challenger")
    summaries = pd.DataFrame({"x": [3, 0], "t_x": [200.0, 0.0], "T": [400.0, 30.0], "m_x": [42.0, None]})
    predicted = loaded.predict(summaries)

    assert list(predicted.columns) == ["expected_purchases", "probability_alive", "expected_avg_spend", "clv"]
    # BG/NBD: a customer with no repeat purchase has not been seen dropping out, P(alive) = 1
    assert predicted["probability_alive"][1] == pytest.approx(1.0)
    assert 0.0 < predicted["probability_alive"][0] <= 1.0
    schema = loaded.metadata.get_input_schema()
    assert [(c.name, c.type.name, c.required) for c in schema.inputs] == [
        ("x", "long", True), ("t_x", "double", True), ("T", "double", True), ("m_x", "double", False)]
    with pytest.raises(mlflow.exceptions.MlflowException, match="t_x"):
        loaded.predict(summaries.rename(columns={"t_x": "tx"}))


def test_the_churn_signature_declares_counts_long_and_other_numbers_double():
    signature = pyfunc.churn_signature(["recency_days", "purchases_90d", "avg_order_value"],
                                       counts=["purchases_90d"])
    assert [(c.name, c.type.name) for c in signature.inputs.inputs] == [
        ("recency_days", "double"), ("purchases_90d", "long"), ("avg_order_value", "double")]
    assert [c.name for c in signature.outputs.inputs] == ["prediction"]
