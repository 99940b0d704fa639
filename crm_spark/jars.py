"""The JVM packages the session needs: which Delta release to ask for, and a setup step that
pre-fetches every package with ``mvn`` into a folder the project owns.

Two ways work: Spark's own resolver (``spark.jars.packages``, via Ivy) when it can reach Maven
Central, or the JARs fetched by :func:`prefetch`, which :func:`local_jars` hands to Spark as
``spark.jars`` so no resolution happens at start-up. See docs/decisions.md for why the
pre-fetch uses a private Maven repository rather than ``~/.m2``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from xml.sax.saxutils import escape

from crm_spark.config import SparkConfig
from crm_spark.errors import SparkSetupError

log = logging.getLogger(__name__)

SCALA_VERSION = "2.13"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
MANIFEST = "manifest.json"


def delta_artifact_name() -> str:
    """``delta-spark_<spark major.minor>_<scala>``, the artifact the installed PySpark needs."""
    import pyspark

    major_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"delta-spark_{major_minor}_{SCALA_VERSION}"


def installed_delta_version() -> str:
    return metadata.version("delta-spark")


def delta_coordinate(version: str) -> str:
    return f"io.delta:{delta_artifact_name()}:{version}"


def delta_candidates(spark_cfg: SparkConfig) -> list[str]:
    """The versions to try: the configured one, or for ``auto`` the pip package's version and
    then earlier patch releases of the same minor line.

    A patch release of the Python package can reach PyPI before its JAR reaches a Maven mirror;
    the Python API of one minor line is a thin wrapper over the same JVM classes.
    """
    if spark_cfg.delta_version != "auto":
        return [spark_cfg.delta_version]
    major, minor, patch = (int(p) for p in installed_delta_version().split(".")[:3])
    return [f"{major}.{minor}.{p}" for p in range(patch, -1, -1)]


def read_manifest(spark_cfg: SparkConfig) -> dict | None:
    path = Path(spark_cfg.jars_dir) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def resolve_delta_version(spark_cfg: SparkConfig) -> str:
    """The Delta JAR version to request: the pre-fetched one if any, else the first candidate."""
    candidates = delta_candidates(spark_cfg)
    manifest = read_manifest(spark_cfg)
    if manifest and manifest.get("delta_version") in candidates:
        version = manifest["delta_version"]
        if version != candidates[0]:
            log.info("using Delta JAR %s: delta-spark %s is installed but its JAR is not served "
                     "here (docs/decisions.md)", version, candidates[0])
        return version
    return candidates[0]


def local_jars(spark_cfg: SparkConfig, coordinates: list[str]) -> list[str] | None:
    """The pre-fetched JAR files when they cover exactly ``coordinates``, else None."""
    manifest = read_manifest(spark_cfg)
    if not manifest or sorted(manifest.get("coordinates", [])) != sorted(coordinates):
        return None
    jars = [str(Path(spark_cfg.jars_dir).resolve() / name) for name in manifest["jars"]]
    return jars if all(Path(j).is_file() for j in jars) else None


def prefetch(spark_cfg: SparkConfig) -> list[str]:
    """Fetch the Delta JAR, every configured package and their runtime dependencies with ``mvn``
    into ``spark.jars_dir`` and record them in its manifest.

    Returns:
        The coordinates now available locally.

    Raises:
        SparkSetupError: when ``mvn`` is missing or no candidate can be fetched.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SparkSetupError("mvn not found: install Maven (apt-get install maven)")
    repositories = [MAVEN_CENTRAL, *spark_cfg.repositories]
    jars_dir = Path(spark_cfg.jars_dir)
    candidates = delta_candidates(spark_cfg)
    for version in candidates:
        coordinates = [delta_coordinate(version), *spark_cfg.packages]
        if local_jars(spark_cfg, coordinates):
            return coordinates
    for version in candidates:
        coordinates = [delta_coordinate(version), *spark_cfg.packages]
        log.info("fetching %s with mvn", ", ".join(coordinates))
        if _copy_dependencies(mvn, coordinates, repositories, jars_dir):
            jars = sorted(p.name for p in jars_dir.glob("*.jar"))
            (jars_dir / MANIFEST).write_text(json.dumps(
                {"delta_version": version, "coordinates": coordinates, "jars": jars}, indent=1))
            return coordinates
        # expected on a fresh setup: a patch release reaches PyPI before Maven Central; the
        # next candidate is tried, and only when none is left is it an error
        log.info("%s could not be fetched from %s; trying an earlier patch release",
                 ", ".join(coordinates), ", ".join(repositories))
    raise SparkSetupError(
        f"none of the Delta JARs {', '.join(delta_candidates(spark_cfg))} (with "
        f"{', '.join(spark_cfg.packages) or 'no extra packages'}) could be fetched from "
        f"{', '.join(repositories)}; add a reachable mirror under spark.repositories"
    )


def _copy_dependencies(mvn: str, coordinates: list[str], repositories: list[str],
                       jars_dir: Path) -> bool:
    """Resolve ``coordinates`` with their runtime dependencies and copy the JARs to jars_dir.

    A private local repository keeps ``~/.m2`` untouched: Spark's Ivy resolver reads ``~/.m2``
    first and fails on any POM there whose JAR Maven did not need to download.
    """
    deps = "".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version>"
        "</dependency>".format(*(escape(p) for p in c.split(":")[:3]))
        for c in coordinates
    )
    repos = "".join(f"<repository><id>r{i}</id><url>{escape(url)}</url></repository>"
                    for i, url in enumerate(repositories))
    pom = ("<project><modelVersion>4.0.0</modelVersion><groupId>crm-spark</groupId>"
           "<artifactId>jars</artifactId><version>1</version>"
           f"<repositories>{repos}</repositories><dependencies>{deps}</dependencies></project>")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pom.xml").write_text(pom)
        staging = Path(tmp) / "jars"
        command = [
            mvn, "-q", "-B", "-f", str(Path(tmp) / "pom.xml"),
            f"-Dmaven.repo.local={jars_dir.parent.resolve() / 'm2'}",
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            log.debug("mvn output:\n%s", result.stdout[-3000:])
            return False
        if jars_dir.exists():
            shutil.rmtree(jars_dir)
        shutil.copytree(staging, jars_dir)
    return True
