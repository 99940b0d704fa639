"""Which lines a batch rejected, remembered in a fixed 64 KiB while bronze is written (D31).

Spark cannot send the rows of one read to two tables, so the quarantine reads the batch a
second time. Checking every line again took a quarter of the ingest. Instead the bronze
append's observation sets one bit per rejected line in a bitmap of :data:`BITS` bits, at a
slot given by the line's hash, and the quarantine checks again only the lines whose slot is
set: every rejected line, and the few others that share a slot with one. The bitmap stays
64 KiB whatever the batch holds; when so many slots are set that the filter would keep much
of the batch anyway (a wrong delimiter rejects every line), every line is checked again.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

BUCKET_BITS = 32768                 # the size of one bitmap_construct_agg bitmap
BUCKETS = 16
BITS = BUCKETS * BUCKET_BITS
MAX_SLOTS = BITS // 8               # beyond this, check every line again


def slot(line: Column) -> Column:
    return F.pmod(F.xxhash64(line), F.lit(BITS))


def metrics(rejected_line: Column) -> dict[str, Column]:
    """Aggregates for ``DataFrame.observe``: bucket ``k`` holds the slots ``k * BUCKET_BITS +
    position`` of the non-null values of ``rejected_line``."""
    slots = slot(rejected_line)
    bucket = F.shiftright(slots, BUCKET_BITS.bit_length() - 1)
    position = slots.bitwiseAND(BUCKET_BITS - 1)
    return {f"rejected_slots_{k}": F.bitmap_construct_agg(
        F.when(rejected_line.isNotNull() & (bucket == k), position)) for k in range(BUCKETS)}


def set_slots(observed: dict) -> list[int]:
    """The slots set in the bitmaps that :func:`metrics` filled."""
    found: list[int] = []
    for k in range(BUCKETS):
        bitmap = observed[f"rejected_slots_{k}"]
        for index, byte in enumerate(bitmap):
            found.extend(k * BUCKET_BITS + index * 8 + bit for bit in range(8) if byte >> bit & 1)
    return found


def candidates(lines_df: DataFrame, slots: list[int] | None) -> tuple[DataFrame, Observation | None]:
    """The lines that may have been rejected: those whose slot is in ``slots``; all of them
    when ``slots`` is None or too large to filter much.

    Returns:
        The lines, and an observation counting them (None when they are all the lines). The
        observation also keeps Spark from pushing the caller's filter on the reason, which
        needs the whole parse, below the join onto every line.
    """
    if slots is None or len(slots) > MAX_SLOTS or "line" not in lines_df.columns:
        return lines_df, None
    marked = lines_df.sparkSession.createDataFrame([(s,) for s in slots], "_slot BIGINT")
    kept = lines_df.join(F.broadcast(marked), slot(F.col("line")) == F.col("_slot"), "left_semi")
    observation = Observation()
    return kept.observe(observation, F.count(F.when(F.col("_is_record"), 1)).alias("lines")), observation
