"""`crm-spark export identity --out FILE`: the identity map as one CSV or Parquet file, and a
one-line error for a missing map or an unknown extension."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys

import pyarrow.parquet as pq

from crm_spark.tables import Lake
from tests.conftest import PROJECT
from tests.conftest import test_overrides as overrides_for
from tests.test_cli import assert_one_line_error

MAP_ROWS = [
    ("crm", "1", "C00000000000000a", 1.0, "email"),
    ("shop", "7", "C00000000000000a", 0.997531, "probabilistic"),
    ("crm", "2", "C00000000000000b", None, "unique"),
]
COLUMNS = ("source", "source_id", "customer_id", "probability", "rule")
EXPECTED = [dict(zip(COLUMNS, row, strict=True)) for row in [  # ordered by source, source id
    ("crm", "1", "C00000000000000a", 1.0, "email"),
    ("crm", "2", "C00000000000000b", None, "unique"),
    ("shop", "7", "C00000000000000a", 0.997531, "probabilistic"),
]]


def cli(root, *args):
    sets = [x for o in overrides_for(root) for x in ("--set", o)]
    return subprocess.run([sys.executable, "-m", "crm_spark.cli", *sets, *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=600)


def assert_fails_with(result, expected):
    """A command that started Spark logs first; its error is the last line, no traceback."""
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"crm-spark: error: {expected}", result.stderr
    assert "Traceback" not in result.stderr


def write_map(spark, root):
    rows = [(*row, dt.datetime(2024, 3, 1)) for row in MAP_ROWS]
    Lake(spark, str(root / "lake")).overwrite(spark.createDataFrame(
        rows, "source STRING, source_id STRING, customer_id STRING, match_probability DOUBLE, "
              "rule STRING, resolved_at TIMESTAMP"), "silver.identity_map")


def test_exports_the_identity_map_as_csv_and_as_parquet(spark, tmp_path):
    write_map(spark, tmp_path)

    as_csv = cli(tmp_path, "export", "identity", "--out", str(tmp_path / "map.csv"))
    as_parquet = cli(tmp_path, "export", "identity", "--out", str(tmp_path / "out" / "map.parquet"))

    assert as_csv.returncode == 0, as_csv.stderr
    assert as_parquet.returncode == 0, as_parquet.stderr
    with open(tmp_path / "map.csv", newline="") as f:
        exported = [{**row, "probability": float(row["probability"]) if row["probability"] else None}
                    for row in csv.DictReader(f)]
    assert exported == EXPECTED
    assert pq.read_table(tmp_path / "out" / "map.parquet").to_pylist() == EXPECTED


def test_export_without_an_identity_map_fails_in_one_line(tmp_path):
    result = cli(tmp_path, "export", "identity", "--out", str(tmp_path / "map.csv"))
    assert_fails_with(result, "silver.identity_map does not exist; run `crm-spark resolve` first")
    assert not (tmp_path / "map.csv").exists()


def test_export_to_an_unknown_extension_fails_in_one_line(tmp_path):
    result = cli(tmp_path, "export", "identity", "--out", str(tmp_path / "map.xlsx"))
    assert_one_line_error(result, "map.xlsx: the file name must end in .csv or .parquet")
