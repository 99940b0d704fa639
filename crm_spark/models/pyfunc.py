"""Python-function wrappers that make fitted models loadable by any MLflow consumer.

``ClvModel`` carries the fitted BG/NBD and Gamma-Gamma parameters; its ``predict`` takes a
pandas frame of customer summaries (``x, t_x, T, m_x`` in the model's time unit) and returns
the expectations per row, so another program can score without Spark:
``mlflow.pyfunc.load_model("models:/crm_clv@champion").predict(summaries)``.

Each registered model declares its columns (:func:`clv_signature`, :func:`churn_signature`,
:func:`recs_signature`), so MLflow checks a caller's frame by name and type and a Spark UDF of
the model can be called with its input columns. Counts are ``long``: MLflow refuses to turn an
int64 into a double ("Can not safely convert int64 to float64"), and a count is an integer.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, Schema

CLV_OUTPUTS = ("expected_purchases", "probability_alive", "expected_avg_spend", "clv")


def clv_signature() -> ModelSignature:
    """``x`` (repeat purchases, a count: long); ``t_x``, ``T`` (time of the last purchase and age,
    in the model's time unit: double); ``m_x`` (mean repeat spend: double, null/NaN when ``x`` is
    0) -> the four expectations (double)."""
    inputs = Schema([ColSpec(DataType.long, "x"), ColSpec(DataType.double, "t_x"),
                     ColSpec(DataType.double, "T"), ColSpec(DataType.double, "m_x", required=False)])
    return ModelSignature(inputs, Schema([ColSpec(DataType.double, name) for name in CLV_OUTPUTS]))


def churn_signature(features: Iterable[str], counts: Iterable[str]) -> ModelSignature:
    """The churn model's ``features`` in their order: the ``counts`` among them (never null) as
    long, every other number as double (an unknown value is NaN, which an integer cannot hold)
    -> ``prediction``: the predicted class, 1.0 for churn (the Spark ML model's output; the
    probability comes from the Spark ML model itself, docs/models.md)."""
    counts = set(counts)
    inputs = Schema([ColSpec(DataType.long if name in counts else DataType.double, name)
                     for name in features])
    return ModelSignature(inputs, Schema([ColSpec(DataType.double, "prediction")]))


def recs_signature() -> ModelSignature:
    """``user_idx``, ``item_idx`` (the ALS indices of ``features.recs_interactions``: long, so that
    both Spark's INT and pandas' int64 pass) -> ``prediction`` (the implicit-feedback score: float)."""
    inputs = Schema([ColSpec(DataType.long, "user_idx"), ColSpec(DataType.long, "item_idx")])
    return ModelSignature(inputs, Schema([ColSpec(DataType.float, "prediction")]))


class ClvModel(PythonModel):
    def __init__(self, params: dict, horizon: float, discount_rate: float, step: float, time_unit: str):
        self.params = dict(params)
        self.horizon, self.discount_rate, self.step = float(horizon), float(discount_rate), float(step)
        self.time_unit = time_unit

    def fitted(self):
        from crm_spark.models import btyd

        p = self.params
        return (btyd.BgNbdParams(p["bgnbd_r"], p["bgnbd_alpha"], p["bgnbd_a"], p["bgnbd_b"]),
                btyd.GammaGammaParams(p["gg_p"], p["gg_q"], p["gg_v"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from crm_spark.models import btyd

        bg, gg = self.fitted()
        # MLflow hands ``x`` over as int64 (the signature's long); the model is written in floats
        x = model_input["x"].to_numpy(dtype=float)
        t_x = model_input["t_x"].to_numpy(dtype=float)
        T = model_input["T"].to_numpy(dtype=float)
        m_x = model_input["m_x"].fillna(0.0).to_numpy(dtype=float)
        spend = btyd.expected_average_spend(gg, x, m_x)
        clv = btyd.discounted_clv(bg, gg, x, t_x, T, m_x, self.horizon, self.discount_rate, self.step)
        return pd.DataFrame({
            "expected_purchases": btyd.expected_purchases(bg, self.horizon, x, t_x, T),
            "probability_alive": btyd.probability_alive(bg, x, t_x, T),
            "expected_avg_spend": spend,
            "clv": clv,
        })
