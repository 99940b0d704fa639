"""Lines of a text source decoded in its declared encoding; lines that do not decode are kept
as their bytes in base64, marked to be quarantined (D55).

Spark's text source keeps a line's bytes as they are, valid UTF-8 or not; Spark writes them on
unchanged, and a reader of the table meets invalid UTF-8. A line is therefore checked (UTF-8,
natively) or decoded (another encoding, with Python's codec, strictly) before it is parsed.
"""

from __future__ import annotations

import codecs

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

UNDECODABLE = "_undecodable"
BASE64_PREFIX = "base64:"


def undecodable_reason(encoding: str) -> str:
    return (f"not valid {codecs.lookup(encoding).name} (the source's encoding): raw holds the "
            f"line's bytes in base64 after '{BASE64_PREFIX}'")


def with_decoded_lines(lines_df: DataFrame, encoding: str) -> DataFrame:
    """Decode ``line`` from ``encoding``.

    Requires: line (the bytes of one line as Spark's text source reads them). Replaces
    ``line`` by its text, or for a line that does not decode by ``base64:`` and its bytes in
    base64; adds ``_undecodable`` (true for those lines).
    """
    name = codecs.lookup(encoding).name
    raw = F.col("line").cast("binary")
    if name == "utf-8":
        undecodable = F.col("line").isNotNull() & ~F.is_valid_utf8("line")
        text = F.col("line")
    else:
        decoded_df = lines_df.withColumn("_decoded", _decoder(name)(raw))
        undecodable = F.col("line").isNotNull() & F.col("_decoded").isNull()
        text = F.col("_decoded")
        lines_df = decoded_df
    return lines_df.withColumns({
        UNDECODABLE: undecodable,
        "line": F.when(undecodable, F.concat(F.lit(BASE64_PREFIX), F.base64(raw))).otherwise(text),
    }).drop("_decoded")


def with_undecodable_reason(error: Column, encoding: str) -> Column:
    """A line's structure error, or the encoding's for a line that did not decode."""
    return F.when(F.col(UNDECODABLE), F.lit(undecodable_reason(encoding))).otherwise(error)


def only_undecodable_reason(checked_df: DataFrame, encoding: str) -> DataFrame:
    """The reason of a line that did not decode is the encoding's alone: its base64 text
    cannot hold the declared columns, so their checks say nothing."""
    reason = undecodable_reason(encoding)
    return checked_df.withColumn(
        "reason", F.when(F.col("reason").startswith(reason), F.lit(reason)).otherwise(F.col("reason")))


def _decoder(encoding: str):
    @F.pandas_udf("string")  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
    def decode(raw: pd.Series) -> pd.Series:
        return raw.map(lambda data: _strictly_decoded(data, encoding))

    return decode


def _strictly_decoded(data: bytes | None, encoding: str) -> str | None:
    if data is None:
        return None
    try:
        return bytes(data).decode(encoding)
    except UnicodeDecodeError:
        return None
