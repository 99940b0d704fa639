"""What ``spark-submit`` needs to run the jobs on a cluster, and the command lines that use it.

``make dist`` (``crm-spark dist``) writes into one folder:

- ``crm_spark.zip``: the pure-Python package for ``--py-files`` (executors import it from there);
- ``jars/``: the JVM JARs for ``--jars`` — Delta, the configured ``spark.packages`` and Splink's
  similarity functions — without the ones Spark already ships (Spark loads its own copy first,
  so shipping another version only costs upload time and confusion);
- ``submit.txt``: the spark-submit command lines it prints.

Third-party Python packages are not in the zip (numpy, pyarrow and friends have native code):
they must be installed on every node, or shipped as a packed virtual environment with
``--archives`` (docs/cluster.md).
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import crm_spark
from crm_spark.config import Config, SparkConfig
from crm_spark.errors import CrmSparkError
from crm_spark.jars import delta_coordinate, local_jars, resolve_delta_version
from crm_spark.spark import linkage_jars

log = logging.getLogger(__name__)

ZIP_NAME = "crm_spark.zip"
ENV_ARCHIVE = "crm_spark_env.tar.gz"
JOBS = ("run_pipeline", "generate_data", "ingest_bronze", "build_silver", "resolve_identity",
        "build_gold", "build_features", "train_model", "score", "build_report")
_VERSION_SUFFIX = re.compile(r"-\d[^-]*(-\d+)?\.jar$")


@dataclass(frozen=True)
class Dist:
    """The artifacts of one ``make dist``: absolute paths."""

    folder: Path
    zip_path: Path
    jars: tuple[Path, ...]
    # Maven coordinates for --packages when the JARs were never pre-fetched (no mvn)
    packages: tuple[str, ...] = ()
    # options of the driver JVM, which spark-submit starts before crm_spark reads its YAML
    driver_conf: Mapping[str, str] = field(default_factory=dict)


def package_zip(dest: Path) -> Path:
    """Zip the ``crm_spark`` package (sources and package data, no byte code) at ``dest``.

    Returns:
        ``dest``.
    """
    package = Path(crm_spark.__file__).resolve().parent
    if not package.is_dir():
        raise CrmSparkError(f"{package} is not a folder: build the zip from a source checkout")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, Path("crm_spark") / path.relative_to(package))
    return dest


def spark_provided(jar: Path, spark_jars: set[str]) -> bool:
    """True when Spark's own ``jars/`` folder has the same artifact (in any version)."""
    return _VERSION_SUFFIX.sub("", jar.name) in spark_jars


