"""The multi-channel synthetic data set: one population of persons seen through twelve source
exports, with the ground truth kept apart. See docs/generator.md for every file and rate."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import GenerateConfig
from crm_spark.generate import catalog, draws, engagement, orders, population, service, systems
from crm_spark.generate.writers import Dataset, write_dataset, write_truth

log = logging.getLogger(__name__)

ISO = "yyyy-MM-dd'T'HH:mm:ss'Z'"
PLAIN = "yyyy-MM-dd HH:mm:ss"
S, N = "string", "number"

ID_COLUMNS = {"crm_contacts": "contact_id", "shop_accounts": "account_id",
              "loyalty_members": "member_id"}
DATASETS = {
    "crm_contacts": Dataset("crm_contacts", "csv", dict.fromkeys(
        ["contact_id", "first_name", "last_name", "email", "phone", "street", "city", "postcode",
         "birth_date", "created_at", "updated_at"], S), "line_key", "created_at"),
    "shop_accounts": Dataset("shop_accounts", "json", dict.fromkeys(
        ["account_id", "login", "full_name", "phone", "street", "city", "postcode", "created_at",
         "updated_at"], S), "line_key", "created_at"),
    "loyalty_members": Dataset("loyalty_members", "csv", dict.fromkeys(
        ["member_id", "first_name", "last_name", "phone", "postcode", "birth_date", "store_id",
         "joined_on", "updated_at"], S), "line_key", "joined_on"),
    "shop_orders": Dataset("shop_orders", "json", {
        "order_id": S, "account_id": S, "order_ts": S, "status": S, "currency": S, "total": N},
        "order_id", "total"),
    "shop_order_lines": Dataset("shop_order_lines", "json", {
        "order_id": S, "line_no": N, "sku": S, "quantity": N, "unit_price": N},
        "line_key", "quantity"),
    "pos_transactions": Dataset("pos_transactions", "csv", {
        "txn_id": S, "member_id": S, "store_id": S, "txn_ts": S, "line_no": N, "sku": S,
        "quantity": N, "unit_price": N}, "line_key", "quantity"),
    "web_events": Dataset("web_events", "json", dict.fromkeys(
        ["event_id", "event_ts", "cookie_id", "account_id", "session_id", "event_type", "url",
         "sku", "utm_source", "utm_medium", "utm_campaign"], S), "event_id", "event_ts"),
    "email_events": Dataset("email_events", "csv", dict.fromkeys(
        ["campaign_id", "email", "event_type", "event_ts"], S), "line_key", "event_ts"),
    "campaigns": Dataset("campaigns", "csv", {
        "campaign_id": S, "name": S, "channel": S, "start_date": S, "end_date": S, "cost": N},
        "campaign_id", "cost", files=1),
    "support_tickets": Dataset("support_tickets", "json", {
        "ticket_id": S, "email": S, "created_at": S, "closed_at": S, "status": S,
        "category": S, "body": S, "satisfaction": N}, "ticket_id", "satisfaction"),
    "products": Dataset("products", "csv", {"sku": S, "name": S, "category": S, "price": N},
                        "sku", "price", files=1),
    "consent": Dataset("consent", "csv", dict.fromkeys(
        ["email", "channel", "status", "changed_at", "source_system"], S), "line_key",
        "changed_at"),
}


def generate(spark: SparkSession, gen: GenerateConfig, out_dir: str, truth_dir: str) -> dict[str, int]:
    """Write every dataset under ``out_dir/<name>/`` and the ground truth under ``truth_dir``.

    Returns:
        Data lines written per dataset (headers excluded, malformed lines included).
    """
    start = time.perf_counter()
    log.info("generating %d persons (seed %d) into %s", gen.persons, gen.seed, out_dir)
    with quiet_codegen_fallback(spark):
        counts = _generate(spark, gen, out_dir, truth_dir)
    log.info("generated %d lines in %d datasets in %.1f s", sum(counts.values()), len(counts),
             time.perf_counter() - start)
    return counts


@contextlib.contextmanager
def quiet_codegen_fallback(spark: SparkSession):
    """Silence Spark's report that whole-stage code generation gave up on the generator's wide
    expressions (it falls back to per-operator code; docs/decisions.md D3)."""
    jvm: Any = spark.sparkContext._jvm
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    level = jvm.org.apache.logging.log4j.Level
    loggers = ["org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator",
               "org.apache.spark.sql.execution.WholeStageCodegenExec"]
    for name in loggers:
        configurator.setLevel(name, level.OFF)
    try:
        yield
    finally:
        for name in loggers:
            configurator.setLevel(name, level.WARN)


def _generate(spark: SparkSession, gen: GenerateConfig, out_dir: str, truth_dir: str) -> dict[str, int]:
    persons = _keep(population.build_persons(spark, gen))
    purchases, churn = orders.purchase_times(persons, gen)
    churn = _keep(churn)
    email_rows, click_purchases = engagement.email_events(persons, churn, gen)
    email_rows = _keep(email_rows)
    all_purchases = purchases.withColumn("campaign_id", F.lit(None).cast("string")) \
        .unionByName(click_purchases)
    order_df, line_df = orders.orders_with_lines(all_purchases, persons, gen)
    order_df, line_df = _keep(order_df), _keep(line_df)
    contacts = {
        "crm_contacts": _keep(systems.crm_contacts(persons, gen)),
        "shop_accounts": _keep(systems.shop_accounts(persons, gen)),
        "loyalty_members": _keep(systems.loyalty_members(persons, gen)),
    }
    sessions = engagement.web_sessions(persons, churn, order_df, line_df, email_rows, gen)
    tickets = _keep(service.support_tickets(persons, churn, gen))
    frames = {
        **{name: df.withColumn("line_key", F.concat_ws(":", ID_COLUMNS[name], "is_reexport"))
           for name, df in contacts.items()},
        **_order_exports(persons, order_df, line_df, gen),
        "web_events": engagement.web_events(sessions, gen).withColumn(
            "event_ts", F.date_format("event_ts", ISO)),
        "email_events": email_rows.select(
            "campaign_id", "email", "event_type",
            F.date_format("event_ts", "dd/MM/yyyy HH:mm").alias("event_ts"),
            F.concat_ws(":", "campaign_id", "email", "event_type").alias("line_key")),
        "campaigns": catalog.campaigns(spark, gen),
        "support_tickets": tickets.select(
            "ticket_id", "email", F.date_format("created_at", ISO).alias("created_at"),
            F.date_format("closed_at", ISO).alias("closed_at"), "status", "category", "body",
            "satisfaction"),
        "products": catalog.products(spark, gen),
        "consent": service.consent_changes(persons, email_rows, gen).select(
            "email", "channel", "status", F.date_format("changed_at", PLAIN).alias("changed_at"),
            "source_system",
            F.concat_ws(":", "email", "channel", "status", "changed_at").alias("line_key")),
    }
    tmp = f"{out_dir}/_staging"
    counts, malformed = {}, []
    for name, ds in DATASETS.items():
        counts[name], bad = write_dataset(spark, frames[name], ds, gen, out_dir, tmp)
        malformed.append(bad)
    fs.delete(spark, tmp)
    _write_truth(spark, persons, churn, contacts, order_df, malformed, truth_dir)
    write_truth(spark, tickets.select("ticket_id", "person_id", "theme", "polarity", "category"),
                truth_dir, "tickets")
    spark.catalog.clearCache()
    return counts


def _keep(df: DataFrame) -> DataFrame:
    return df.persist(StorageLevel.MEMORY_AND_DISK)


def _order_exports(persons: DataFrame, order_df: DataFrame, line_df: DataFrame,
                   gen: GenerateConfig) -> dict[str, DataFrame]:
    seed = gen.seed
    ids = persons.withColumn("zero", F.lit(0)).select(
        "person_id", "in_loyalty",
        systems._source_id("A", seed, "shop", "person_id", "zero").alias("account_id"),
        systems._source_id("L", seed, "loyalty", "person_id", "zero").alias("member_id"),
        systems.home_store(seed).alias("store_id"))
    totals = line_df.groupBy("order_id").agg(
        F.round(F.sum(F.col("quantity") * F.col("unit_price")), 2).alias("total"))
    shop = order_df.where("channel = 'shop'").join(ids, "person_id", "inner")
    shop_orders = shop.join(totals, "order_id", "inner").select(
        "order_id", "account_id", F.date_format("order_ts", ISO).alias("order_ts"), "status",
        F.lit("GBP").alias("currency"), "total")
    shop_lines = line_df.join(shop.select("order_id"), "order_id", "left_semi").withColumn(
        "line_key", F.concat_ws(":", "order_id", "line_no"))
    store = order_df.where("channel = 'store'").join(ids, "person_id", "inner")
    member = F.when(F.col("in_loyalty") & draws.chance(0.85, seed, "pos_member", "order_id"),
                    F.col("member_id"))
    pos = store.join(line_df, "order_id", "inner").select(
        F.concat(F.lit("P"), F.substring("order_id", 2, 12)).alias("txn_id"),
        member.alias("member_id"), "store_id", F.date_format("order_ts", PLAIN).alias("txn_ts"),
        "line_no", "sku", "quantity", "unit_price",
    ).withColumn("line_key", F.concat_ws(":", "txn_id", "line_no"))
    return {"shop_orders": shop_orders, "shop_order_lines": shop_lines, "pos_transactions": pos}


def _write_truth(spark: SparkSession, persons: DataFrame, churn: DataFrame, contacts: dict[str, DataFrame],
                 order_df: DataFrame, malformed: list[DataFrame], truth_dir: str) -> None:
    write_truth(spark, persons.join(churn, "person_id", "left").select(
        "person_id", "first_name", "last_name", "email", "birth_date", "acquired_at",
        F.round("lam", 6).alias("lam"), F.round("p", 6).alias("p"), F.round("nu", 6).alias("nu"),
        F.round(F.lit(population.P) / F.col("nu"), 4).alias("mean_order_value"),
        F.element_at(F.array(*[F.lit(c) for c in population.CATEGORIES]), F.col("taste") + 1)
        .alias("taste"), "churned_at"), truth_dir, "persons")
    records: DataFrame | None = None
    for name, df in contacts.items():
        part = df.select(F.lit(name).alias("source"), F.col(ID_COLUMNS[name]).alias("source_id"),
                         "person_id").distinct()
        records = part if records is None else records.unionByName(part)
    assert records is not None  # every generated source has contacts
    write_truth(spark, records, truth_dir, "source_records")
    write_truth(spark, order_df.select("order_id", "person_id", "channel", "origin", "campaign_id",
                                F.date_format("order_ts", PLAIN).alias("order_ts")),
                truth_dir, "orders")
    bad = malformed[0]
    for more in malformed[1:]:
        bad = bad.unionByName(more)
    write_truth(spark, bad, truth_dir, "malformed")
