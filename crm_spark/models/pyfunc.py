"""Python-function wrappers that make fitted models loadable by any MLflow consumer.

``ClvModel`` carries the fitted BG/NBD and Gamma-Gamma parameters; its ``predict`` takes a
pandas frame of customer summaries (``x, t_x, T, m_x`` in the model's time unit) and returns
the expectations per row, so another program can score without Spark:
``mlflow.pyfunc.load_model("models:/crm_clv@champion").predict(summaries)``.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class ClvModel(mlflow.pyfunc.PythonModel):
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