def submit_jars(spark_cfg: SparkConfig) -> tuple[list[Path], list[str]]:
    """The JARs to pass with ``--jars``, and the coordinates to pass with ``--packages`` when
    the JARs were not pre-fetched (``make jars``) and Spark's resolver has to fetch them.

    Returns:
        (JAR files, Maven coordinates); one of the two holds the Delta JAR.
    """
    import pyspark

    packages = [delta_coordinate(resolve_delta_version(spark_cfg)), *spark_cfg.packages]
    spark_jars = {_VERSION_SUFFIX.sub("", p.name)
                  for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    prefetched = local_jars(spark_cfg, packages)
    extra = [Path(j) for j in linkage_jars()]
    if prefetched is None:
        return extra, packages
    return [Path(j) for j in prefetched if not spark_provided(Path(j), spark_jars)] + extra, []


def build_dist(cfg: Config, folder: Path) -> Dist:
    """Write the zip and copy the JARs into ``folder`` (created; a previous jars/ is replaced)."""
    folder = folder.resolve()
    zip_path = package_zip(folder / ZIP_NAME)
    jars, packages = submit_jars(cfg.spark)
    jar_dir = folder / "jars"
    if jar_dir.exists():
        shutil.rmtree(jar_dir)
    jar_dir.mkdir(parents=True)
    copied = []
    for jar in jars:
        shutil.copy2(jar, jar_dir / jar.name)
        copied.append(jar_dir / jar.name)
    return Dist(folder, zip_path, tuple(copied), tuple(packages), driver_conf(cfg))


def driver_conf(cfg: Config) -> dict[str, str]:
    """The configured options that only take effect when the driver JVM starts, so under
    spark-submit they must be on its command line: driver memory and JVM options."""
    conf = {"spark.driver.memory": cfg.spark.driver_memory}
    for key in ("spark.driver.extraJavaOptions", "spark.driver.extraClassPath"):
        if key in cfg.spark.options:
            conf[key] = cfg.spark.options[key]
    return conf


def submit_command(dist: Dist, job: str, master: str, job_args: list[str] | tuple[str, ...] = (),
                   conf: dict[str, str] | None = None, spark_submit: str = "spark-submit",
                   jobs_dir: Path | str = "jobs") -> list[str]:
    """The ``spark-submit`` argument list that runs ``jobs/<job>.py`` on ``master`` with the
    artifacts of ``dist``.

    Args:
        dist: from :func:`build_dist`.
        job: a name in :data:`JOBS` (``run_pipeline``, ``build_silver``, ...).
        master: ``spark://host:port``, ``yarn``, ``k8s://...`` or ``local[N]``.
        job_args: the job's own arguments (``--env cluster``, ``--set k=v``, ``--as-of``...).
        conf: extra ``--conf key=value`` pairs (executor Python, event log, ...); they win over
            the driver options of ``dist``.
        spark_submit: the spark-submit executable.
        jobs_dir: the folder holding the job scripts.

    Raises:
        CrmSparkError: for an unknown job.
    """
    if job not in JOBS:
        raise CrmSparkError(f"unknown job '{job}'; one of {', '.join(JOBS)}")
    command = [spark_submit, "--master", master, "--py-files", str(dist.zip_path)]
    if dist.jars:
        command += ["--jars", ",".join(str(j) for j in dist.jars)]
    if dist.packages:
        command += ["--packages", ",".join(dist.packages)]
    for key, value in {**dist.driver_conf, **(conf or {})}.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(Path(jobs_dir) / f"{job}.py"), *job_args]


def command_lines(dist: Dist) -> list[str]:
    """The command lines ``make dist`` prints: a standalone cluster with the Python packages
    installed on every node, and YARN with a packed environment shipped by ``--archives``."""
    def show(argv: list[str]) -> str:
        return " \\\n    ".join(_pairs(argv))

    # in client mode the driver is this machine's Python, which has crm_spark installed
    env_conf = {"spark.archives": f"{dist.folder / ENV_ARCHIVE}#environment",
                "spark.pyspark.python": "./environment/bin/python",
                "spark.pyspark.driver.python": sys.executable}
    standalone = submit_command(dist, "run_pipeline", "spark://HOST:7077",
                                ["--env", "cluster"])
    yarn = submit_command(dist, "run_pipeline", "yarn", ["--env", "cluster"], env_conf)
    return [
        "# standalone cluster, Python packages installed on every node (tested here on 127.0.0.1):",
        show(standalone),
        f"# YARN with a packed environment (make dist-env writes {ENV_ARCHIVE}; documented only):",
        show(yarn),
        "# any other stage: replace run_pipeline.py with one of "
        + ", ".join(f"{j}.py" for j in JOBS[1:]),
    ]


def _pairs(argv: list[str]) -> list[str]:
    """Options with their values on one line each, for printing."""
    lines, i = [argv[0]], 1
    while i < len(argv):
        if argv[i].startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            lines.append(f"{argv[i]} {shlex.quote(argv[i + 1])}")
            i += 2
        else:
            lines.append(" ".join(shlex.quote(a) for a in argv[i:]))
            break
    return lines


def write_dist(cfg: Config, out: Path) -> tuple[Dist, str]:
    """Build the artifacts into ``out`` and write ``submit.txt``; returns (dist, command lines)."""
    dist = build_dist(cfg, out)
    text = "\n".join(command_lines(dist))
    (dist.folder / "submit.txt").write_text(text + "\n")
    return dist, text
