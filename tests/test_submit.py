"""What ``make dist`` writes and the spark-submit lines it prints (no Spark needed)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from crm_spark.errors import CrmSparkError
from crm_spark.submit import Dist, package_zip, spark_provided, submit_command


def test_the_zip_holds_the_package_sources_without_byte_code(tmp_path):
    names = zipfile.ZipFile(package_zip(tmp_path / "crm_spark.zip")).namelist()
    assert "crm_spark/__init__.py" in names
    assert "crm_spark/cli.py" in names and "crm_spark/identity/graph.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert all(n.startswith("crm_spark/") for n in names)


def test_jars_that_spark_ships_are_left_out_whatever_their_version():
    spark_jars = {"hadoop-client-api", "jackson-core", "zstd-jni", "log4j-core"}
    assert spark_provided(Path("hadoop-client-api-3.4.2.jar"), spark_jars)
    assert spark_provided(Path("jackson-core-2.13.5.jar"), spark_jars)
    assert spark_provided(Path("zstd-jni-1.5.7-3.jar"), spark_jars)
    assert not spark_provided(Path("delta-spark_4.2_2.13-4.4.0.jar"), spark_jars)
    assert not spark_provided(Path("delta-storage-4.4.0.jar"), spark_jars)
    assert not spark_provided(Path("postgresql-42.7.8.jar"), spark_jars)


def test_the_command_line_puts_the_artifacts_before_the_job_and_its_arguments():
    dist = Dist(Path("/d"), Path("/d/crm_spark.zip"), (Path("/d/jars/a.jar"), Path("/d/jars/b.jar")),
                driver_conf={"spark.driver.memory": "8g", "spark.driver.extraJavaOptions": "-Dx=1"})
    command = submit_command(dist, "build_silver", "spark://h:7077", ["--env", "cluster"],
                             {"spark.driver.memory": "1g"}, "spark-submit", "jobs")
    assert command == [
        "spark-submit", "--master", "spark://h:7077", "--py-files", "/d/crm_spark.zip",
        "--jars", "/d/jars/a.jar,/d/jars/b.jar",
        "--conf", "spark.driver.memory=1g", "--conf", "spark.driver.extraJavaOptions=-Dx=1",
        "jobs/build_silver.py", "--env", "cluster",
    ]


def test_without_prefetched_jars_the_command_line_asks_for_packages():
    dist = Dist(Path("/d"), Path("/d/crm_spark.zip"), (), ("io.delta:delta-spark_4.2_2.13:4.4.0",))
    command = submit_command(dist, "run_pipeline", "yarn")
    assert command[command.index("--packages") + 1] == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert "--jars" not in command


def test_an_unknown_job_is_a_one_line_error():
    dist = Dist(Path("/d"), Path("/d/crm_spark.zip"), ())
    with pytest.raises(CrmSparkError, match="unknown job 'silver'"):
        submit_command(dist, "silver", "yarn")


def test_every_job_named_has_its_entry_point():
    from crm_spark.submit import JOBS

    jobs_dir = Path(__file__).resolve().parents[1] / "jobs"
    assert sorted(JOBS) == sorted(p.stem for p in jobs_dir.glob("*.py"))
