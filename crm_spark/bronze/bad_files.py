"""Files a batch cannot read, set aside with their reason so that the source goes on (D56).

A truncated archive, or a file deleted after the file source listed it, used to stop its
source on every run: the failed batch is retried with the same files. Instead, the file a read
failure names is recorded in ``bronze._bad_files`` (path, size, error), named in one warning,
and the batch is written without it. The file source has listed it, so later runs do not read
it again: a repaired copy is ingested by landing it under a new name.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import unquote

from pyspark.sql import SparkSession

from crm_spark import fs
from crm_spark.tables import Lake, Txn

log = logging.getLogger(__name__)

BAD_FILES = "bronze._bad_files"
BAD_FILES_SCHEMA = ("source STRING, batch_id BIGINT, path STRING, size BIGINT, error STRING, "
                    "found_at TIMESTAMP, run_id STRING")


class UnreadableFile(Exception):
    """A file of the batch could not be read (raised on the driver, e.g. reading a header)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def named_file(error: Exception, files: list[str]) -> str | None:
    """The file of ``files`` a read failure names, or None (then it is another failure)."""
    text = str(error)
    for path in files:
        spellings = fs.uri_spellings(path)
        if any(s in text or unquote(s) in text for s in spellings):
            return path
    return None


def reason_of(error: Exception) -> str:
    """The root cause of a Java read failure, in one line (``java.io.EOFException: ...``)."""
    lines = [line.strip() for line in str(error).splitlines()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    named = [line for line in lines if "Exception" in line or "Error" in line]
    return (causes[-1] if causes else named[0] if named else lines[0] if lines else
            type(error).__name__)[:300]


def record(lake: Lake, source: str, batch_id: int, bad: dict[str, str], found_at: dt.datetime,
           run_id: str) -> None:
    """Append the batch's unreadable files to ``bronze._bad_files`` once (a replayed batch is
    skipped) and name each in one warning."""
    if not bad:
        return
    spark: SparkSession = lake.spark
    rows = []
    for path, reason in sorted(bad.items()):
        size = _size(spark, path)
        shown = "missing" if size is None else f"{size} bytes"
        log.warning("bronze.%s batch %d: set aside unreadable file %s (%s): %s; the source goes "
                    "on without it (see %s)", source, batch_id, path, shown, reason, BAD_FILES)
        rows.append((source, batch_id, path, size, reason, found_at, run_id))
    lake.append(spark.createDataFrame(rows, BAD_FILES_SCHEMA), BAD_FILES,
                txn=Txn(f"{BAD_FILES}:{source}", batch_id))


def _size(spark: SparkSession, path: str) -> int | None:
    try:
        return fs.size(spark, path)
    except Exception:  # noqa: BLE001 - the size is shown if it can be read; the reason matters
        return None
