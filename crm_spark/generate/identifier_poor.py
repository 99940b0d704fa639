"""The identifier-poor profile: person records as two Australian systems export them, with no
e-mail or phone, so matching rests on names, birth dates and addresses alone.

Each person has a record in ``people_a`` (80 %, and everyone in no other system) and in
``people_b`` (60 %); each source holds at most one record per person (both are already
deduplicated, so they also serve link-only tests). Every record carries typos, swapped name
fields and missing values at the rates of docs/generator.md; a tenth of the ``people_b``
records carry a later address. Ground truth: ``truth/source_records`` (source, source_id,
person_id) and ``truth/persons``.
"""

from __future__ import annotations

import logging
import time

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import GenerateConfig
from crm_spark.generate import draws
from crm_spark.generate.writers import Dataset, write_dataset, write_truth

log = logging.getLogger(__name__)

SOURCES = {"people_a": ("PA", 0.8), "people_b": ("PB", 0.6)}  # id prefix, share of persons
COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "suburb", "postcode",
           "state", "date_of_birth"]
DOB_FORMAT = "dd/MM/yyyy"

# Planted rates (per record; docs/generator.md "The identifier-poor profile").
SWAPPED_NAMES = 0.05
NAME_TYPO = 0.10
UPPER_CASE = 0.05
ADDRESS_TYPO = 0.05
POSTCODE_TYPO = 0.03
NUMBER_TYPO = 0.03
DOB_TYPO = 0.04
DOB_UNPARSEABLE = 0.03
MOVED = 0.10
MISSING = {"given_name": 0.02, "surname": 0.02, "street_number": 0.10, "address_1": 0.05,
           "suburb": 0.04, "postcode": 0.04, "state": 0.10, "date_of_birth": 0.08}

GIVEN_NAMES = [
    "jack", "oliver", "william", "noah", "thomas", "james", "lucas", "henry", "ethan", "liam",
    "samuel", "alexander", "joshua", "benjamin", "max", "harrison", "charlie", "cooper", "lachlan",
    "ryan", "daniel", "matthew", "nathan", "luke", "mitchell", "blake", "jayden", "riley", "isaac",
    "hamish", "angus", "callum", "dylan", "zachary", "aidan", "connor", "kai", "leo", "archie",
    "hunter", "charlotte", "olivia", "ava", "amelia", "mia", "isla", "grace", "chloe", "emily",
    "sophie", "ella", "ruby", "zoe", "lily", "sienna", "matilda", "jessica", "hannah", "georgia",
    "emma", "sarah", "madison", "alyssa", "jasmine", "caitlin", "kayla", "brooke", "tahlia",
    "bianca", "lauren", "rebecca", "samantha", "stephanie", "amy", "laura", "claire", "holly",
    "imogen", "abbey", "jade", "kiara", "teagan", "paige", "eliza", "phoebe", "annabel", "scarlett",
    "maddison", "tayla", "ebony",
]
SURNAMES = [
    "smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white", "martin",
    "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee", "ryan", "robinson",
    "kelly", "king", "davis", "wright", "evans", "roberts", "green", "hall", "wood", "jackson",
    "clarke", "patel", "khan", "lewis", "james", "phillips", "mason", "mitchell", "rose",
    "campbell", "stewart", "murphy", "cook", "young", "edwards", "morris", "turner", "hill",
    "baker", "scott", "moore", "ward", "bell", "hughes", "price", "bennett", "wilkinson", "gray",
    "hunt", "watson", "reid", "fraser", "ross", "graham", "hamilton", "murray", "kennedy", "burns",
    "mcdonald", "mckenzie", "o'brien", "o'connor", "sullivan", "byrne", "doyle", "quinn", "tran",
    "pham", "le", "chen", "wang", "zhang", "li", "liu", "singh", "kaur", "sharma", "papadopoulos",
    "rossi", "russo", "bianchi", "ferrari", "nikolaidis", "kowalski", "novak", "schmidt",
    "muller", "fischer", "weber", "becker", "hoffmann", "schultz", "van der berg", "de jong",
    "jansen", "lim", "tan", "wong", "ng", "ho", "yeo", "goh", "ali", "ahmed", "hassan", "ibrahim",
    "costa", "silva", "santos", "pereira", "ferreira", "garcia", "martinez", "lopez", "gonzalez",
    "hernandez", "perez", "sanchez", "ramirez", "torres", "flores", "rivera", "gomez", "diaz",
    "reyes", "cruz", "morales", "ortiz", "gutierrez", "chavez", "ramos", "castillo", "jimenez",
    "vasquez", "moreno", "romero", "alvarez", "mendoza", "ruiz", "herrera", "medina", "aguilar",
]
STREET_NAMES = [
    "george", "king", "queen", "victoria", "elizabeth", "william", "albert", "church", "high",
    "main", "station", "railway", "park", "bridge", "hill", "river", "beach", "ocean", "bay",
    "wattle", "banksia", "acacia", "jacaranda", "grevillea", "waratah", "boronia", "kurrajong",
    "eucalyptus", "melaleuca", "bottlebrush", "macquarie", "hume", "sturt", "flinders", "bass",
    "cook", "phillip", "hunter", "darling", "murray", "stirling", "hindley", "rundle", "grote",
    "swanston", "collins", "bourke", "lonsdale", "chapel", "sydney",
]
STREET_TYPES = ["street", "street", "street", "road", "road", "avenue", "crescent", "place",
                "drive", "court", "parade", "close", "way", "lane", "terrace"]
