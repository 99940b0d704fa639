"""`crm-spark sql`: a query printed as a table or written as CSV, a one-line error for bad SQL,
and the interactive shell (issue 23)."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import pytest
from pyspark.sql import Row

from crm_spark import cli
from crm_spark.sql.query import QueryResult, format_result, statements
from crm_spark.tables import Lake
from tests.conftest import test_overrides as overrides_for

CUSTOMERS = [Row(customer_id="C1", name="Ada", orders=3, tags=["vip", "uk"]),
             Row(customer_id="C2", name=None, orders=12, tags=[])]


@pytest.fixture
def small_lake(spark, tmp_path, monkeypatch):
    """A lake with gold.customer_360 of two customers; the CLI's logging set as in a fresh process."""
    Lake(spark, str(tmp_path / "lake")).overwrite(spark.createDataFrame(CUSTOMERS), "gold.customer_360")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    return tmp_path


def sql(root, *args) -> int:
    return cli.main([*(x for o in overrides_for(root) for x in ("--set", o)), "sql", *args])


def test_a_query_prints_a_readable_table(small_lake, capsys):
    code = sql(small_lake, "SELECT customer_id, name, orders FROM gold.customer_360 ORDER BY customer_id")
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "customer_id | name | orders",
        "------------+------+-------",
        "C1          | Ada  |      3",
        "C2          | NULL |     12",
        "(2 rows)",
    ]


def test_bad_sql_is_one_line_and_exit_1(small_lake, capsys):
    assert sql(small_lake, "SELEC name FROM gold.customer_360") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("crm-spark: error: sql: [PARSE_SYNTAX_ERROR]")
    assert "Traceback" not in err and '"level": "ERROR"' not in err
    assert sql(small_lake, "SELECT nope FROM gold.customer_360") == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "crm-spark: error: sql: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function "
        "parameter with name `nope` cannot be resolved.")


def test_out_writes_every_row_as_csv_with_lists_as_json(small_lake, capsys):
    out = small_lake / "customers.csv"
    code = sql(small_lake, "SELECT customer_id, tags FROM gold.customer_360 ORDER BY customer_id",
               "--out", str(out))
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"2 rows written to {out}"
    assert out.read_text().splitlines() == ['customer_id,tags', 'C1,"[""vip"",""uk""]"', "C2,[]"]


def test_the_shell_runs_statements_until_quit_and_goes_on_after_an_error(small_lake, capsys, monkeypatch):
    typed = ("SELECT name\n  FROM gold.customer_360\n WHERE customer_id = 'C1';\n"
             "SELEC 1;\n"
             "SELECT 2 AS two;\n"
             "quit\n"
             "SELECT 3 AS three;\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert sql(small_lake) == 1            # one statement failed
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["name", "----", "Ada", "(1 row)"]
    assert out[4].startswith("error: sql: [PARSE_SYNTAX_ERROR]")
    assert out[5:] == ["two", "---", "  2", "(1 row)"]


def test_statements_end_with_a_semicolon_and_quit_or_the_end_of_input_stops():
    assert list(statements(["SELECT 1;", "", "SELECT", "2 ;", "exit;", "SELECT 3;"])) == [
        "SELECT 1", "SELECT\n2"]
    assert list(statements(["SELECT 1", "FROM t"])) == ["SELECT 1\nFROM t"]
    assert list(statements([";", "QUIT"])) == []


def test_a_result_cut_at_max_rows_says_so():
    result = QueryResult(["n", "amount"], [(1, Decimal("2.50")), (10, None)], is_complete=False)
    assert format_result(result).splitlines() == [
        " n | amount",
        "---+-------",
        " 1 |   2.50",
        "10 |   NULL",
        "(first 2 rows shown; --max-rows N shows more, --out FILE.csv writes all)",
    ]
