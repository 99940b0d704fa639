"""SQL over the lake's tables for ``crm-spark sql``: one query printed as a table or written
as CSV, or an interactive shell reading statements that end with ``;``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from crm_spark import fs
from crm_spark.errors import CrmSparkError
from crm_spark.sql import DEFAULT_MAX_ROWS

log = logging.getLogger(__name__)

MAX_CELL = 80
QUIT = ("quit", "exit", "quit;", "exit;")


class SqlError(CrmSparkError):
    """A statement Spark refused (syntax, unknown table or column, a failure while running)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    is_complete: bool          # False: more rows than were fetched


def run_query(spark: SparkSession, statement: str, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one SQL statement and fetch at most ``max_rows`` of its rows.

    Raises:
        SqlError: Spark refused or failed the statement (one line: Spark's own first line).
    """
    with _one_line_errors():
        result_df = spark.sql(statement)
        rows = [tuple(r) for r in result_df.limit(max_rows + 1).collect()]
    return QueryResult(result_df.columns, rows[:max_rows], len(rows) <= max_rows)


def write_csv(spark: SparkSession, statement: str, out: str) -> int:
    """Write every row of the statement's result to the single CSV file ``out`` (with a header;
    nested values as JSON), in the result's order.

    Returns:
        Rows written.

    Raises:
        SqlError: Spark refused or failed the statement.
    """
    if not out.lower().endswith(".csv"):
        raise CrmSparkError(f"--out {out}: the file name must end in .csv")
    staging = f"{out}.parts"
    with _one_line_errors():
        result_df = _flat(spark.sql(statement))
        # quotes doubled inside quoted values, as RFC 4180 and spreadsheets read them
        (result_df.coalesce(1).write.mode("overwrite").option("header", True).option("escape", '"')
         .csv(staging))
    part = next((name for name in fs.file_names(spark, staging) if name.startswith("part-")), None)
    if part is None:
        raise CrmSparkError(f"sql: Spark wrote no file for {out}")
    fs.delete(spark, out)
    fs.rename(spark, f"{staging}/{part}", out)
    fs.delete(spark, staging)
    rows = spark.read.option("header", True).option("escape", '"').csv(out).count()
    log.info("sql: %d rows written to %s", rows, out)
    return rows


def format_result(result: QueryResult) -> str:
    """The rows as an aligned text table (NULL for nulls, numbers to the right), with a last
    line that counts them and says when some were left out."""
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    right = [all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in result.rows) and
             any(row[i] is not None for row in result.rows) for i in range(len(result.columns))]

    def line(values):
        return " | ".join(v.rjust(w) if r else v.ljust(w)
                          for v, w, r in zip(values, widths, right, strict=True)).rstrip()

    lines = [line(result.columns), "-+-".join("-" * w for w in widths)] if result.columns else []
    lines += [line(row) for row in cells]
    count = f"{len(result.rows):,} row{'' if len(result.rows) == 1 else 's'}"
    if not result.is_complete:
        count = f"first {count} shown; --max-rows N shows more, --out FILE.csv writes all"
    lines.append(f"({count})")
    return "\n".join(lines)


def statements(lines: Iterable[str]) -> Iterator[str]:
    """The statements typed in a shell: text up to a line that ends with ``;`` (which may span
    lines); ``quit`` or ``exit`` (with or without ``;``) or the end of input ends them."""
    buffer: list[str] = []
    for line in lines:
        text = line.rstrip("\n")
        if not buffer and text.strip().lower() in QUIT:
            return
        buffer.append(text)
        if text.rstrip().endswith(";"):
            statement = "\n".join(buffer).rstrip().rstrip(";").strip()
            buffer = []
            if statement:
                yield statement
    if "\n".join(buffer).strip():
        yield "\n".join(buffer).strip()


def shell(spark: SparkSession, lines: Iterable[str], write: Callable[[str], None],
          max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """Run each statement of ``lines`` and ``write`` its result, or its one-line error (the
    shell goes on after an error).

    Returns:
        How many statements failed.
    """
    failed = 0
    for statement in statements(lines):
        try:
            write(format_result(run_query(spark, statement, max_rows)))
        except SqlError as e:
            failed += 1
            write(f"error: {e}")
    return failed


def _flat(result_df: DataFrame) -> DataFrame:
    """CSV holds no arrays, maps or structs: those columns become JSON text."""
    nested = (T.ArrayType, T.MapType, T.StructType)
    return result_df.select([F.to_json(F.col(f"`{f.name}`")).alias(f.name)
                             if isinstance(f.dataType, nested) else F.col(f"`{f.name}`")
                             for f in result_df.schema.fields])


def _cell(value) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


@contextlib.contextmanager
def _one_line_errors():
    """Spark's refusal of a statement as a :class:`SqlError` carrying its first line."""
    try:
        yield
    except PySparkException as e:
        raise SqlError(f"sql: {_first_line(str(e))}") from e
    except Py4JJavaError as e:   # a JVM failure PySpark did not convert
        raise SqlError(f"sql: {_first_line(str(e.java_exception))}") from e


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["failed"])[0]
