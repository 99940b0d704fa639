"""Each expectation kind on a few inline rows; the failing counts are written by hand."""

import datetime as dt
import json

import pytest

from crm_spark.config import ExpectationConfig, InvalidValue
from crm_spark.quality import expectations as ex


def exp(**kwargs) -> ExpectationConfig:
    return ExpectationConfig(**kwargs)


def test_row_level_kinds_are_counted_in_one_pass_with_samples(spark):
    df = spark.createDataFrame([
        (1, "x", "email", 0), (None, "y", "phone", 1), (3, None, "fax", 5),
        (None, None, None, 6), (5, "z", "EMAIL", None),
    ], "a INT, b STRING, rule STRING, score INT")
    not_null = exp(kind="not_null", columns=("a", "b"))
    accepted = exp(kind="accepted_values", column="rule", values=("email", "phone"))
    in_range = exp(kind="range", column="score", min=1, max=5)
    checks = ex.row_checks(df, [not_null, accepted, in_range], sample_rows=5)
    assert [(c.passed, c.failing_rows, c.rows_checked) for c in checks] == [
        (False, 3, 5),      # (None, y), (3, None), (None, None)
        (False, 2, 5),      # fax and EMAIL; the null rule passes (not_null checks nulls)
        (False, 2, 5),      # 0 and 6; the null score passes
    ]
    assert json.loads(checks[2].sample) == [
        {"a": 1, "b": "x", "rule": "email", "score": 0},
        {"a": None, "b": None, "rule": None, "score": 6},
    ]


def test_sample_holds_at_most_the_configured_rows(spark):
    df = spark.createDataFrame([(None,)] * 7 + [(1,)], "a INT")
    check = ex.row_checks(df, [exp(kind="not_null", column="a")], sample_rows=2)[0]
    assert (check.failing_rows, len(json.loads(check.sample))) == (7, 2)


def test_range_with_one_bound_on_decimals_and_dates(spark):
    df = spark.createDataFrame([
        ("-1.00", dt.date(2023, 12, 31)), ("0.00", dt.date(2024, 1, 1)), ("10.50", dt.date(2024, 6, 1)),
    ], "total STRING, day DATE").selectExpr("CAST(total AS DECIMAL(14,2)) AS total", "day")
    total, day = ex.row_checks(df, [exp(kind="range", column="total", min=0),
                                    exp(kind="range", column="day", min=dt.date(2024, 1, 1))], 5)
    assert (total.failing_rows, day.failing_rows) == (1, 1)


def test_passing_checks_have_no_sample(spark):
    df = spark.createDataFrame([(1,), (2,)], "a INT")
    check = ex.row_checks(df, [exp(kind="not_null", column="a")], 5)[0]
    assert (check.passed, check.failing_rows, check.sample) == (True, 0, "[]")


def test_unique_counts_every_row_of_a_duplicated_key_nulls_equal(spark):
    df = spark.createDataFrame([("a",), ("a",), ("b",), ("c",), ("c",), ("c",), (None,), (None,)], "k STRING")
    check = ex.unique(df, exp(kind="unique", column="k"), 5)
    assert (check.passed, check.failing_rows, check.rows_checked) == (False, 7, 8)
    assert json.loads(check.sample) == [{"k": None, "rows": 2}, {"k": "a", "rows": 2}, {"k": "c", "rows": 3}]
    assert check.observed.startswith("3 duplicated keys in 7 of 8 rows")


def test_unique_on_two_columns(spark):
    df = spark.createDataFrame([("web", "O1"), ("store", "O1"), ("web", "O2"), ("web", "O2")],
                               "channel STRING, order_id STRING")
    check = ex.unique(df, exp(kind="unique", columns=("channel", "order_id")), 5)
    assert (check.failing_rows, check.rows_checked) == (2, 4)


