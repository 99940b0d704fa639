"""The MLflow store follows its artifact folder when the project moves (D54).

MLflow's database store keeps absolute artifact locations: per experiment, run, logged model
and model version. After ``mlruns/`` is copied or restored elsewhere, a model would still be
loaded from (and a run written to) the old folder. When the experiment's recorded artifact
root is not the configured ``mlflow.artifact_location``, every location under the old root is
rewritten to the same path under the new one, in one transaction.

This talks to MLflow's tables directly because MLflow has no call that changes an artifact
location; the tables and columns are looked up, not assumed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from crm_spark.errors import CrmSparkError

log = logging.getLogger(__name__)

LOCATION_COLUMNS = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("storage_location", "source"),
}


def is_database(tracking_uri: str) -> bool:
    """True for a store MLflow keeps in a database it reaches with SQLAlchemy."""
    return tracking_uri.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql", "mssql")


def follow_artifact_root(tracking_uri: str, recorded: str, configured: str) -> int:
    """Rewrite the store's artifact locations under ``recorded`` to lie under ``configured``.

    Args:
        recorded: the experiment's artifact location as the store holds it.
        configured: the artifact root the configuration names now (a URI).

    Returns:
        The number of locations rewritten (0 when the roots are the same).

    Raises:
        CrmSparkError: ``configured`` is a local folder that holds none of the runs recorded
            under ``recorded`` (the artifacts were not copied, or the setting is wrong);
            nothing is rewritten.
    """
    old, new = recorded.rstrip("/"), configured.rstrip("/")
    if old == new or not is_database(tracking_uri):
        return 0
    import sqlalchemy as sa

    engine = sa.create_engine(tracking_uri)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine, only=lambda name, _: name in LOCATION_COLUMNS)
        with engine.begin() as connection:
            runs = metadata.tables.get("runs")
            moved_runs = [] if runs is None else [r[0] for r in connection.execute(
                sa.select(runs.c.artifact_uri).where(_under(runs.c.artifact_uri, old)))]
            _check_copied(moved_runs, old, new)
            rewritten = 0
            for name, columns in LOCATION_COLUMNS.items():
                table = metadata.tables.get(name)
                if table is None:
                    continue
                for column in columns:
                    if column not in table.c:
                        continue
                    value = table.c[column]
                    rewritten += connection.execute(table.update().where(_under(value, old)).values(
                        {column: sa.literal(new).concat(sa.func.substr(value, len(old) + 1))})).rowcount
    finally:
        engine.dispose()
    log.warning("MLflow artifacts moved from %s to %s: %d stored location(s) rewritten",
                old, new, rewritten)
    return rewritten


def _under(column, root: str):
    import sqlalchemy as sa

    return sa.or_(column == root, sa.func.substr(column, 1, len(root) + 1) == root + "/")


def _check_copied(run_locations: list[str], old: str, new: str) -> None:
    """Refuse to point the store at a local folder that holds none of the runs the old folder
    still holds (a copy without its artifacts, or a mistyped setting)."""
    old_folder, folder = _local_folder(old), _local_folder(new)
    if old_folder is None or folder is None:
        return
    rests = [location[len(old):].lstrip("/") for location in run_locations]
    if any((old_folder / rest).exists() for rest in rests) and \
            not any((folder / rest).exists() for rest in rests):
        raise CrmSparkError(
            f"the MLflow store keeps its artifacts under {old}, but mlflow.artifact_location "
            f"({new}) holds none of its runs: copy the artifacts folder along with the store, or "
            f"set mlflow.artifact_location to {old}")


def _local_folder(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if not parsed.scheme else None
