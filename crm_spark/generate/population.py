"""The one population of persons every source system sees, with their true parameters.

Buy-till-you-die (BG/NBD): purchase rate ``lam`` ~ Gamma(R, ALPHA) per day, dropout probability
``p`` ~ Beta(A, B) after each repeat purchase. Spend (Gamma-Gamma): ``nu`` ~ Gamma(Q, GAMMA),
each order's value ~ Gamma(P, nu), so a person's mean order value is P / nu.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from crm_spark.config import GenerateConfig
from crm_spark.generate import draws

# BG/NBD and Gamma-Gamma parameters of the planted purchase process (docs/generator.md).
R, ALPHA = 0.6, 50.0      # mean purchase rate 0.012 per day while alive
A, B = 1.2, 3.5           # mean dropout probability 0.26 after each repeat purchase
P, Q, GAMMA = 6.0, 3.5, 15.0   # mean order value P * GAMMA / (Q - 1) = 36
CATEGORIES = ["home", "garden", "kitchen", "toys", "books", "fashion", "beauty", "sports"]

FIRST_NAMES = [
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Noah", "Emily",
    "Leo", "Sophia", "Arthur", "Grace", "Oscar", "Lily", "Charlie", "Freya", "Thomas", "Ella",
    "James", "Chloé", "William", "Zoë", "Henry", "Renée", "Joshua", "Evie", "Samuel", "Poppy",
    "José", "Ruby", "Mohammed", "Aisha", "Łukasz", "Björn", "Siobhán", "Niamh", "Daniel",
    "Hannah", "David", "Sarah", "Michael", "Laura", "Peter", "Emma", "John", "Anna", "Mark",
    "Sophie",
]
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell",
    "Rose", "Davis", "Rodríguez", "Müller", "O'Brien", "Nowak", "Kowalski", "García", "Martin",
    "Harris", "Cooper", "King", "Lee", "Baker", "Turner", "Hill", "Scott", "Moore", "Ward",
    "Morris", "Bell", "Hughes", "Edwards", "Fischer", "Dubois", "Andersson", "Nguyen", "Singh",
    "Ahmed", "Ali", "Murphy", "Kelly", "Byrne",
]
CITIES = [  # (city, postcode area)
    ("London", "SW"), ("London", "NW"), ("Manchester", "M"), ("Birmingham", "B"),
    ("Leeds", "LS"), ("Glasgow", "G"), ("Bristol", "BS"), ("Liverpool", "L"),
    ("Edinburgh", "EH"), ("Cardiff", "CF"), ("Sheffield", "S"), ("Nottingham", "NG"),
    ("Newcastle upon Tyne", "NE"), ("Brighton", "BN"), ("Oxford", "OX"), ("Cambridge", "CB"),
]
STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane",
           "Manor Road", "Park Avenue", "Queen's Road", "Mill Lane", "The Crescent"]
EMAIL_DOMAINS = ["gmail.com", "gmail.com", "googlemail.com", "yahoo.co.uk", "hotmail.co.uk",
                 "outlook.com", "btinternet.com", "icloud.com", "example.org"]
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def build_persons(spark: SparkSession, gen: GenerateConfig) -> DataFrame:
    """One row per person: identity, address (and a later one if they moved), behaviour."""
    seed = gen.seed
    period_days = (gen.end_date - gen.start_date).days
    pid = F.col("person_id")
    partitions = gen.partitions or max(2, gen.persons // 100_000)
    base = spark.range(0, gen.persons, numPartitions=partitions).withColumnRenamed("id", "person_id")
    first = draws.pick(FIRST_NAMES, seed, "first", pid)
    last = draws.pick(LAST_NAMES, seed, "last", pid)
    city_index = draws.integer(0, len(CITIES) - 1, seed, "city", pid)
    moved_city_index = draws.integer(0, len(CITIES) - 1, seed, "city2", pid)
    in_crm = draws.chance(0.7, seed, "in_crm", pid)
    in_shop = draws.chance(0.6, seed, "in_shop", pid)
    in_loyalty = draws.chance(0.35, seed, "in_loyalty", pid)
    persons = base.select(
        pid,
        first.alias("first_name"),
        last.alias("last_name"),
        F.date_sub(F.lit(gen.start_date), draws.integer(18 * 365, 85 * 365, seed, "age", pid))
        .alias("birth_date"),
        _email(first, last, seed, pid).alias("email"),
        F.concat(F.lit("7"), draws.digits(9, seed, "phone", pid)).alias("mobile"),
        _address(seed, "addr", pid, city_index).alias("address"),
        F.when(draws.chance(0.12, seed, "moved", pid),
               _address(seed, "addr2", pid, moved_city_index)).alias("new_address"),
        F.timestamp_seconds(
            F.unix_timestamp(F.lit(gen.start_date).cast("timestamp"))
            + F.floor(draws.uniform(seed, "acq", pid) * period_days * 0.9 * 86400).cast("long")
        ).alias("acquired_at"),
        draws.gamma(R, ALPHA, seed, "lam", pid).alias("lam"),
        draws.beta(A, B, seed, "p", pid).alias("p"),
        draws.gamma(Q, GAMMA, seed, "nu", pid).alias("nu"),
        draws.integer(0, len(CATEGORIES) - 1, seed, "taste", pid).alias("taste"),
        draws.beta(2.0, 5.0, seed, "engagement", pid).alias("engagement"),
        (in_crm | (~in_shop & ~in_loyalty)).alias("in_crm"),
        in_shop.alias("in_shop"),
        in_loyalty.alias("in_loyalty"),
        draws.chance(0.75, seed, "email_optin", pid).alias("email_opt_in"),
        draws.chance(0.3, seed, "sms_optin", pid).alias("sms_opt_in"),
    )
    return with_unique_email(persons)


def _email(first: Column, last: Column, seed: int, pid: Column) -> Column:
    local = F.concat_ws(
        ".", _ascii_lower(first), _ascii_lower(last)
    )
    number = F.when(draws.chance(0.6, seed, "email_num", pid), draws.digits(4, seed, "email_n", pid))
    domain = draws.pick(EMAIL_DOMAINS, seed, "email_domain", pid)
    return F.concat(local, F.coalesce(number, F.lit("")), F.lit("@"), domain)


def with_unique_email(persons: DataFrame) -> DataFrame:
    """Give the second and later holders of one mailbox a number, as mail providers do.

    Two people never share a mailbox, but drawn names (50 x 60) and domains repeat, so
    ``first.last@domain`` would. The mailbox is compared as Gmail delivers it (dots ignored,
    googlemail = gmail); candidates end either without digits or with four, so appending the
    rank (2, 3, ...) cannot produce another candidate's address.
    """
    local = F.substring_index("email", "@", 1)
    domain = F.substring_index("email", "@", -1)
    is_gmail = domain.isin("gmail.com", "googlemail.com")
    mailbox = F.when(is_gmail, F.concat(F.regexp_replace(local, r"\.", ""), F.lit("@gmail.com"))
                     ).otherwise(F.col("email"))
    holders = Window.partitionBy(mailbox).orderBy("person_id")
    rank = F.row_number().over(holders)
    return persons.withColumn(
        "email",
        F.when(rank == 1, F.col("email")).otherwise(
            F.concat(local, rank.cast("string"), F.lit("@"), domain)),
    )


def _ascii_lower(name: Column) -> Column:
    folded = F.translate(name, "ÀÁÂÄÅàáâäåÇçÉÈÊËéèêëÍÌÎÏíìîïŁłÑñÓÒÔÖóòôöÚÙÛÜúùûüŸÿ",
                         "AAAAAaaaaaCcEEEEeeeeIIIIiiiiLlNnOOOOooooUUUUuuuuYy")
    return F.lower(F.regexp_replace(folded, "[^A-Za-z]", ""))


def _address(seed: int, stream: str, pid: Column, city_index: Column) -> Column:
    cities = F.array(*[F.lit(c) for c, _ in CITIES])
    areas = F.array(*[F.lit(a) for _, a in CITIES])
    letters = F.lit(POSTCODE_LETTERS)
    inward = F.concat(
        draws.integer(1, 9, seed, stream + ":pc1", pid).cast("string"),
        F.substring(letters, draws.integer(1, 20, seed, stream + ":pc2", pid), 1),
        F.substring(letters, draws.integer(1, 20, seed, stream + ":pc3", pid), 1),
    )
    outward = F.concat(F.element_at(areas, city_index + 1),
                       draws.integer(1, 20, seed, stream + ":pc0", pid).cast("string"))
    return F.struct(
        F.concat_ws(" ", draws.integer(1, 240, seed, stream + ":no", pid).cast("string"),
                    draws.pick(STREETS, seed, stream + ":street", pid)).alias("street"),
        F.element_at(cities, city_index + 1).alias("city"),
        F.concat_ws(" ", outward, inward).alias("postcode"),
    )