SUBURBS = [  # (suburb, postcode, state)
    ("parramatta", "2150", "nsw"), ("bondi", "2026", "nsw"), ("newtown", "2042", "nsw"),
    ("chatswood", "2067", "nsw"), ("penrith", "2750", "nsw"), ("liverpool", "2170", "nsw"),
    ("blacktown", "2148", "nsw"), ("hornsby", "2077", "nsw"), ("manly", "2095", "nsw"),
    ("wollongong", "2500", "nsw"), ("newcastle", "2300", "nsw"), ("gosford", "2250", "nsw"),
    ("wagga wagga", "2650", "nsw"), ("dubbo", "2830", "nsw"), ("orange", "2800", "nsw"),
    ("richmond", "3121", "vic"), ("st kilda", "3182", "vic"), ("brunswick", "3056", "vic"),
    ("footscray", "3011", "vic"), ("frankston", "3199", "vic"), ("dandenong", "3175", "vic"),
    ("geelong", "3220", "vic"), ("ballarat", "3350", "vic"), ("bendigo", "3550", "vic"),
    ("box hill", "3128", "vic"), ("werribee", "3030", "vic"), ("carlton", "3053", "vic"),
    ("fortitude valley", "4006", "qld"), ("southport", "4215", "qld"), ("toowoomba", "4350", "qld"),
    ("cairns", "4870", "qld"), ("townsville", "4810", "qld"), ("ipswich", "4305", "qld"),
    ("caloundra", "4551", "qld"), ("logan central", "4114", "qld"), ("redcliffe", "4020", "qld"),
    ("glenelg", "5045", "sa"), ("norwood", "5067", "sa"), ("elizabeth", "5112", "sa"),
    ("mount gambier", "5290", "sa"), ("port adelaide", "5015", "sa"),
    ("fremantle", "6160", "wa"), ("joondalup", "6027", "wa"), ("subiaco", "6008", "wa"),
    ("rockingham", "6168", "wa"), ("bunbury", "6230", "wa"), ("midland", "6056", "wa"),
    ("hobart", "7000", "tas"), ("launceston", "7250", "tas"), ("devonport", "7310", "tas"),
    ("sandy bay", "7005", "tas"), ("braddon", "2612", "act"), ("belconnen", "2617", "act"),
    ("tuggeranong", "2900", "act"), ("darwin", "0800", "nt"), ("palmerston", "0830", "nt"),
    ("alice springs", "0870", "nt"),
]
STATE_SPELLINGS = {"nsw": "new south wales", "vic": "victoria", "qld": "queensland",
                   "sa": "south australia", "wa": "western australia", "tas": "tasmania",
                   "act": "australian capital territory", "nt": "northern territory"}

DATASETS = {name: Dataset(name, "csv", dict.fromkeys(COLUMNS, "string"), "rec_id", "date_of_birth")
            for name in SOURCES}


