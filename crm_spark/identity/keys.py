"""Facts keyed by customer: ``customer_id`` on every silver fact, from the identity map.

- orders and store sales: ``customer_ref`` is a source id of the contact source named by the
  fact source's ``customer_source``; order lines take their order's customer;
- web events: the logged-in account, and for a cookie that logs in at some point, the same
  customer on that cookie's anonymous events (before and after the login);
- e-mail events, support tickets, consent: the mailbox (``email_match``) of a contact record;
  a mailbox on several customers' records goes to the one with most records (then the
  smaller id).

Only rows whose customer changes are rewritten, so a re-run with nothing new writes nothing.
"""

from __future__ import annotations

import functools
import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crm_spark.concurrency import run_all
from crm_spark.tables import Lake

log = logging.getLogger(__name__)


def mailbox_owners(contacts_df: DataFrame, map_df: DataFrame) -> DataFrame:
    """``email_match, customer_id``: one customer per mailbox."""
    counted = (contacts_df.filter(F.col("email_match").isNotNull())
               .join(map_df, on=["source", "source_id"], how="inner")
               .groupBy("email_match", "customer_id").agg(F.count("*").alias("n")))
    best = Window.partitionBy("email_match").orderBy(F.col("n").desc(), F.col("customer_id"))
    return (counted.withColumn("_rank", F.row_number().over(best)).filter("_rank = 1")
            .select("email_match", "customer_id"))


def keyed_orders(orders_df: DataFrame, map_df: DataFrame) -> DataFrame:
    refs = map_df.select(F.col("source").alias("customer_source"), F.col("source_id").alias("customer_ref"),
                         "customer_id")
    return (orders_df.drop("customer_id")
            .join(refs, on=["customer_source", "customer_ref"], how="left")
            .select("channel", "order_id", "customer_id"))


def keyed_lines(lines_df: DataFrame, order_keys_df: DataFrame) -> DataFrame:
    return (lines_df.select("channel", "order_id", "line_no")
            .join(order_keys_df, on=["channel", "order_id"], how="left"))


def keyed_web_events(events_df: DataFrame, map_df: DataFrame) -> DataFrame:
    refs = map_df.select(F.col("source").alias("customer_source"), F.col("source_id").alias("account_id"),
                         F.col("customer_id").alias("account_customer"))
    events = events_df.select("event_id", "event_ts", "cookie_id", "account_id", "customer_source").join(
        refs, on=["customer_source", "account_id"], how="left")
    latest_login = F.max_by("account_customer", F.struct("event_ts", "event_id"))
    cookie_owner = (events.filter(F.col("account_customer").isNotNull())
                    .groupBy("cookie_id").agg(latest_login.alias("cookie_customer")))
    return (events.join(cookie_owner, on="cookie_id", how="left")
            .select("event_id", F.coalesce("account_customer", "cookie_customer").alias("customer_id")))


def keyed_by_mailbox(facts_df: DataFrame, keys: list[str], mailbox: str,
                     owners_df: DataFrame) -> DataFrame:
    owners = owners_df.withColumnRenamed("email_match", mailbox)
    return facts_df.select(*keys).join(owners, on=mailbox, how="left").select(*keys, "customer_id")


def update_customer_ids(lake: Lake, table: str, keyed_df: DataFrame, keys: list[str]) -> int:
    """Set ``customer_id`` from ``keyed_df`` where it differs; returns rows changed."""
    if not lake.exists(table):
        return 0
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    target = DeltaTable.forPath(lake.spark, lake.path(table))
    (target.alias("t").merge(keyed_df.alias("s"), on)
     .whenMatchedUpdate(condition="NOT (t.customer_id <=> s.customer_id)",
                        set={"customer_id": "s.customer_id"})
     .execute())
    metrics = target.history(1).select("operation", "operationMetrics").collect()[0]
    changed = int(metrics["operationMetrics"].get("numTargetRowsUpdated", 0)) \
        if metrics["operation"] == "MERGE" else 0
    log.info("%s: customer_id set on %d rows", table, changed)
    return changed


def key_facts(lake: Lake, contacts_df: DataFrame, map_df: DataFrame, concurrency: int = 1) -> dict[str, int]:
    """Bring ``customer_id`` on every silver fact table in line with the identity map; the
    tables are updated side by side (``concurrency``, D91).

    Returns:
        Rows changed per fact table that exists.
    """
    order_keys = keyed_orders(lake.read("silver.orders"), map_df).persist() \
        if lake.exists("silver.orders") else None
    owners = mailbox_owners(contacts_df, map_df).persist()
    updates = {}
    if order_keys is not None:
        updates["silver.orders"] = lambda: update_customer_ids(lake, "silver.orders", order_keys,
                                                               ["channel", "order_id"])
        if lake.exists("silver.order_lines"):
            updates["silver.order_lines"] = lambda: update_customer_ids(
                lake, "silver.order_lines", keyed_lines(lake.read("silver.order_lines"), order_keys),
                ["channel", "order_id", "line_no"])
    if lake.exists("silver.web_events"):
        updates["silver.web_events"] = lambda: update_customer_ids(
            lake, "silver.web_events", keyed_web_events(lake.read("silver.web_events"), map_df), ["event_id"])
    for table, keys, mailbox in (
        ("silver.email_events", ["campaign_id", "email_match", "event_type", "event_ts"], "email_match"),
        ("silver.support_tickets", ["ticket_id", "email_match"], "email_match"),
        ("silver.consent", ["subject", "channel", "changed_at"], "subject"),
    ):
        if lake.exists(table):
            updates[table] = functools.partial(_update_by_mailbox, lake, table, keys, mailbox, owners)
    try:
        return run_all(updates, concurrency)
    finally:
        owners.unpersist()
        if order_keys is not None:
            order_keys.unpersist()


def _update_by_mailbox(lake: Lake, table: str, keys: list[str], mailbox: str, owners_df: DataFrame) -> int:
    keyed_df = keyed_by_mailbox(lake.read(table), keys, mailbox, owners_df)
    return update_customer_ids(lake, table, keyed_df, keys)
