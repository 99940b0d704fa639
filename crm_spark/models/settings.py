"""What a model's trainer (``models.train``) and its scorer (``scoring.scorers``) share: the
model's settings read from the config, and what the registered model carries besides itself
(the CLV fit's parameters, the recommendation model's interactions)."""

from __future__ import annotations

import datetime as dt

from crm_spark.config import Config
from crm_spark.models import btyd, clv, recs

# the interactions the registered ALS model was refitted on (its customer and product indexes),
# one partition per training run; scoring reads the champion's run
RECS_INTERACTIONS = "features.recs_interactions"


def clv_settings(cfg: Config, calibration_end: dt.date, holdout_end: dt.date | None) -> clv.ClvSettings:
    unit = 7 if cfg.models.clv_time_unit == "weeks" else 1
    return clv.ClvSettings(
        calibration_end=calibration_end, holdout_end=holdout_end, time_unit=cfg.models.clv_time_unit,
        horizon=cfg.models.clv_horizon_days / unit,
        discount_rate=(1 + cfg.models.clv_discount_rate_annual) ** (unit / 365) - 1,
        step=7.0 / unit)


def fit_params(fit: clv.ClvFit) -> dict[str, float]:
    """The fitted parameters under the names the registry exposes."""
    bg, gg = fit.bgnbd, fit.gamma_gamma
    return {"bgnbd_r": bg.r, "bgnbd_alpha": bg.alpha, "bgnbd_a": bg.a, "bgnbd_b": bg.b,
            "gg_p": gg.p, "gg_q": gg.q, "gg_v": gg.v}


def fit_from_params(params: dict[str, float]) -> clv.ClvFit:
    return clv.ClvFit(btyd.BgNbdParams(params["bgnbd_r"], params["bgnbd_alpha"], params["bgnbd_a"],
                                       params["bgnbd_b"]),
                      btyd.GammaGammaParams(params["gg_p"], params["gg_q"], params["gg_v"]),
                      0, 0, 0, 0, 0.0)


def recs_settings(cfg: Config) -> recs.RecsSettings:
    m = cfg.models
    return recs.RecsSettings(rank=m.recs_rank, reg_param=m.recs_reg_param, alpha=m.recs_alpha,
                             max_iter=m.recs_max_iter, top_n=m.recs_top_n, k=m.recs_k,
                             exclude_purchased=m.recs_exclude_purchased, seed=m.seed,
                             weights=dict(m.recs_weights) or None)