def test_referential_finds_orphans_and_ignores_nulls(spark):
    orders_df = spark.createDataFrame([("O1", "C1"), ("O2", "C2"), ("O3", "C9"), ("O4", None), ("O5", "C9")],
                                      "order_id STRING, customer_id STRING")
    customers_df = spark.createDataFrame([("C1",), ("C2",), ("C2",)], "id STRING")
    rule = exp(kind="referential", column="customer_id", ref_table="silver.customers", ref_column="id")
    check = ex.referential(orders_df, customers_df, rule, 5)
    assert (check.passed, check.failing_rows, check.rows_checked) == (False, 2, 5)
    assert json.loads(check.sample) == [{"order_id": "O3", "customer_id": "C9"},
                                        {"order_id": "O5", "customer_id": "C9"}]


def test_referential_to_a_missing_table_fails_every_non_null_value(spark):
    orders_df = spark.createDataFrame([("O1", "C1"), ("O2", None)], "order_id STRING, customer_id STRING")
    rule = exp(kind="referential", column="customer_id", ref_table="silver.customers")
    assert ex.referential(orders_df, None, rule, 5).failing_rows == 1


@pytest.mark.parametrize("max_age_days, passed", [(7, True), (6, True), (5, False)])
def test_freshness_against_the_as_of_date(spark, max_age_days, passed):
    # newest day 2024-12-25; as of 2024-12-31 it is 6 days old
    df = spark.createDataFrame([(dt.datetime(2024, 12, 20, 8),), (dt.datetime(2024, 12, 25, 23, 59),)],
                               "seen_at TIMESTAMP")
    check = ex.freshness(df, exp(kind="freshness", column="seen_at", max_age_days=max_age_days),
                         dt.date(2024, 12, 31))
    assert (check.passed, check.failing_rows, check.rows_checked) == (passed, None, 2)
    assert "newest seen_at 2024-12-25" in check.observed


def test_freshness_of_an_empty_table_fails(spark):
    df = spark.createDataFrame([], "day DATE")
    rule = exp(kind="freshness", column="day", max_age_days=1)
    assert not ex.freshness(df, rule, dt.date(2024, 1, 1)).passed


@pytest.mark.parametrize("rows, previous, passed", [
    (80, 100, False),    # -20 % < -10 %
    (90, 100, True),     # -10 % is allowed
    (150, 100, True),    # +50 % is allowed
    (151, 100, False),   # +51 % is not
    (5, None, True),     # no earlier version
    (5, 0, True),        # an empty earlier version gives no ratio
])
def test_row_count_change_bounds(rows, previous, passed):
    rule = exp(kind="row_count_change", min_change=-0.1, max_change=0.5)
    assert ex.row_count_change(rows, previous, rule).passed is passed


def test_row_count_change_says_what_it_saw():
    rule = exp(kind="row_count_change", min_change=-0.1)
    assert ex.row_count_change(80, 100, rule).observed == "100 -> 80 rows (-20.0%; allowed [-10%, any])"


@pytest.mark.parametrize("kwargs, field, message", [
    ({"kind": "not_nul", "column": "a"}, "kind", "'not_nul' is not one of not_null, unique"),
    ({"kind": "unique"}, "column", "kind unique needs column"),
    ({"kind": "range", "column": "a"}, "min", "kind range needs max or min"),
    ({"kind": "not_null", "column": "a", "values": (1,)}, "values", "does not apply to kind not_null"),
    ({"kind": "not_null", "column": "a", "policy": "stop"}, "policy", "'stop' is not warn or fail"),
    ({"kind": "referential", "column": "a", "ref_table": "x; drop"}, "ref_table", "not a table name"),
    ({"kind": "range", "columns": ("a", "b"), "min": 1}, "columns", "takes one column"),
    ({"kind": "not_null", "column": "a b"}, "column", "'a b' is not a column name"),
])
def test_invalid_expectations_name_the_field(kwargs, field, message):
    with pytest.raises(InvalidValue) as err:
        ExpectationConfig(**kwargs)
    assert err.value.field_name == field and message in str(err.value)


def test_default_names_come_from_kind_and_columns():
    assert exp(kind="unique", columns=("source", "source_id")).name == "unique_source_source_id"
    assert exp(kind="row_count_change", max_change=1.0).name == "row_count_change"
