"""Labelled sentences for measuring sentiment: ``sentence<TAB>0|1`` per line (the UCI Sentiment
Labelled Sentences files), read by Spark."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark.errors import DataQualityError

LINE = r"(?s)^(.*)\t([01])\s*$"  # (?s): Java counts NEL (U+0085) as a line end for "."


def read_labelled_sentences(spark: SparkSession, path: str) -> DataFrame:
    """``text`` (string) and ``label`` (int, 1 = positive) of every non-empty line of ``path``.

    Lines are split on \\n only: the files hold NEL (U+0085) inside sentences.

    Raises:
        DataQualityError: a non-empty line is not ``sentence<TAB>0`` or ``...<TAB>1``.
    """
    lines_df = spark.read.option("lineSep", "\n").option("encoding", "UTF-8").text(path)
    parsed_df = lines_df.where(F.trim("value") != "").select(
        "value",
        F.regexp_extract("value", LINE, 1).alias("text"),
        F.regexp_extract("value", LINE, 2).alias("label"),
    )
    bad = parsed_df.where(F.col("label") == "").limit(1).collect()
    if bad:
        raise DataQualityError(f"{path}: line is not 'sentence<TAB>0|1': {bad[0]['value'][:80]!r}")
    return parsed_df.select("text", F.col("label").cast("int").alias("label"))
