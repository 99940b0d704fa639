"""Every MLflow call of the project: experiments, runs, metrics, models, the registry and its
aliases. Training and evaluation code return values; this module logs, registers and loads.

Registered names: ``crm_churn``, ``crm_clv``, ``crm_recs``. A training run registers a new
version with alias ``challenger``; :func:`promote` moves ``champion`` to it when it beats the
current champion on the challenger's own validation data (the champion is scored on the same
rows during training and logged as ``champion_<metric>``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crm_spark.config import Config
from crm_spark.errors import CrmSparkError
from crm_spark.models import store_location

if TYPE_CHECKING:
    from mlflow import ActiveRun

log = logging.getLogger(__name__)

PROMOTION_METRIC = {"crm_clv": ("rmse_purchases", False), "crm_churn": ("roc_auc", True),
                    "crm_recs": ("als_map_at_k", True)}

CHALLENGER, CHAMPION = "challenger", "champion"
MODEL_NAMES = ("crm_churn", "crm_clv", "crm_recs")
_FOLLOWED: set[tuple[str, str, str]] = set()   # stores already pointed at their artifact root
# The models train side by side (D91); their writes to the tracking store take turns, so a
# SQLite store never sees two writers and a run's logging is never interleaved with another's.
_WRITES = threading.RLock()


def _one_writer(function):
    @functools.wraps(function)
    def serialised(*args, **kwargs):
        with _WRITES:
            return function(*args, **kwargs)
    return serialised


@_one_writer
def _client(cfg: Config):
    import mlflow

    uri = cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    artifacts = cfg.mlflow.artifact_location
    location = artifacts if "://" in artifacts else Path(artifacts).resolve().as_uri()
    experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=location)
    elif (uri, experiment.experiment_id, location) not in _FOLLOWED:
        # a moved or restored mlruns/ still names its old folder (D54)
        store_location.follow_artifact_root(uri, experiment.artifact_location, location)
        _FOLLOWED.add((uri, experiment.experiment_id, location))
    mlflow.set_experiment(cfg.mlflow.experiment)
    return mlflow


@_one_writer
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


@contextlib.contextmanager
def training_run(cfg: Config, name: str, params: Mapping[str, object],
                 input_versions: Mapping[str, int]) -> Iterator[ActiveRun]:
    """A run for training ``name``: tags, params, the Delta versions of its inputs. Other
    threads' writes wait until the run ends."""
    with _WRITES:
        mlflow = _client(cfg)
        with mlflow.start_run(run_name=f"train-{name}") as run:
            mlflow.set_tags({"crm_spark.kind": "training", "crm_spark.model": name,
                             "crm_spark.config_hash": cfg.digest})
            mlflow.log_params({k: str(v) for k, v in params.items()})
            mlflow.log_params({f"input_version.{t}": v for t, v in input_versions.items()})
            yield run


def log_metrics(cfg: Config, metrics: Mapping[str, float]) -> None:
    import math

    mlflow = _client(cfg)
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()
                        if v is not None and not math.isnan(float(v))})


def log_dict(cfg: Config, values: Mapping, artifact_file: str) -> None:
    _client(cfg).log_dict(dict(values), artifact_file)


def log_pyfunc_model(cfg: Config, python_model, signature_input=None, signature_output=None,
                     artifacts: Mapping[str, str] | None = None, *, signature=None) -> str:
    """Log a Python-function model that carries the crm_spark package as code; returns its URI.

    Args:
        signature: the model's declared columns (``mlflow.models.ModelSignature``); without it
            the signature is inferred from the example frames ``signature_input`` and
            ``signature_output``.
    """
    mlflow = _client(cfg)
    with package_source() as package:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=python_model, artifacts=dict(artifacts or {}),
            signature=_signature(signature, signature_input, signature_output),
            code_paths=[str(package)], pip_requirements=_requirements())
    return info.model_uri


def _signature(signature, signature_input, signature_output):
    if signature is not None:
        return signature
    from mlflow.models import infer_signature

    return infer_signature(signature_input, signature_output)


@contextlib.contextmanager
def package_source() -> Iterator[Path]:
    """The folder of the crm_spark package, for a model's ``code_paths``.

    Under ``spark-submit --py-files crm_spark.zip`` the driver imports crm_spark from the zip,
    which MLflow cannot copy as a folder: the package is then extracted to a temporary folder.
    """
    import tempfile
    import zipfile

    import crm_spark

    package = Path(crm_spark.__file__).parent
    if package.is_dir():
        yield package
        return
    archive = next(parent for parent in package.parents if parent.is_file())
    with tempfile.TemporaryDirectory(prefix="crm_spark-code-") as tmp, zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp, [name for name in zipped.namelist() if name.startswith("crm_spark/")])
        yield Path(tmp) / "crm_spark"


