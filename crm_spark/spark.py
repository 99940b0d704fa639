"""The one place a SparkSession is built: Delta enabled, every option from configuration."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from crm_spark.config import Config, resolve_secret
from crm_spark.errors import SparkSetupError
from crm_spark.jars import (
    delta_coordinate,
    installed_delta_version,
    local_jars,
    resolve_delta_version,
)
from crm_spark.sql.catalog import register_lake

log = logging.getLogger(__name__)

MIN_JAVA = 17


def build_spark(cfg: Config, catalog: bool = False) -> SparkSession:
    """Start (or join) the Spark session described by ``cfg.spark`` with Delta Lake enabled.

    With ``catalog``, every table of ``cfg.lake.root`` is also registered in the session's
    catalog as ``layer.table``, for SQL by name (``spark.table("gold.rfm")``); that reads each
    table's Delta log, so sessions that address tables by path (the stages) go without (D87).

    Under spark-submit the master, JARs and driver memory of its command line are kept (see
    :func:`started_by_spark_submit`); on a non-local master Spark's checkpoint folder is set to
    ``<lake.checkpoints>/spark`` so that checkpointed data survives a lost executor.

    Raises:
        SparkSetupError: Java is missing or too old, the Delta JARs cannot be resolved, or
            (under spark-submit) they were not passed with --jars/--packages.
    """
    check_java()
    spark_cfg = cfg.spark
    submitted = started_by_spark_submit()
    if _is_local(spark_cfg.master) and not submitted:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers must be this interpreter, which has the project's dependencies.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    delta_version = resolve_delta_version(spark_cfg)
    packages = [delta_coordinate(delta_version), *spark_cfg.packages]

    builder = (
        SparkSession.builder.appName(spark_cfg.app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", str(spark_cfg.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
    )
    if submitted:
        # The JVM already runs: --master, --jars/--packages and --driver-memory of the
        # spark-submit command line are in force, and setting them here would override the
        # master or drop the user's --jars on the executors.
        log.info("started by spark-submit: master, JARs and driver memory come from its command line")
    else:
        builder = _with_launch_options(builder, spark_cfg, delta_version, packages)
        log.info("starting Spark (%s) with %s%s", spark_cfg.master, ", ".join(packages),
                 " (pre-fetched JARs)" if local_jars(spark_cfg, packages) else "")
    for key, value in spark_cfg.options.items():
        builder = builder.config(key, value)
    for key, variable in spark_cfg.options_env.items():
        builder = builder.config(key, resolve_secret(variable, f"spark.options_env.{key}"))
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j/pyspark raise plain runtime errors when the JVM dies
        raise SparkSetupError(
            f"Spark did not start with packages {', '.join(packages)}: the JARs could not be "
            "resolved or the JVM failed; run `make jars` (pre-fetches them with mvn into "
            f"{spark_cfg.jars_dir}) "
            "or add a reachable Maven mirror under spark.repositories"
        ) from e
    if submitted:
        _check_delta_loaded(spark)
    master = spark.sparkContext.master or ""
    if not master.startswith("local") and not spark.sparkContext.getCheckpointDir():
        # Reliable checkpoints survive a lost executor (crm_spark.identity.graph.cut_lineage).
        spark.sparkContext.setCheckpointDir(f"{cfg.lake.checkpoints.rstrip('/')}/spark")
    spark.sparkContext.setLogLevel(spark_cfg.log_level)
    _quiet_known_warnings(spark)
    if catalog:
        register_lake(spark, cfg.lake.root)
    return spark


def started_by_spark_submit() -> bool:
    """True when spark-submit (or the pyspark shell) started this Python process.

    It then hands over its running JVM through ``PYSPARK_GATEWAY_PORT``, which is how PySpark
    itself decides whether to launch a JVM.
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _with_launch_options(builder, spark_cfg, delta_version: str, packages: list[str]):
    """The options that only count when this process launches the JVM itself: master, driver
    memory and the JARs (pre-fetched files, or packages for Spark's resolver)."""
    builder = (builder.master(spark_cfg.master)
               .config("spark.driver.memory", spark_cfg.driver_memory)
               .config("spark.jars.ivy", str(Path(spark_cfg.ivy_dir).resolve())))
    prefetched = local_jars(spark_cfg, packages)
    jars = [*(prefetched or []), *linkage_jars()]
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if not prefetched and delta_version == installed_delta_version():
        builder = configure_spark_with_delta_pip(builder, extra_packages=list(spark_cfg.packages))
    elif not prefetched:
        # configure_spark_with_delta_pip always asks for the pip package's own version.
        builder = builder.config("spark.jars.packages", ",".join(packages))
    if spark_cfg.repositories:
        builder = builder.config("spark.jars.repositories", ",".join(spark_cfg.repositories))
    return builder


def _check_delta_loaded(spark: SparkSession) -> None:
    """Under spark-submit a missing --jars only shows later as an obscure catalog error."""
    jvm: Any = spark.sparkContext._jvm
    try:
        loadable = jvm.org.apache.spark.util.Utils.classIsLoadable("io.delta.tables.DeltaTable")
    except Exception:  # another Spark build without the helper: let Delta fail on first use
        log.debug("could not check the Delta classes")
        return
    if not loadable:
        raise SparkSetupError(
            "the Delta Lake classes are not on the driver's class path: pass the JARs that "
            "`make dist` lists with spark-submit --jars (or --packages io.delta:...)"
        )


def _quiet_known_warnings(spark: SparkSession) -> None:
    """Global rankings (RFM quintiles, ALS id indexing) run one window over all rows on
    purpose; Spark warns once per call, which buries the progress lines."""
    try:
        jvm: Any = spark.sparkContext._jvm
        level = jvm.org.apache.logging.log4j.Level.ERROR
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.execution.window.WindowExec", level)
    except Exception:  # a cluster with another logging backend: keep its warnings
        log.debug("could not lower the WindowExec log level")


def linkage_jars() -> list[str]:
    """The string-similarity UDFs (Jaro-Winkler, ...) that Splink's Spark backend calls; they
    ship inside the splink wheel."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return []
    return [similarity_jar_location()]


def _is_local(master: str) -> bool:
    return master.startswith("local")


def check_java() -> None:
    """Fail in one line when no Java 17+ is on the PATH (or JAVA_HOME)."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SparkSetupError(
            "Java not found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME"
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    except OSError as e:
        raise SparkSetupError(f"{java} cannot run: {e}") from e
    version = _java_major(out.stderr or out.stdout)
    if version is not None and version < MIN_JAVA:
        raise SparkSetupError(
            f"Java {version} found at {java}; Spark 4 needs Java {MIN_JAVA}+ "
            "(apt-get install openjdk-17-jre-headless, then set JAVA_HOME)"
        )


def _java_major(text: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major
