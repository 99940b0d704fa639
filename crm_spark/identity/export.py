"""``crm-spark export identity``: the identity map as one CSV or Parquet file."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.errors import CrmSparkError, TableNotFoundError
from crm_spark.tables import Lake

log = logging.getLogger(__name__)

IDENTITY_MAP = "silver.identity_map"
FORMATS = {".csv": "csv", ".parquet": "parquet"}


def format_of(out: str) -> str:
    """``csv`` or ``parquet`` from the file name.

    Raises:
        CrmSparkError: ``out`` ends neither in .csv nor in .parquet.
    """
    extension = next((e for e in FORMATS if out.lower().endswith(e)), None)
    if extension is None:
        raise CrmSparkError(f"--out {out}: the file name must end in {' or '.join(FORMATS)}")
    return FORMATS[extension]


def export_identity_map(spark: SparkSession, lake: Lake, out: str) -> int:
    """Write ``source, source_id, customer_id, probability, rule`` of every mapped record to the
    single file ``out`` (format by its extension), ordered by source and source id.

    Returns:
        Rows written.

    Raises:
        CrmSparkError: ``out`` ends neither in .csv nor in .parquet.
        TableNotFoundError: no identity map yet.
    """
    file_format = format_of(out)
    if not lake.exists(IDENTITY_MAP):
        raise TableNotFoundError(f"{IDENTITY_MAP} does not exist; run `crm-spark resolve` first")
    rows_df = (lake.read(IDENTITY_MAP)
               .select("source", "source_id", "customer_id",
                       F.col("match_probability").alias("probability"), "rule")
               .orderBy("source", "source_id"))
    staging = f"{out}.parts"
    writer = rows_df.coalesce(1).write.mode("overwrite")
    if file_format == "csv":
        writer.option("header", True).csv(staging)
    else:
        writer.parquet(staging)
    part = next(name for name in fs.file_names(spark, staging) if name.startswith("part-"))
    fs.delete(spark, out)
    fs.rename(spark, f"{staging}/{part}", out)
    fs.delete(spark, staging)
    rows = spark.read.format(file_format).option("header", True).load(out).count()
    log.info("export: %d identity map rows written to %s", rows, out)
    return rows