def log_spark_model(cfg: Config, model, signature_input=None, signature_output=None, *,
                    signature=None) -> str:
    """Log a Spark ML model (loadable with mlflow.spark or as a pyfunc / Spark UDF); ``signature``
    as for :func:`log_pyfunc_model`."""
    _client(cfg)
    import mlflow.spark

    info = mlflow.spark.log_model(model, "model",
                                  signature=_signature(signature, signature_input, signature_output),
                                  pip_requirements=_requirements())
    return info.model_uri


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in
            ("pyspark", "mlflow", "pandas", "numpy", "scipy", "pyarrow")]


@_one_writer
def register(cfg: Config, model_uri: str, name: str) -> int:
    """Register ``model_uri`` as a new version of ``name`` with alias ``challenger``."""
    mlflow = _client(cfg)
    version = mlflow.register_model(model_uri, name)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    log.info("registered %s version %s as %s", name, version.version, CHALLENGER)
    return int(version.version)


@_one_writer
def set_champion(cfg: Config, name: str, version: int) -> None:
    """Point ``name@champion`` at ``version`` (a model with no champion contest)."""
    _client(cfg).MlflowClient().set_registered_model_alias(name, CHAMPION, str(version))


def alias_version(cfg: Config, name: str, alias: str):
    """The model version behind ``name@alias``, or None."""
    mlflow = _client(cfg)
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def run_params(cfg: Config, run_id: str) -> dict[str, str]:
    return dict(_client(cfg).MlflowClient().get_run(run_id).data.params)


def run_metrics(cfg: Config, run_id: str) -> dict[str, float]:
    return dict(_client(cfg).MlflowClient().get_run(run_id).data.metrics)


@_one_writer
def promote(cfg: Config, name: str, metric: str, higher_is_better: bool = True) -> tuple[bool, str]:
    """Move ``champion`` to the ``challenger`` version when it is better on the challenger's
    validation data, or when there is no champion yet.

    Returns:
        (promoted, reason).

    Raises:
        CrmSparkError: ``name`` has no challenger.
    """
    challenger = alias_version(cfg, name, CHALLENGER)
    if challenger is None:
        raise CrmSparkError(f"models:/{name}@{CHALLENGER} does not exist; run `crm-spark train` first")
    champion = alias_version(cfg, name, CHAMPION)
    metrics = run_metrics(cfg, challenger.run_id)
    if metric not in metrics:
        raise CrmSparkError(f"{name} version {challenger.version} logged no metric '{metric}'")
    new = metrics[metric]
    if champion is not None and champion.version == challenger.version:
        return False, f"version {challenger.version} is already the champion"
    if champion is not None:
        old = metrics.get(f"champion_{metric}")
        if old is not None and (new <= old if higher_is_better else new >= old):
            return False, (f"challenger version {challenger.version} {metric}={new:.4f} does not beat "
                           f"champion version {champion.version} ({old:.4f}) on the same validation data")
    _client(cfg).MlflowClient().set_registered_model_alias(name, CHAMPION, challenger.version)
    before = f"version {champion.version}" if champion else "no champion"
    return True, f"champion is now version {challenger.version} ({metric}={new:.4f}; before: {before})"


def model_uri(name: str, alias: str) -> str:
    return f"models:/{name}@{alias}"


def load_pyfunc(cfg: Config, name: str, alias: str = CHAMPION):
    """``models:/name@alias`` as a Python-function model, with a one-line error when missing."""
    mlflow = _client(cfg)
    _require_alias(cfg, name, alias)
    return mlflow.pyfunc.load_model(model_uri(name, alias))


def load_spark_model(cfg: Config, name: str, alias: str = CHAMPION):
    """``models:/name@alias`` as the Spark ML model it was logged as."""
    _client(cfg)
    _require_alias(cfg, name, alias)
    import mlflow.spark

    return mlflow.spark.load_model(model_uri(name, alias))


def _require_alias(cfg: Config, name: str, alias: str) -> None:
    if name not in MODEL_NAMES:
        raise CrmSparkError(f"unknown model '{name}' (known: {', '.join(MODEL_NAMES)})")
    if alias_version(cfg, name, alias) is None:
        raise CrmSparkError(f"models:/{name}@{alias} does not exist; train it (`crm-spark train "
                            f"{name.removeprefix('crm_')}`) and promote it (`crm-spark promote {name}`)")


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version with its aliases and its training run's params and metrics."""

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str
    created: dt.datetime
    params: dict[str, str]
    metrics: dict[str, float]


