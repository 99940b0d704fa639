"""The expectation kinds as checks on a DataFrame: each returns a :class:`Check` (passed, failing
rows, rows checked, what was observed, a few failing rows as JSON) and writes nothing.

Row-level kinds (not_null, accepted_values, range) are a condition per row, so all of a table's
are counted in one pass (:func:`row_checks`); unique and referential need a grouping or a
join; freshness and row_count_change judge the table as a whole (``failing_rows`` is None).
Nulls pass accepted_values, range and referential: not_null is the check for them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark.config import ExpectationConfig

ROW_KINDS = ("not_null", "accepted_values", "range")


@dataclass(frozen=True)
class Check:
    passed: bool
    failing_rows: int | None
    rows_checked: int
    observed: str
    sample: str = "[]"


def failing_condition(exp: ExpectationConfig) -> Column:
    """The condition true for a row that breaks a row-level expectation."""
    if exp.kind == "not_null":
        return functools.reduce(operator.or_, [F.col(c).isNull() for c in exp.keys])
    assert exp.column is not None  # every row-level kind but not_null requires it at load time
    column = F.col(exp.column)
    if exp.kind == "accepted_values":
        return column.isNotNull() & ~column.isin(list(exp.values))
    if exp.kind == "range":
        low = column < F.lit(exp.min) if exp.min is not None else F.lit(False)
        high = column > F.lit(exp.max) if exp.max is not None else F.lit(False)
        return column.isNotNull() & (low | high)
    raise ValueError(f"{exp.kind} is not a row-level expectation kind")


def filter_failing(df: DataFrame, exp: ExpectationConfig) -> DataFrame:
    """The rows of ``df`` that break a row-level expectation."""
    return df.filter(failing_condition(exp))


def row_checks(df: DataFrame, exps: Sequence[ExpectationConfig], sample_rows: int) -> list[Check]:
    """Every row-level expectation of one table, counted in one pass over ``df``."""
    if not exps:
        return []
    counts = df.agg(F.count(F.lit(1)).alias("rows"), *[
        F.count(F.when(failing_condition(e), 1)).alias(f"f{i}") for i, e in enumerate(exps)]).collect()[0]
    checks = []
    for i, exp in enumerate(exps):
        failing = counts[f"f{i}"]
        sample = samples(filter_failing(df, exp), exp.keys, sample_rows) if failing else "[]"
        checks.append(Check(failing == 0, failing, counts["rows"],
                            f"{failing:,} of {counts['rows']:,} rows break it", sample))
    return checks


def unique(df: DataFrame, exp: ExpectationConfig, sample_rows: int) -> Check:
    """Rows whose key (nulls compare equal) occurs more than once all count as failing; the
    sample lists duplicated keys with their number of rows."""
    keys_df = df.groupBy(*exp.keys).agg(F.count(F.lit(1)).alias("rows"))
    counts = keys_df.agg(F.sum("rows").alias("rows"),
                         F.sum(F.when(F.col("rows") > 1, F.col("rows"))).alias("failing"),
                         F.count(F.when(F.col("rows") > 1, 1)).alias("keys")).collect()[0]
    rows, failing = counts["rows"] or 0, counts["failing"] or 0
    sample = samples(keys_df.filter(F.col("rows") > 1), exp.keys, sample_rows) if failing else "[]"
    return Check(failing == 0, failing, rows,
                 f"{counts['keys']:,} duplicated keys in {failing:,} of {rows:,} rows", sample)


def referential(df: DataFrame, ref_df: DataFrame | None, exp: ExpectationConfig,
                sample_rows: int) -> Check:
    """Rows whose (non-null) ``column`` value is missing from ``ref_column`` of the referenced
    table; a referenced table that does not exist yet counts as empty."""
    assert exp.column is not None  # required of a referential expectation at load time
    ref_column = exp.ref_column or exp.column
    if ref_df is None:
        checked_df, orphan = df, F.col(exp.column).isNotNull()
    else:
        ref_keys_df = ref_df.select(F.col(ref_column).alias("_ref_key")).filter(F.col("_ref_key").isNotNull())
        checked_df = df.alias("d").join(ref_keys_df.distinct().alias("r"),
                                        on=F.col(f"d.{exp.column}") == F.col("r._ref_key"), how="left")
        orphan = F.col(f"d.{exp.column}").isNotNull() & F.col("r._ref_key").isNull()
    counts = checked_df.agg(F.count(F.lit(1)).alias("rows"),
                            F.count(F.when(orphan, 1)).alias("failing")).collect()[0]
    failing = counts["failing"]
    orphans_df = df.filter(orphan) if ref_df is None else checked_df.filter(orphan).select("d.*")
    sample = samples(orphans_df, exp.keys, sample_rows) if failing else "[]"
    return Check(failing == 0, failing, counts["rows"],
                 f"{failing:,} of {counts['rows']:,} rows have a {exp.column} missing from "
                 f"{exp.ref_table}.{ref_column}", sample)


def freshness(df: DataFrame, exp: ExpectationConfig, reference: dt.date) -> Check:
    """The newest ``column`` value (a date or timestamp; its date counts) must be no older than
    ``max_age_days`` before ``reference`` (the run's as-of date, never the wall clock)."""
    assert exp.column is not None and exp.max_age_days is not None  # required at load time
    counts = df.agg(F.count(F.lit(1)).alias("rows"),
                    F.max(F.to_date(exp.column)).alias("newest")).collect()[0]
    oldest_allowed = reference - dt.timedelta(days=exp.max_age_days)
    newest = counts["newest"]
    passed = newest is not None and newest >= oldest_allowed
    observed = (f"newest {exp.column} {newest or 'none'}; oldest allowed {oldest_allowed} "
                f"({exp.max_age_days} days before {reference})")
    return Check(passed, None, counts["rows"], observed)


def row_count_change(rows: int, previous_rows: int | None, exp: ExpectationConfig) -> Check:
    """The relative change in rows against the previous version, (rows - previous) / previous,
    must lie within [min_change, max_change]; with no previous version (or an empty one) there is
    nothing to compare and the check passes."""
    if not previous_rows:
        return Check(True, None, rows, f"{rows:,} rows; no earlier non-empty version to compare")
    change = (rows - previous_rows) / previous_rows
    passed = ((exp.min_change is None or change >= exp.min_change)
              and (exp.max_change is None or change <= exp.max_change))
    bounds = f"[{_fmt_change(exp.min_change)}, {_fmt_change(exp.max_change)}]"
    return Check(passed, None, rows, f"{previous_rows:,} -> {rows:,} rows ({change:+.1%}; allowed {bounds})")


def samples(failing_df: DataFrame, order_by: Sequence[str], n: int) -> str:
    """Up to ``n`` rows as a JSON array of objects, the first by ``order_by`` and then by their
    JSON text (so the same data gives the same sample)."""
    if n <= 0:
        return "[]"
    # ignoreNullFields off: a null is often the very reason a row fails
    as_json = F.to_json(F.struct("*"), {"ignoreNullFields": "false"}).alias("_row")
    rows = (failing_df.select(*[F.col(c).alias(f"_k{i}") for i, c in enumerate(order_by)], as_json)
            .orderBy(*[f"_k{i}" for i in range(len(order_by))], "_row").limit(n).collect())
    return json.dumps([json.loads(r["_row"]) for r in rows], sort_keys=True)


def _fmt_change(value: float | None) -> str:
    return "any" if value is None else f"{value:+.0%}"
