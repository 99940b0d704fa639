"""``_row_id``: an id for the rows of a source that has none (an export of customer, date,
amount and quantity, with no order number).

A source's mapping may name ``_row_id`` (``order_id: _row_id``) or use it in an expression
(``order_id: "concat('shop-', _row_id)"``). It is ``<digest>-<n>``: ``digest`` is 20 hex
digits of the SHA-256 of the source's name and the row's declared values, ``n`` the row's
occurrence among the rows of its file with the same values (1, 2, ...). So:

- the id depends on what the row says, not on where it is: a file landed again, moved or
  read in another split gives the same ids, and re-ingesting it changes nothing (the Spark
  text source carries no line numbers, and ids by position would change whenever an export
  is re-sorted);
- a row repeated exactly within one file is kept, once per repetition (D60): two identical
  rows of an export are two sales as far as the file says, and revenue then adds up to the
  file's own total; :func:`repeated_rows` counts them so the silver run can say so;
- the same row in two files is one row: overlapping or re-delivered exports do not double.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.sources.registry import ROW_ID

DIGEST_CHARS = 20


def uses_row_id(expression: str) -> bool:
    return ROW_ID in expression


def with_row_id(bronze_df: DataFrame, source_name: str, columns: list[str]) -> DataFrame:
    """Add ``_row_id`` (module doc) to bronze rows.

    Args:
        bronze_df: bronze rows; requires ``columns``, ``_source_file``, ``_batch_id``.
        source_name: part of the digest, so two sources with equal rows get different ids.
        columns: the source's declared columns (evolved extra columns are not part of a row's
            identity: a file that gains a column must not renumber its rows).

    Returns:
        ``bronze_df`` with ``_row_id`` STRING.
    """
    values = F.to_json(F.struct(*[F.col(c) for c in columns]))
    digest = F.substring(F.sha2(F.concat_ws("\u0001", F.lit(source_name), values), 256), 1, DIGEST_CHARS)
    # identical rows are interchangeable, so the order within them does not matter
    same_rows = Window.partitionBy("_batch_id", "_source_file", "_digest").orderBy("_digest").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    return (bronze_df.withColumn("_digest", digest)
            .withColumn(ROW_ID, F.concat_ws("-", "_digest", F.row_number().over(same_rows).cast("string")))
            .drop("_digest"))


def is_repetition(row_id: Column) -> Column:
    """True for a ``_row_id`` of the second or later copy of a row in its file."""
    return F.substring_index(row_id, "-", -1) != F.lit("1")


def repeated_rows(rows_df: DataFrame, id_column: str, sources: list[str]) -> dict[str, int]:
    """Per source of ``sources`` (those whose ``id_column`` is their ``_row_id``), the rows
    that repeat an earlier row of their file exactly; sources without any are left out.
    ``rows_df`` should be persisted: this reads it once more."""
    if not sources:
        return {}
    counted = (rows_df.where(F.col("source").isin(sources) & is_repetition(F.col(id_column)))
               .groupBy("source").count().collect())
    return {r["source"]: r["count"] for r in counted}
