"""`crm-spark --conf my.yml run` on a user's files only (issue 20): run from another folder, with
no CRM_SPARK_CONF_DIR and no JAR settings, it reads and writes where my.yml's relative paths
say, ingests only the user's source (no demo sources, no generated demo data), and skips each
stage its data cannot feed with one line naming what it would need (D66-D68)."""

from __future__ import annotations

import logging

import pytest
from pyspark.sql import functions as F

from crm_spark.cli import main
from crm_spark.tables import Lake
from tests import conftest

pytestmark = pytest.mark.integration

MY_YML = """
lake: {root: lake, landing: exports, truth: truth, checkpoints: lake/_checkpoints}
mlflow: {tracking_uri: "sqlite:///mlruns/mlflow.db", artifact_location: mlruns/artifacts}
report: {out: report/crm.html}
identity: {probabilistic: false, source_trust: [people]}
sources:
  people:
    channel: crm
    entity: contact
    format: csv
    location: people
    options: {header: true}
    schema: id STRING, email STRING, first STRING, last STRING
    required: [id]
    mapping: {source_id: id, email: email, first_name: first, last_name: last}
"""
PEOPLE = ("id,email,first,last\np1,ann@example.com,Ann,Lee\np2,bob@example.com,Bob,Ray\n"
          "p3,cy@example.com,Cy,Oak\n")
NEEDS_ORDERS = "needs an order source (entity: order or pos_transaction)"


def test_run_on_a_users_contacts_only_skips_what_needs_orders(spark, tmp_path, monkeypatch, capsys):
    shop = tmp_path / "shop"
    (shop / "exports" / "people").mkdir(parents=True)
    (shop / "exports" / "people" / "people.csv").write_text(PEOPLE)
    (shop / "my.yml").write_text(MY_YML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CRM_SPARK_CONF_DIR", raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "ERROR")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])        # as in a fresh `crm-spark` process
    monkeypatch.setattr(root, "level", root.level)
    # the shared test session's Spark settings; paths come from my.yml
    own_paths = ("lake.", "mlflow.", "spark.ivy_dir", "spark.jars_dir")
    sets = [o for o in conftest.test_overrides(tmp_path) if not o.startswith(own_paths)]

    code = main(["--conf", str(shop / "my.yml"), *[a for s in sets for a in ("--set", s)], "run"])
    captured = capsys.readouterr()

    assert code == 0, captured.err
    skipped = [line.split(": ", 1)[1] for line in captured.err.splitlines() if " skipped: " in line]
    assert skipped == [f"stage {stage} skipped: it {NEEDS_ORDERS}"
                       for stage in ("gold", "features", "train", "score")]
    assert "does not exist yet" not in captured.err
    assert sorted(p.name for p in (shop / "exports").iterdir()) == ["people"]   # no demo data generated
    assert not any(elsewhere.iterdir())                                          # nothing written here
    lake = Lake(spark, str(shop / "lake"))
    assert lake.read("silver.customers").count() == 3
    statuses = {r["stage"]: (r["status"], r["error"]) for r in lake.read("ops.runs").collect()}
    assert statuses == {"ingest": ("succeeded", None), "silver": ("succeeded", None),
                        "resolve": ("succeeded", None), "gold": ("skipped", NEEDS_ORDERS),
                        "features": ("skipped", NEEDS_ORDERS), "train": ("skipped", NEEDS_ORDERS),
                        "score": ("skipped", NEEDS_ORDERS)}
    assert lake.read("ops.runs").filter(F.col("status") == "skipped").count() == 4
    assert "(skipped: needs an order source" in captured.out
    assert (shop / "report" / "crm.html").is_file()