def generate(spark: SparkSession, gen: GenerateConfig, out_dir: str, truth_dir: str) -> dict[str, int]:
    """Write ``people_a`` and ``people_b`` under ``out_dir`` and the truth under ``truth_dir``.

    Returns:
        Data lines written per source (headers excluded, malformed lines included).
    """
    start = time.perf_counter()
    log.info("generating %d identifier-poor persons (seed %d) into %s", gen.persons, gen.seed, out_dir)
    persons = persons_df(spark, gen).persist(StorageLevel.MEMORY_AND_DISK)
    tmp = f"{out_dir}/_staging"
    counts: dict[str, int] = {}
    truth: DataFrame | None = None
    for name in SOURCES:
        records = records_df(persons, name, gen.seed).persist(StorageLevel.MEMORY_AND_DISK)
        counts[name], _ = write_dataset(spark, records, DATASETS[name], gen, out_dir, tmp)
        part = records.select(F.lit(name).alias("source"), F.col("rec_id").alias("source_id"), "person_id")
        truth = part if truth is None else truth.unionByName(part)
    fs.delete(spark, tmp)
    assert truth is not None  # SOURCES is not empty
    write_truth(spark, truth, truth_dir, "source_records")
    write_truth(spark, persons.select(
        "person_id", "given_name", "surname", F.date_format("birth_date", "yyyy-MM-dd").alias("birth_date"),
        F.col("home.street_number").alias("street_number"), F.col("home.address_1").alias("address_1"),
        F.col("home.suburb").alias("suburb"), F.col("home.postcode").alias("postcode"),
        F.col("home.state").alias("state")), truth_dir, "persons")
    spark.catalog.clearCache()
    log.info("generated %d lines in %d sources in %.1f s", sum(counts.values()), len(counts),
             time.perf_counter() - start)
    return counts


