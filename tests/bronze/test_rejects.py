"""The fixed-size filter of rejected lines that spares the quarantine a check of every line."""

from __future__ import annotations

from pyspark.sql import Observation
from pyspark.sql import functions as F

from crm_spark.bronze import rejects


def marked_slots(spark, rejected: list[str], others: int) -> tuple[object, list[int]]:
    """Lines ``rejected`` among ``others`` good ones; the slots an observe of them sets."""
    rows = [(line, True) for line in rejected] + [(f"good line {i},x,y", False) for i in range(others)]
    lines = spark.createDataFrame(rows, "line STRING, bad BOOLEAN").withColumn("_is_record", F.lit(True))
    observation = Observation()
    raw = F.when(F.col("bad"), F.col("line"))
    lines.observe(observation, *[m.alias(n) for n, m in rejects.metrics(raw).items()]) \
        .write.format("noop").mode("overwrite").save()
    return lines, rejects.set_slots(observation.get)


def test_candidates_keep_every_rejected_line_and_few_others(spark):
    rejected = ["A5,c5", ",c6,04/02/2024 09:00,1.00", 'A8,"c8,06/02/2024 09:00,1.00']
    lines, slots = marked_slots(spark, rejected, others=2000)
    assert len(slots) == 3
    kept, observation = rejects.candidates(lines, slots)
    found = [r.line for r in kept.collect()]
    assert set(rejected) <= set(found)
    # 3 of 524,288 slots are set: a good line shares one with odds of about 1 in 175,000
    assert len(found) < 10
    assert observation.get["lines"] == len(found)


def test_no_rejected_line_sets_no_slot(spark):
    _, slots = marked_slots(spark, [], others=100)
    assert slots == []


def test_every_line_is_kept_when_too_many_slots_are_set(spark):
    lines, _ = marked_slots(spark, ["a"], others=10)
    kept, observation = rejects.candidates(lines, list(range(rejects.MAX_SLOTS + 1)))
    assert kept.count() == 11 and observation is None


def test_rows_without_a_line_column_are_all_kept(spark):
    rows = spark.createDataFrame([(1,), (2,)], "id INT").withColumn("_is_record", F.lit(True))
    kept, observation = rejects.candidates(rows, [5])
    assert kept.count() == 2 and observation is None