def _version_info(client, name: str, version) -> VersionInfo:
    run = client.get_run(version.run_id)
    return VersionInfo(name=name, version=int(version.version), aliases=tuple(sorted(version.aliases or ())),
                       run_id=version.run_id,
                       created=dt.datetime.fromtimestamp(version.creation_timestamp / 1000, dt.UTC),
                       params=dict(run.data.params), metrics=dict(run.data.metrics))


def version_info(cfg: Config, name: str, alias: str = CHAMPION) -> VersionInfo:
    """``models:/name@alias`` with its run's params and metrics.

    Raises:
        CrmSparkError: unknown model, or no version has the alias (one line: how to make one).
    """
    _require_alias(cfg, name, alias)
    client = _client(cfg).MlflowClient()
    # get_model_version_by_alias leaves ``aliases`` empty in some stores: read the version itself.
    version = client.get_model_version_by_alias(name, alias)
    return _version_info(client, name, client.get_model_version(name, version.version))


def model_versions(cfg: Config, name: str) -> list[VersionInfo]:
    """Every registered version of ``name``, newest first; [] when none is registered."""
    client = _client(cfg).MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    return [_version_info(client, name, client.get_model_version(name, v.version))
            for v in sorted(versions, key=lambda v: -int(v.version))]


def training_runs(cfg: Config, model: str | None = None, max_results: int = 100):
    """The latest training runs as a pandas DataFrame, newest first.

    Args:
        model: only runs training this registered name (``crm_churn``, ...); None: all.
        max_results: at most this many runs.

    Returns:
        ``run_id, model, start_time, status`` and one column per logged metric (NaN where a
        run did not log it).
    """
    mlflow = _client(cfg)
    where = "tags.`crm_spark.kind` = 'training'"
    if model is not None:
        where += f" and tags.`crm_spark.model` = '{model}'"
    runs = mlflow.search_runs(experiment_names=[cfg.mlflow.experiment], filter_string=where,
                              order_by=["attributes.start_time DESC"], max_results=max_results)
    if runs.empty:
        import pandas as pd

        return pd.DataFrame(columns=["run_id", "model", "start_time", "status"])
    runs = runs.rename(columns={"tags.crm_spark.model": "model"})
    metrics = sorted(c for c in runs.columns if c.startswith("metrics."))
    return runs[["run_id", "model", "start_time", "status", *metrics]].rename(
        columns={c: c.removeprefix("metrics.") for c in metrics})


def load_run_dict(cfg: Config, run_id: str, artifact_file: str) -> dict:
    """A JSON artifact a run logged with :func:`log_dict` (e.g. ``feature_importance.json``).

    Raises:
        CrmSparkError: the run has no such artifact.
    """
    mlflow = _client(cfg)
    from mlflow.exceptions import MlflowException

    try:
        return dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact_file}"))
    except (MlflowException, OSError) as e:
        raise CrmSparkError(f"run {run_id} has no artifact {artifact_file}: {e}") from e


RETRAIN_TAG = "needs_retraining"


def flag_for_retraining(cfg: Config, erased_at: dt.datetime, erasure_id: str) -> list[str]:
    """Tag every registered version created before ``erased_at`` as trained on erased data.

    Returns:
        ``name/version`` of each flagged version (empty when no model is registered).
    """
    if not _has_registry(cfg):
        return []
    client = _client(cfg).MlflowClient()
    flagged = []
    for name in MODEL_NAMES:
        for version in client.search_model_versions(f"name = '{name}'"):
            created = dt.datetime.fromtimestamp(version.creation_timestamp / 1000, dt.UTC)
            if created <= erased_at:
                client.set_model_version_tag(name, version.version, RETRAIN_TAG, erasure_id)
                flagged.append(f"{name}/{version.version}")
    if flagged:
        log.warning("%d model version(s) were trained before erasure %s and are tagged %s: retrain "
                    "them", len(flagged), erasure_id, RETRAIN_TAG)
    return sorted(flagged)


def _has_registry(cfg: Config) -> bool:
    """False for a local SQLite store that was never created (no model can be registered)."""
    uri = cfg.mlflow.tracking_uri
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


def input_versions(lake, tables: list[str]) -> dict[str, int]:
    """The current Delta version of each of ``tables`` that exists (logged with a training run),
    from the names of the commit files: no Spark job per table."""
    versions = {t: lake.log_version(t) for t in tables}
    return {t: v for t, v in versions.items() if v is not None}


def promote_if_configured(cfg: Config, name: str) -> str:
    """Promote the newest version of ``name`` when ``models.auto_promote`` is on; says what happened."""
    if not cfg.models.auto_promote:
        return "auto_promote is off: run `crm-spark promote " + name + "`"
    metric, higher = PROMOTION_METRIC[name]
    return promote(cfg, name, metric, higher)[1]
