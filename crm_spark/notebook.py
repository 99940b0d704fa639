"""Parameters of the notebooks in ``notebooks/``, read from environment variables so that the
same notebook runs on the demo lake, on a test's tiny lake or on a production lake unchanged.

- ``CRM_SPARK_PROJECT``: the project folder. ``conf/`` is read from it, and the relative paths
  of the configuration (``lake/``, ``mlruns/``) are relative to it. Default: the nearest folder
  from the working directory upwards that holds ``conf/base.yml``.
- ``CRM_SPARK_CONF``: extra YAML files merged like ``--conf``, separated by ``os.pathsep``
  (relative ones are relative to the project folder).
- ``CRM_SPARK_SET``: ``key=value`` overrides like ``--set``, one per line.
- ``CRM_SPARK_AS_OF``: the snapshot to show (YYYY-MM-DD); default the latest in the gold tables.
- ``CRM_SPARK_ENV``: the environment overlay (read by ``config.load_config``); default ``local``.

With no variable set, a notebook opened from ``notebooks/`` reads what ``make run`` wrote:
``lake/`` and ``mlruns/mlflow.db`` under the project folder.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from crm_spark.config import Config, load_config
from crm_spark.errors import ConfigError

ENV_PROJECT = "CRM_SPARK_PROJECT"
ENV_CONF = "CRM_SPARK_CONF"
ENV_SET = "CRM_SPARK_SET"
ENV_AS_OF = "CRM_SPARK_AS_OF"


@dataclass(frozen=True)
class NotebookParams:
    """What a notebook's first cell needs: where the project is, the configuration to load on top
    of its ``conf/``, and the snapshot date (None: the latest)."""

    project: Path
    conf_files: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    as_of: dt.date | None = None

    @property
    def conf_dir(self) -> Path:
        return self.project / "conf"

    def load_config(self, env: str | None = None) -> Config:
        """The configuration: ``conf/`` of the project, then ``conf_files``, then ``overrides``.

        Relative paths of the project's conf are relative to the working folder, which the caller
        makes the project folder (``os.chdir(params.project)``) before using them; those a
        ``conf_files`` file sets, to that file's folder (D67).
        """
        files = [f if Path(f).is_absolute() else str(self.project / f) for f in self.conf_files]
        return load_config(files, self.overrides, env=env, conf_dir=self.conf_dir)


def find_project(start: Path) -> Path:
    """The nearest folder from ``start`` upwards (``start`` included) that holds ``conf/base.yml``.

    Raises:
        ConfigError: no such folder.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / "conf" / "base.yml").is_file():
            return folder
    raise ConfigError(f"no conf/base.yml in {start} or above it: set {ENV_PROJECT} to the project folder")


def notebook_params(environ: Mapping[str, str] = os.environ, cwd: Path | None = None) -> NotebookParams:
    """Read the notebook parameters from ``environ`` (module doc).

    Args:
        environ: the environment (a mapping, so that tests pass their own).
        cwd: where the search for the project starts; default the working directory.

    Raises:
        ConfigError: the project folder has no ``conf/base.yml``, an override is not
            ``key=value``, or the date is not YYYY-MM-DD.
    """
    if environ.get(ENV_PROJECT):
        project = Path(environ[ENV_PROJECT]).expanduser().resolve()
        if not (project / "conf" / "base.yml").is_file():
            raise ConfigError(f"{ENV_PROJECT}={environ[ENV_PROJECT]}: no conf/base.yml in that folder")
    else:
        project = find_project(cwd if cwd is not None else Path.cwd())
    conf_files = tuple(f.strip() for f in environ.get(ENV_CONF, "").split(os.pathsep) if f.strip())
    overrides = tuple(line.strip() for line in environ.get(ENV_SET, "").splitlines() if line.strip())
    bad = [o for o in overrides if "=" not in o or not o.split("=", 1)[0].strip()]
    if bad:
        raise ConfigError(f"{ENV_SET}: each line must be key=value, got {bad[0]!r}")
    as_of = None
    if environ.get(ENV_AS_OF, "").strip():
        try:
            as_of = dt.date.fromisoformat(environ[ENV_AS_OF].strip())
        except ValueError as e:
            raise ConfigError(f"{ENV_AS_OF}={environ[ENV_AS_OF]!r} is not a date (YYYY-MM-DD)") from e
    return NotebookParams(project, conf_files, overrides, as_of)
