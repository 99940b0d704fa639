"""Every MLflow call of the project: experiments, runs, metrics (and, with the models, the
registry). Training and evaluation code return values; this module logs them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from crm_spark.config import Config

log = logging.getLogger(__name__)


def _client(cfg: Config):
    import mlflow

    uri = cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(cfg.mlflow.experiment) is None:
        artifacts = cfg.mlflow.artifact_location
        location = artifacts if "://" in artifacts else Path(artifacts).resolve().as_uri()
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=location)
    mlflow.set_experiment(cfg.mlflow.experiment)
    return mlflow


def log_evaluation(cfg: Config, subject: str, params: Mapping[str, object],
                   metrics: Mapping[str, float]) -> str:
    """Log one evaluation run (tag ``crm_spark.kind=evaluation``); returns the run id."""
    mlflow = _client(cfg)
    with mlflow.start_run(run_name=f"evaluate-{subject}") as run:
        mlflow.set_tags({"crm_spark.kind": "evaluation", "crm_spark.subject": subject,
                         "crm_spark.config_hash": cfg.digest})
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(dict(metrics))
    return run.info.run_id
