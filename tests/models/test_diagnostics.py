"""Lift and calibration tables on small scored sets whose answers are worked out by hand."""

from __future__ import annotations

import pytest
from chispa import assert_approx_df_equality

from crm_spark.errors import ConfigError
from crm_spark.models.churn import top_decile
from crm_spark.models.diagnostics import calibration_table, lift_table

SCORED = "customer_id string, churned int, churn_probability double"
LIFT = ("bin int, customers long, churners long, churn_rate double, mean_probability double, lift double, "
        "cumulative_capture double, cumulative_lift double")
CALIBRATION = ("bin int, lower double, upper double, customers long, mean_probability double, "
               "observed_rate double")


def scored(spark, rows):
    return spark.createDataFrame(rows, SCORED)


def test_lift_table_by_hand(spark):
    # 10 customers in 5 groups of 2; 4 churners, base rate 0.4.
    rows = [("c0", 1, 0.95), ("c1", 1, 0.85), ("c2", 1, 0.75), ("c3", 0, 0.65), ("c4", 0, 0.55),
            ("c5", 1, 0.45), ("c6", 0, 0.35), ("c7", 0, 0.25), ("c8", 0, 0.15), ("c9", 0, 0.05)]
    expected = [
        (1, 2, 2, 1.0, 0.90, 2.5, 0.5, 2.5),
        (2, 2, 1, 0.5, 0.70, 1.25, 0.75, 1.875),     # groups 1-2: 3 of 4 rows churn
        (3, 2, 1, 0.5, 0.50, 1.25, 1.0, 4 / 6 / 0.4),
        (4, 2, 0, 0.0, 0.30, 0.0, 1.0, 1.25),
        (5, 2, 0, 0.0, 0.10, 0.0, 1.0, 1.0),
    ]
    assert_approx_df_equality(lift_table(scored(spark, rows), bins=5), spark.createDataFrame(expected, LIFT),
                              1e-9, ignore_nullable=True)


def test_uneven_groups_and_ties_follow_the_top_decile_definition(spark):
    # 7 rows in 3 groups: sizes 3, 2, 2. Three rows tie at 0.9 and the ids order them (a, b, c):
    # group 1 is a, b, c; group 2 d, e; group 3 f, g.
    rows = [("c", 0, 0.9), ("a", 1, 0.9), ("b", 0, 0.9), ("d", 1, 0.8), ("e", 0, 0.5), ("f", 0, 0.4),
            ("g", 1, 0.1)]
    table = {r["bin"]: r for r in lift_table(scored(spark, rows), bins=3).collect()}
    assert [table[b]["customers"] for b in (1, 2, 3)] == [3, 2, 2]
    assert [table[b]["churners"] for b in (1, 2, 3)] == [1, 1, 1]
    assert table[1]["lift"] == pytest.approx((1 / 3) / (3 / 7))
    assert table[2]["cumulative_capture"] == pytest.approx(2 / 3)
    # With ten groups, group 1 is churn.top_decile's top ceil(7 / 10) = 1 row: 'a', a churner.
    deciles = lift_table(scored(spark, rows)).collect()
    assert [r["customers"] for r in deciles] == [1] * 7
    assert deciles[0]["lift"] == pytest.approx(7 / 3)
    assert deciles[0]["lift"] == pytest.approx(top_decile(scored(spark, rows))["lift_top_decile"])


def test_lift_without_churners_is_null_not_an_error(spark):
    table = lift_table(scored(spark, [("a", 0, 0.7), ("b", 0, 0.2)]), bins=2).collect()
    assert [(r["churners"], r["churn_rate"], r["lift"], r["cumulative_capture"]) for r in table] == [
        (0, 0.0, None, None), (0, 0.0, None, None)]


def test_calibration_table_by_hand(spark):
    rows = [("a", 0, 0.05), ("b", 0, 0.08), ("c", 1, 0.15), ("d", 1, 0.55), ("e", 0, 0.58),
            ("f", 1, 0.95), ("g", 1, 1.0), ("h", 1, None)]
    expected = [
        (0, 0.0, 0.1, 2, 0.065, 0.0),
        (1, 0.1, 0.2, 1, 0.15, 1.0),
        (5, 0.5, 0.6, 2, 0.565, 0.5),
        (9, 0.9, 1.0, 2, 0.975, 1.0),   # p = 1.0 belongs to the last bin; the null row is left out
    ]
    assert_approx_df_equality(calibration_table(scored(spark, rows)),
                              spark.createDataFrame(expected, CALIBRATION), 1e-9, ignore_nullable=True)


def test_bins_must_be_positive(spark):
    with pytest.raises(ConfigError, match="bins"):
        lift_table(scored(spark, [("a", 1, 0.5)]), bins=0)
    with pytest.raises(ConfigError, match="bins"):
        calibration_table(scored(spark, [("a", 1, 0.5)]), bins=0)