def persons_df(spark: SparkSession, gen: GenerateConfig) -> DataFrame:
    """One row per person: names, birth date, home address and (for some) a later address."""
    seed = gen.seed
    pid = F.col("person_id")
    partitions = gen.partitions or max(2, gen.persons // 100_000)
    return spark.range(0, gen.persons, numPartitions=partitions).withColumnRenamed("id", "person_id").select(
        pid,
        draws.pick(GIVEN_NAMES, seed, "ip:given", pid).alias("given_name"),
        draws.pick(SURNAMES, seed, "ip:surname", pid).alias("surname"),
        F.date_sub(F.lit(gen.start_date), draws.integer(18 * 365, 90 * 365, seed, "ip:age", pid))
        .alias("birth_date"),
        _address(seed, "ip:home", pid).alias("home"),
        _address(seed, "ip:later", pid).alias("later"),
        draws.chance(MOVED, seed, "ip:moved", pid).alias("moved"),
    )


def records_df(persons: DataFrame, source: str, seed: int) -> DataFrame:
    """The source's records (``COLUMNS`` and ``person_id``): one per person in the source."""
    prefix, share = SOURCES[source]
    pid = F.col("person_id")
    key = [pid, F.lit(source)]
    in_source = draws.chance(share, seed, "ip:in:" + source, pid)
    if source == "people_a":  # nobody is in no system
        in_source = in_source | ~draws.chance(SOURCES["people_b"][1], seed, "ip:in:people_b", pid)
    address = (F.when(F.col("moved"), F.col("later")).otherwise(F.col("home")) if source == "people_b"
               else F.col("home"))
    swapped = draws.chance(SWAPPED_NAMES, seed, "ip:swap", *key)
    given = _name(F.col("given_name"), seed, "ip:given_typo", *key)
    surname = _name(F.col("surname"), seed, "ip:surname_typo", *key)
    values = {
        "given_name": F.when(swapped, surname).otherwise(given),
        "surname": F.when(swapped, given).otherwise(surname),
        "street_number": _typo_digits(address["street_number"], NUMBER_TYPO, seed, "ip:no_typo", *key),
        "address_1": _typo(address["address_1"], ADDRESS_TYPO, seed, "ip:addr_typo", *key),
        "suburb": _typo(address["suburb"], ADDRESS_TYPO, seed, "ip:suburb_typo", *key),
        "postcode": _typo_digits(address["postcode"], POSTCODE_TYPO, seed, "ip:pc_typo", *key),
        "state": _state(address["state"], seed, "ip:state", *key),
        "date_of_birth": _birth_date(seed, "ip:dob", *key),
    }
    return persons.where(in_source).select(
        "person_id",
        _source_id(prefix, seed, source, pid).alias("rec_id"),
        *[F.when(draws.chance(MISSING[c], seed, "ip:missing:" + c, *key), F.lit(None).cast("string"))
          .otherwise(v).alias(c) for c, v in values.items()],
    )


def _address(seed: int, stream: str, pid: Column) -> Column:
    index = draws.integer(0, len(SUBURBS) - 1, seed, stream + ":suburb", pid) + 1
    return F.struct(
        draws.integer(1, 300, seed, stream + ":no", pid).cast("string").alias("street_number"),
        F.concat_ws(" ", draws.pick(STREET_NAMES, seed, stream + ":street", pid),
                    draws.pick(STREET_TYPES, seed, stream + ":type", pid)).alias("address_1"),
        F.element_at(F.array(*[F.lit(s) for s, _, _ in SUBURBS]), index).alias("suburb"),
        F.element_at(F.array(*[F.lit(p) for _, p, _ in SUBURBS]), index).alias("postcode"),
        F.element_at(F.array(*[F.lit(t) for _, _, t in SUBURBS]), index).alias("state"),
    )


def _source_id(prefix: str, seed: int, source: str, pid: Column) -> Column:
    hashed = F.xxhash64(F.lit(seed), F.lit(source + ":id"), pid).bitwiseAND(F.lit(0xFFFFFFFFFF))
    return F.concat(F.lit(prefix), F.lpad(F.hex(hashed), 10, "0"))


def _typo(value: Column, rate: float, seed: int, stream: str, *keys: Column) -> Column:
    """With probability ``rate`` one edit: adjacent letters swapped, a letter dropped, doubled
    or replaced by a neighbour on the keyboard row (a quarter each)."""
    u = draws.uniform(seed, stream, *keys)
    length = F.length(value)
    at = F.least(F.greatest(length - 1, F.lit(1)),
                 draws.integer(2, 6, seed, stream + ":at", *keys))
    head, here, after, tail = (F.substring(value, 1, at - 1), F.substring(value, at, 1),
                               F.substring(value, at + 1, 1), F.substring(value, at + 2, 1000))
    neighbour = F.translate(here, "qwertyuiopasdfghjklzxcvbnm", "wertyuiopqsdfghjklaxcvbnmz")
    edit = (F.when(u < rate * 0.25, F.concat(head, after, here, tail))
            .when(u < rate * 0.5, F.concat(head, after, tail))
            .when(u < rate * 0.75, F.concat(head, here, here, after, tail))
            .otherwise(F.concat(head, neighbour, after, tail)))
    return F.when((u < rate) & (length >= 3), edit).otherwise(value)


def _typo_digits(value: Column, rate: float, seed: int, stream: str, *keys: Column) -> Column:
    """With probability ``rate`` the last digit replaced by the next one (9 by 0)."""
    other = F.translate(F.substring(value, -1, 1), "0123456789", "1234567890")
    edited = F.concat(F.substring(value, F.lit(1), F.length(value) - 1), other)
    return F.when(draws.chance(rate, seed, stream, *keys) & value.isNotNull(), edited).otherwise(value)


def _name(value: Column, seed: int, stream: str, *keys: Column) -> Column:
    """A name as typed: a typo (``NAME_TYPO``), upper case (``UPPER_CASE``), else lower case."""
    typed = _typo(value, NAME_TYPO, seed, stream, *keys)
    return F.when(draws.chance(UPPER_CASE, seed, stream + ":case", *keys), F.upper(typed)).otherwise(typed)


def _state(value: Column, seed: int, stream: str, *keys: Column) -> Column:
    """The state as an abbreviation (80 %, upper case) or spelled out (20 %)."""
    spelled = F.create_map(*[F.lit(x) for kv in STATE_SPELLINGS.items() for x in kv])[value]
    return F.when(draws.chance(0.2, seed, stream, *keys), spelled).otherwise(F.upper(value))


def _birth_date(seed: int, stream: str, *keys: Column) -> Column:
    """``dd/MM/yyyy``; ``DOB_TYPO`` with day and month swapped (a valid, wrong date when the day
    is at most 12, else one year off), ``DOB_UNPARSEABLE`` with month 13."""
    birth = F.col("birth_date")
    u = draws.uniform(seed, stream, *keys)
    day, month, year = (F.date_format(birth, "dd"), F.date_format(birth, "MM"),
                        F.date_format(birth, "yyyy"))
    swapped = F.when(F.dayofmonth(birth) <= 12, F.concat_ws("/", month, day, year)).otherwise(
        F.date_format(F.add_months(birth, -12), DOB_FORMAT))
    return (F.when(u < DOB_TYPO, swapped)
            .when(u < DOB_TYPO + DOB_UNPARSEABLE, F.concat_ws("/", day, F.lit("13"), year))
            .otherwise(F.date_format(birth, DOB_FORMAT)))
