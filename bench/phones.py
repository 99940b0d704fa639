"""Phone standardisation throughput: the hand-written numbering plans that silver used until
issue 19 against libphonenumber in a pandas UDF (issue 23).

    python bench/phones.py [--rows 1000000] [--repeats 3] [--seed 23]

Input (made once, cached in memory, not timed): ``--rows`` phone strings in mixed national and
international formats of nine countries (GB, US, DE, FR, AU, IN, BR, JP, IE; half of them GB,
as a UK-centric CRM holds), a few percent invalid (letters, too short, too long), each with the
region its record names (what ``silver.contacts`` passes: the record's country, else
``silver.default_region``). Numbers are drawn at random, so nearly every string is distinct,
as in a CRM, where the same number rarely appears twice in one format.

Timed, each ``--repeats`` times after one warm-up on a slice (Python workers started), with
Spark's ``noop`` sink so that every row's value is computed and nothing is written:
- ``input``: the strings alone (the floor: reading the cached input);
- ``old``: the Spark-native expression of commit ca0b84d (nine plans, one default region for
  every row: that code could not read a record in its own country), copied below unchanged;
- ``new``: ``crm_spark.silver.standardise.phone_e164_of`` (libphonenumber, pandas UDF, the
  record's region);
- ``new_distinct``: the same function computing each distinct (string, region) of an Arrow
  batch once (the caching the issue suggests considering).

Prints rows/s per path (best wall time of the repeats, and every run), rows per CPU-second (the
CPU time of the whole process tree: driver, JVM and Python workers, least of the repeats; less
disturbed than wall time when other work shares the cores) and how the old and new outputs
differ, and writes ``bench/results/phones.json``. One Spark process; the machine's two cores may
be shared with other work, so say so beside any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import phonenumbers
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from crm_spark.config import load_config  # noqa: E402
from crm_spark.silver import standardise as st  # noqa: E402
from crm_spark.spark import build_spark  # noqa: E402

RESULTS = PROJECT / "bench" / "results" / "phones.json"


# --- the code path as of ca0b84d (crm_spark/silver/standardise.py), kept here to measure ---
@dataclass(frozen=True)
class PhoneRegion:
    country_code: str
    trunk_prefix: str
    national_lengths: tuple[int, ...]


PHONE_REGIONS: Mapping[str, PhoneRegion] = {
    "GB": PhoneRegion("44", "0", (9, 10)),
    "IE": PhoneRegion("353", "0", (7, 8, 9)),
    "US": PhoneRegion("1", "1", (10,)),
    "CA": PhoneRegion("1", "1", (10,)),
    "DE": PhoneRegion("49", "0", tuple(range(6, 12))),
    "FR": PhoneRegion("33", "0", (9,)),
    "NL": PhoneRegion("31", "0", (9,)),
    "ES": PhoneRegion("34", "", (9,)),
    "IT": PhoneRegion("39", "", tuple(range(6, 12))),
}


def old_phone_e164_of(column: Column | str, default_region: str) -> Column:
    region = PHONE_REGIONS[default_region]
    raw = st.clean_text(column)
    has_plus = F.startswith(raw, F.lit("+"))
    is_international = has_plus | F.startswith(raw, F.lit("00"))
    raw = F.when(is_international, F.regexp_replace(raw, r"\(0\)", "")).otherwise(
        F.regexp_replace(raw, r"\(0\)", "0"))
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    only_allowed = raw.rlike(r"^[0-9+()./ -]+$")
    international = F.when(has_plus, digits).when(F.startswith(digits, F.lit("00")),
                                                  F.substring(digits, 3, 20))
    trunk = region.trunk_prefix
    national = F.when(F.lit(trunk == "") | F.startswith(digits, F.lit(trunk or "#")),
                      F.substring(digits, len(trunk) + 1, 20))
    number = F.coalesce(international, F.concat(F.lit(region.country_code), national))
    return F.when(only_allowed & _fits_plan(number), F.concat(F.lit("+"), number))


def _fits_plan(number: Column) -> Column:
    fits = None
    known = F.lit(False)
    for plan in {r.country_code: r for r in PHONE_REGIONS.values()}.values():
        is_country = F.startswith(number, F.lit(plan.country_code))
        national_length = F.length(number) - len(plan.country_code)
        condition = is_country & national_length.isin(*plan.national_lengths)
        fits = condition if fits is None else fits | condition
        known = known | is_country
    generic = ~known & F.length(number).between(8, 15)
    return F.coalesce(fits | generic, F.lit(False))
# --- end of the old code path ---


@pandas_udf(StringType())
def _phone_e164_distinct(values: pd.Series, regions: pd.Series) -> pd.Series:
    seen: dict[tuple, str | None] = {}
    out = []
    for key in zip(values, regions, strict=True):
        if key not in seen:
            seen[key] = st._e164(*key)
        out.append(seen[key])
    return pd.Series(out, dtype=object)


def distinct_phone_e164_of(column: Column | str, region: Column) -> Column:
    return _phone_e164_distinct(st.clean_text(column), region)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# (country, weight, formats): each format makes one string from a random generator
FORMATS = [
    ("GB", 50, [
        lambda r: f"07{_digits(r, 3)} {_digits(r, 6)}",
        lambda r: f"+44 7{_digits(r, 3)} {_digits(r, 6)}",
        lambda r: f"0044 7{_digits(r, 3)} {_digits(r, 6)}",
        lambda r: f"+44 (0)7{_digits(r, 3)}{_digits(r, 6)}",
        lambda r: f"(0)7{_digits(r, 3)}-{_digits(r, 6)}",
        lambda r: f"020 {_digits(r, 4)} {_digits(r, 4)}",
        lambda r: f"01{_digits(r, 3)} {_digits(r, 6)}",
    ]),
    ("US", 10, [
        lambda r: f"({r.randint(201, 989)}) {_digits(r, 3)}-{_digits(r, 4)}",
        lambda r: f"+1 {r.randint(201, 989)} {_digits(r, 3)} {_digits(r, 4)}",
        lambda r: f"{r.randint(201, 989)}.{_digits(r, 3)}.{_digits(r, 4)}",
    ]),
    ("DE", 7, [
        lambda r: f"0151 {_digits(r, 8)}",
        lambda r: f"+49 151 {_digits(r, 8)}",
        lambda r: f"030 {_digits(r, 8)}",
    ]),
    ("FR", 7, [
        lambda r: "06 " + " ".join(_digits(r, 2) for _ in range(4)),
        lambda r: "+33 6 " + " ".join(_digits(r, 2) for _ in range(4)),
    ]),
    ("AU", 6, [
        lambda r: f"04{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"+61 4{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"(02) {_digits(r, 4)} {_digits(r, 4)}",
    ]),
    ("IN", 6, [
        lambda r: f"+91 9{_digits(r, 4)} {_digits(r, 5)}",
        lambda r: f"09{_digits(r, 4)} {_digits(r, 5)}",
    ]),
    ("BR", 5, [
        lambda r: f"(11) 9{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"+55 11 9{_digits(r, 4)}-{_digits(r, 4)}",
    ]),
    ("JP", 5, [
        lambda r: f"090-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"+81 90 {_digits(r, 4)} {_digits(r, 4)}",
    ]),
    ("IE", 4, [
        lambda r: f"08{r.choice('3567')} {_digits(r, 3)} {_digits(r, 4)}",
        lambda r: f"+353 8{r.choice('3567')} {_digits(r, 3)} {_digits(r, 4)}",
    ]),
]
INVALID = [
    lambda r: "call me",
    lambda r: f"07{_digits(r, 3)} {_digits(r, 6)} ext {r.randint(1, 99)}",
    lambda r: f"+44 {_digits(r, 2)}",
    lambda r: f"0{_digits(r, 14)}",
    lambda r: "n/a",
]
INVALID_SHARE = 0.04


def generate(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` (raw, region) pairs; see the module docstring."""
    rng = random.Random(seed)
    countries = [c for c, _, _ in FORMATS]
    weights = [w for _, w, _ in FORMATS]
    formats = {c: f for c, _, f in FORMATS}
    raws, regions = [], []
    for _ in range(rows):
        country = rng.choices(countries, weights)[0]
        if rng.random() < INVALID_SHARE:
            raws.append(rng.choice(INVALID)(rng))
        else:
            raws.append(rng.choice(formats[country])(rng))
        regions.append(country)
    return pd.DataFrame({"raw": raws, "region": regions})


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, through the children of each of its threads (the JVM starts
    its Python workers from a thread other than its main one)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found


