"""The ticket theme model in MLflow: each gold run's fit is a version of ``crm_themes``.

Themes have no labels to validate against, so there is no champion contest: the version the
gold tables were built with is the champion, and the registry keeps the history (k, the
silhouettes that chose it, each theme's name and terms) for anyone auditing a theme later.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from crm_spark.config import Config
from crm_spark.models import tracking
from crm_spark.text.themes import Themes

log = logging.getLogger(__name__)

MODEL_NAME = "crm_themes"


def _signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    return ModelSignature(inputs=Schema([ColSpec(DataType.string, "body_redacted")]),
                          outputs=Schema([ColSpec(DataType.integer, "theme_id")]))


def log_themes(cfg: Config, themes: Themes, as_of: dt.date, input_versions: Mapping[str, int]) -> int:
    """Logs the fitted pipeline with its themes, registers it and makes it the champion."""
    params = {"as_of": as_of, "k": themes.k, "fitted_on": themes.fitted_on,
              "k_min": cfg.gold.themes_k_min, "k_max": cfg.gold.themes_k_max,
              "sample_size": cfg.gold.themes_sample_size}
    with tracking.training_run(cfg, MODEL_NAME, params, input_versions):
        tracking.log_metrics(cfg, {f"silhouette_k{k}": s for k, s in themes.silhouettes.items()})
        described = [{"theme_id": i, "name": name, "terms": list(terms)}
                     for i, (name, terms) in enumerate(zip(themes.names, themes.terms, strict=True))]
        tracking.log_dict(cfg, {"themes": described}, "themes.json")
        uri = tracking.log_spark_model(cfg, themes.model, signature=_signature())
    version = tracking.register(cfg, uri, MODEL_NAME)
    tracking.set_champion(cfg, MODEL_NAME, version)
    return version
