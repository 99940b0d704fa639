"""The as-of date: one after the latest data is refused unless forced, a snapshot can be dropped,
and the report and audience exports default to the newest snapshot the data reaches."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_spark.as_of import drop_snapshot, resolve_as_of
from crm_spark.cli import main
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.gold.audiences import export_audience
from crm_spark.report import latest_as_of
from crm_spark.tables import Lake
from tests.conftest import make_config
from tests.conftest import test_overrides as overrides_for  # not collected as a test

STARTED = dt.datetime(2024, 3, 20, tzinfo=dt.UTC)
KPIS = "month DATE, revenue DOUBLE, as_of DATE"
AUDIENCES = "as_of DATE, channel STRING, segment_kind STRING, segment STRING, customer_id STRING"


@pytest.fixture
def silver_lake(spark, tmp_path):
    """Orders up to 2024-03-10 and web events up to 2024-03-12 23:30 (UTC): the latest data day
    is 2024-03-12."""
    cfg = make_config(tmp_path)
    lake = Lake(spark, cfg.lake.root)
    orders_df = spark.sql("SELECT * FROM VALUES ('o1', TIMESTAMP'2024-03-01 10:00:00'), "
                          "('o2', TIMESTAMP'2024-03-10 18:00:00') AS t(order_id, order_ts)")
    lake.overwrite(orders_df, "silver.orders")
    lake.overwrite(spark.sql("SELECT * FROM VALUES ('e1', TIMESTAMP'2024-03-12 23:30:00') "
                             "AS t(event_id, event_ts)"), "silver.web_events")
    return cfg, lake, tmp_path


def at(as_of, force=False):
    return RunContext("t", STARTED, as_of, force_as_of=force)


def test_an_as_of_after_the_latest_data_is_refused_unless_forced(silver_lake):
    _, lake, _ = silver_lake
    assert resolve_as_of(lake, at(None)) == dt.date(2024, 3, 10)            # the latest order day
    assert resolve_as_of(lake, at(dt.date(2024, 3, 13))) == dt.date(2024, 3, 13)  # the day after
    with pytest.raises(CrmSparkError) as err:
        resolve_as_of(lake, at(dt.date(2099, 1, 1)))
    assert str(err.value) == ("--as-of 2099-01-01 is after the latest data (2024-03-12, the newest event "
                              "in silver); pass --force-as-of to compute it anyway")
    assert resolve_as_of(lake, at(dt.date(2099, 1, 1), force=True)) == dt.date(2099, 1, 1)


def test_gold_with_a_future_as_of_fails_in_one_line_and_writes_nothing(silver_lake, capsys):
    cfg, lake, root = silver_lake
    options = [a for o in overrides_for(root) for a in ("--set", o)]

    status = main([*options, "gold", "--as-of", "2099-01-01"])

    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "crm-spark: error: --as-of 2099-01-01 is after the latest data (2024-03-12, the newest event in "
        "silver); pass --force-as-of to compute it anyway")
    assert not lake.exists("gold.kpi_monthly")


def test_drop_snapshot_removes_one_date_from_gold_and_features(silver_lake, spark):
    cfg, lake, _ = silver_lake
    kpis = [(dt.date(2024, 3, 1), 10.0, dt.date(2024, 3, 12)),
            (dt.date(2098, 12, 1), 0.0, dt.date(2099, 1, 1)),
            (dt.date(2098, 11, 1), 0.0, dt.date(2099, 1, 1))]
    lake.append(spark.createDataFrame(kpis, KPIS), "gold.kpi_monthly", partition_by=["as_of"])
    lake.append(spark.createDataFrame([("C1", dt.date(2099, 1, 1))], "customer_id STRING, as_of DATE"),
                   "features.customer_features", partition_by=["as_of"])
    lake.overwrite(spark.createDataFrame([("x",)], "k STRING"), "gold.no_snapshots")

    deleted = drop_snapshot(spark, cfg, dt.date(2099, 1, 1))

    assert deleted == {"gold.kpi_monthly": 2, "features.customer_features": 1}
    assert [r.as_of for r in lake.read("gold.kpi_monthly").collect()] == [dt.date(2024, 3, 12)]
    assert lake.read("features.customer_features").count() == 0
    with pytest.raises(CrmSparkError, match=r"^no snapshot at 2099-01-01 in the gold or features tables; "
                                            r"latest snapshots: 2024-03-12$"):
        drop_snapshot(spark, cfg, dt.date(2099, 1, 1))


def test_report_and_exports_default_to_the_newest_snapshot_the_data_reaches(silver_lake, spark):
    cfg, lake, root = silver_lake
    kpis = [(dt.date(2024, 3, 1), 10.0, dt.date(2024, 3, 5)),
            (dt.date(2024, 3, 1), 12.0, dt.date(2024, 3, 13)),
            (dt.date(2098, 12, 1), 0.0, dt.date(2099, 1, 1))]
    lake.append(spark.createDataFrame(kpis, KPIS), "gold.kpi_monthly", partition_by=["as_of"])
    audiences = [(dt.date(2024, 3, 13), "email", "rfm", "Champions", "C1"),
                 (dt.date(2099, 1, 1), "email", "rfm", "Champions", "C2"),
                 (dt.date(2099, 1, 1), "email", "rfm", "Champions", "C3")]
    lake.append(spark.createDataFrame(audiences, AUDIENCES), "gold.audiences", partition_by=["as_of"])

    assert latest_as_of(lake) == dt.date(2024, 3, 13)
    rows, as_of = export_audience(spark, cfg, "email", "Champions", str(root / "champions.csv"))
    assert (rows, as_of) == (1, dt.date(2024, 3, 13))
    assert (root / "champions.csv").read_text().split() == ["customer_id", "C1"]