def tree_cpu_ticks() -> dict[int, int]:
    """CPU clock ticks (user + system, with reaped children's) of this process and each
    descendant: the driver, the JVM and its Python workers."""
    ticks = {}
    for pid in [os.getpid(), *descendants(os.getpid())]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = sum(int(x) for x in fields[11:15])   # utime, stime, cutime, cstime
    return ticks


def timed(df, column: Column) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) to compute ``column`` on every row. CPU
    is summed per process over those alive at the end (a worker started meanwhile counts
    whole), so a process that ended unreaped in between is missed rather than subtracted."""
    start, before = time.perf_counter(), tree_cpu_ticks()
    df.select(column.alias("out")).write.format("noop").mode("overwrite").save()
    wall, after = time.perf_counter() - start, tree_cpu_ticks()
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return wall, used / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)

    made = time.perf_counter()
    pdf = generate(args.rows, args.seed)
    print(f"generated {len(pdf):,} strings ({pdf['raw'].nunique():,} distinct) in "
          f"{time.perf_counter() - made:.1f} s", flush=True)
    cfg = load_config(overrides=["spark.app_name=bench-phones"], conf_dir=PROJECT / "conf")
    spark = build_spark(cfg)
    partitions = spark.sparkContext.defaultParallelism
    df = spark.createDataFrame(pdf).repartition(partitions).cache()
    df.count()

    paths = {
        "input": F.col("raw"),
        "old": old_phone_e164_of("raw", "GB"),
        "new": st.phone_e164_of("raw", F.col("region")),
        "new_distinct": distinct_phone_e164_of("raw", F.col("region")),
    }
    warm = df.limit(20_000)
    for column in paths.values():
        timed(warm, column)
    runs: dict[str, list[float]] = {name: [] for name in paths}
    cpu_runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, column in paths.items():   # interleaved: a noisy minute hits every path
            wall, cpu = timed(df, column)
            runs[name].append(round(wall, 2))
            cpu_runs[name].append(round(cpu, 2))
            print(f"  {name}: {wall:.2f} s, {cpu:.2f} CPU s", flush=True)

    compared = df.select(
        "region", paths["old"].alias("old"), paths["new"].alias("new"),
        paths["new_distinct"].alias("new_distinct")).agg(
        F.count("old").alias("old_standardised"),
        F.count("new").alias("new_standardised"),
        F.count(F.when(F.col("old") != F.col("new"), 1)).alias("both_but_different"),
        F.count(F.when(F.col("old").isNotNull() & F.col("new").isNull(), 1)).alias("old_only"),
        F.count(F.when(F.col("old").isNull() & F.col("new").isNotNull(), 1)).alias("new_only"),
        F.count(F.when(~F.col("new").eqNullSafe(F.col("new_distinct")), 1)).alias("distinct_differs"),
    ).first().asDict()
    spark.stop()

    best = {name: min(times) for name, times in runs.items()}
    least_cpu = {name: min(times) for name, times in cpu_runs.items()}
    result = {
        "rows": args.rows,
        "distinct_strings": int(pdf["raw"].nunique()),
        "seed": args.seed,
        "repeats": args.repeats,
        "cores": os.cpu_count(),
        "spark_partitions": partitions,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "phonenumbers": phonenumbers.__version__,
        "python": platform.python_version(),
        "seconds": runs,
        "best_seconds": best,
        "rows_per_second": {name: round(args.rows / s) for name, s in best.items()},
        "cpu_seconds": cpu_runs,
        "least_cpu_seconds": least_cpu,
        "rows_per_cpu_second": {name: round(args.rows / s) for name, s in least_cpu.items()},
        "outputs": compared,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'path':<14}{'best s':>9}{'rows/s':>12}{'CPU s':>9}{'rows/CPU s':>12}   runs (s)")
    for name in paths:
        print(f"{name:<14}{best[name]:>9.2f}{result['rows_per_second'][name]:>12,}"
              f"{least_cpu[name]:>9.2f}{result['rows_per_cpu_second'][name]:>12,}   {runs[name]}")
    print(f"\noutputs: {compared}")
    print(f"wrote {RESULTS.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
