"""Spark and Delta failures a user can cause end in one line (issue 21, point 7): two ingests of
one source at once, a declared type that conflicts with bronze, and a batch mostly quarantined
(a loud warning, not an error)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from crm_spark.bronze import files
from crm_spark.errors import ConcurrentRunError, CrmSparkError, known_failure
from crm_spark.sources.registry import load_sources
from tests.bronze.conftest import ORDERS_HEADER, ORDERS_SOURCE
from tests.conftest import PROJECT

PEOPLE = """
sources:
  t_people:
    channel: test
    entity: contact
    format: csv
    location: t_people
    options: {header: true}
    schema: person_id STRING, email {email_type}
    required: [person_id]
    mapping: {source_id: person_id, email: email}
"""


@pytest.fixture
def people(source):
    """t_people ingested once with email declared STRING, and a second file landed since."""
    people = source("t_people", PEOPLE.replace("{email_type}", "STRING"))
    people.drop("1.csv", "person_id,email\np1,zoe@example.com\n")
    people.ingest()
    people.drop("2.csv", "person_id,email\np2,ann@example.com\n")
    return people


def gate(started: str, released: str):
    """A row filter that keeps every row, but holds its task until ``released`` exists (at most
    two minutes); ``started`` tells the test that the task, and so Delta's transaction, runs."""
    def keep(_value):
        if not os.path.exists(released):
            with open(started, "a"):
                pass
            deadline = time.monotonic() + 120
            while not os.path.exists(released) and time.monotonic() < deadline:
                time.sleep(0.1)
        return True
    return F.udf(keep, "boolean")


def query_log(checkpoint: Path, batch_id: int, path: str) -> None:
    """The file source's log entry of one batch, as the streaming query writes it."""
    folder = checkpoint / "sources" / "0"
    folder.mkdir(parents=True, exist_ok=True)
    entry = json.dumps({"path": path, "timestamp": 0, "batchId": batch_id})
    (folder / str(batch_id)).write_text(f"v1\n{entry}\n")


def test_another_ingest_committing_the_same_batch_first_is_one_line(orders, ctx, tmp_path):
    orders.drop("a.csv", ORDERS_HEADER + "A1,c1,01/03/2024 10:00,5.25\n")
    cfg = orders.config()
    orders.ingest(cfg)                                 # batch 0: bronze.t_orders exists
    lake = orders.lake
    spark = lake.spark
    b = orders.drop("b.csv", ORDERS_HEADER + "B1,c2,02/03/2024 10:00,1.00\n"
                                             "B2,c3,02/03/2024 11:00,2.00\n")
    source = load_sources(cfg, "t_orders")[0]
    checkpoint = tmp_path / "checkpoint"
    query_log(checkpoint, 1, b.as_uri())
    batch_df = spark.read.text(str(b)).withColumn("_source_file", F.col("_metadata.file_path"))
    started, released = str(tmp_path / "started"), str(tmp_path / "released")
    held_df = batch_df.where(gate(started, released)("value"))
    failure: list[BaseException] = []

    def this_ingest():
        try:
            files.process_batch(lake, cfg, source, ctx, held_df, 1, str(checkpoint))
        except BaseException as e:  # noqa: BLE001 - the test reads it
            failure.append(e)

    loser = threading.Thread(target=this_ingest)
    loser.start()
    try:
        deadline = time.monotonic() + 240
        while not os.path.exists(started) and time.monotonic() < deadline and loser.is_alive():
            time.sleep(0.2)
        assert os.path.exists(started), failure
        # the other ingest writes the same batch and commits while this one's append is open
        files.process_batch(lake, cfg, source, ctx, batch_df, 1, str(checkpoint))
    finally:
        Path(released).touch()
        loser.join(240)

    assert len(failure) == 1 and isinstance(failure[0], ConcurrentRunError), failure
    assert str(failure[0]) == "another ingest of source t_orders is running; nothing was written by this one"
    assert "ConcurrentTransactionException" in str(failure[0].__cause__)
    # the command line's net maps Delta's exception alone to one line too
    assert isinstance(known_failure(failure[0].__cause__), ConcurrentRunError)
    assert "\n" not in str(known_failure(failure[0].__cause__))
    assert sorted(r.order_id for r in lake.read("bronze.t_orders").collect()) == ["A1", "B1", "B2"]
    assert sorted(r.batch_id for r in lake.read("bronze._ingest_log").collect()) == [0, 1]


def test_a_declared_type_that_conflicts_with_bronze_is_one_line_naming_both_types(people):
    people.yaml = PEOPLE.replace("{email_type}", "INT")

    with pytest.raises(CrmSparkError) as raised:
        people.ingest()

    message = str(raised.value)
    assert "\n" not in message
    assert ("t_people: source t_people declares email INT but bronze stores email as STRING: "
            "bronze keeps the types it was created with") in message, message
    assert "Declare the stored type again" in message and "new source name" in message
    assert [r.person_id for r in people.lake.read("bronze.t_people").collect()] == ["p1"]


def test_the_command_line_prints_a_type_conflict_as_one_line(people, landing):
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [sys.executable, "-m", "crm_spark.cli",
               *landing.cli_args(PEOPLE.replace("{email_type}", "INT")), "ingest", "--source", "t_people"]
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("crm-spark: error:")]
    assert len(errors) == 1 and "declares email INT but bronze stores email as STRING" in errors[0]
    assert "Traceback" not in done.stderr and "\tat org.apache" not in done.stderr, done.stderr[-3000:]


def test_a_batch_mostly_quarantined_is_a_loud_warning_with_its_top_reasons(orders, caplog):
    # total declared INT: every "x.25" is no INT, the row is kept and the value quarantined
    orders.drop("a.csv", ORDERS_HEADER + "A1,c1,01/03/2024 10:00,5.25\n"
                                         "A2,c2,01/03/2024 11:00,6.25\n"
                                         "A3,c3,not a date,7\n")
    orders.yaml = ORDERS_SOURCE.replace("total DECIMAL(10,2)", "total INT")
    with caplog.at_level(logging.WARNING, logger="crm_spark.bronze.batch"):
        orders.ingest(orders.config(["ingest.warn_quarantine_share=0.5"]))

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "crm_spark.bronze.batch"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("SOURCE t_orders: 100 % of batch 0 quarantined (3 of 3 rows lost "
                                  "the row or a value; ingest.warn_quarantine_share is 50 %)"), warnings[0]
    top = {r.rsplit(" (", 1)[0]: int(r.rsplit(" (", 1)[1].rstrip(")"))
           for r in warnings[0].split("Top reasons: ")[1].split("; ")}
    assert sum(top.values()) == 3, top      # two total values, one ordered_at row
    assert {reason.split(":")[0] for reason in top} == {"total", "ordered_at"}, top


def test_a_batch_under_the_share_gives_no_warning(orders, caplog):
    good = "".join(f"G{i},c{i},01/03/2024 10:00,{i}.00\n" for i in range(19))
    orders.drop("a.csv", ORDERS_HEADER + good + "B1,c1,not a date,1.00\n")   # 1 of 20: 5 %
    with caplog.at_level(logging.WARNING, logger="crm_spark.bronze.batch"):
        orders.ingest()
    assert not [r for r in caplog.records if r.getMessage().startswith("SOURCE ")]
    assert orders.lake.read("bronze._quarantine").count() == 1
