"""Right to erasure: remove people from every table, keep them out of future ingests, audit it.

``erase(spark, cfg, ctx, customer_ids)``:

1. checks every id is a customer in ``silver.identity_map`` (or was erased before, so a retried
   request finishes the job) — one unknown id and nothing changes;
2. gathers each person's identifiers from silver (records, mailboxes, phones, cookies, orders,
   ids merged into theirs), leaves out any identifier another customer also holds, and adds the
   keyed hashes to ``privacy.suppression`` (so ingest drops their future rows);
3. deletes from every bronze, silver, gold, features, scores and quality table each row that
   holds one of those identifiers (a MERGE per table, matching rows by a fingerprint of all
   their columns), purging deletion vectors so the data files are rewritten;
4. writes one ``privacy.erasure_audit`` row per person: the keyed hash of the customer id, the
   time, the tables touched with row counts, and the registered model versions trained before
   the erasure (tagged ``needs_retraining`` in the registry).

Deleted rows stay readable through Delta time travel until ``vacuum`` removes the old files
(``privacy.vacuum_retention_hours``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.config import Config
from crm_spark.context import RunContext
from crm_spark.errors import CrmSparkError
from crm_spark.privacy import subjects
from crm_spark.privacy.hashing import hash_key, keyed_hash
from crm_spark.privacy.suppression import SUPPRESSION, delete_matching, fingerprint
from crm_spark.sources.registry import load_sources
from crm_spark.tables import LAYERS, TABLE_NAME, Lake

log = logging.getLogger(__name__)

AUDIT = "privacy.erasure_audit"
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SKIPPED_LAYERS = ("privacy",)


@dataclass
class ErasureResult:
    erasure_id: str
    subjects: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    bytes_rewritten: int = 0
    models_to_retrain: list[str] = field(default_factory=list)
    seconds: float = 0.0


def read_id_file(spark: SparkSession, path: str) -> list[str]:
    """Customer ids from a text file: one per line, or a CSV whose header has ``customer_id``.

    Raises:
        CrmSparkError: the file cannot be read, is empty, or a line is not a customer id.
    """
    if not fs.exists(spark, path):
        raise CrmSparkError(f"{path}: no such file")
    lines = [line.strip() for line in spark.sparkContext.textFile(path).collect()]
    lines = [line for line in lines if line]
    if lines and "," in lines[0] or (lines and lines[0].lower() == "customer_id"):
        header = [h.strip().strip('"').lower() for h in lines[0].split(",")]
        if "customer_id" not in header:
            raise CrmSparkError(f"{path}: a CSV needs a customer_id column; found {', '.join(header)}")
        at = header.index("customer_id")
        lines = [line.split(",")[at].strip().strip('"') for line in lines[1:]]
    if not lines:
        raise CrmSparkError(f"{path}: holds no customer ids")
    return lines


def validate_ids(customer_ids: Sequence[str], where: str = "customer id") -> list[str]:
    """Distinct ids in input order.

    Raises:
        CrmSparkError: an id that cannot be a customer id (quotes, spaces, SQL, ...).
    """
    for i, value in enumerate(customer_ids, start=1):
        if not CUSTOMER_ID.match(value):
            raise CrmSparkError(
                f"{where} #{i} {value[:40]!r} is not a customer id (letters, digits, "
                "_ and - only); nothing erased"
            )
    return list(dict.fromkeys(customer_ids))


def erase(spark: SparkSession, cfg: Config, ctx: RunContext, customer_ids: Sequence[str]) -> ErasureResult:
    """Erase ``customer_ids`` from every layer. Safe to retry with the same ids.

    Raises:
        CrmSparkError: an id that is neither a customer nor erased before; nothing changes.
        ConfigError: the hashing key is missing from the environment.
    """
    start = time.perf_counter()
    key = hash_key(cfg.privacy.hash_key_env)
    ids = validate_ids(customer_ids)
    lake = Lake(spark, cfg.lake.root, cfg.lake.table_properties)
    ids_df = spark.createDataFrame([(i,) for i in ids], "customer_id STRING")
    _refuse_unknown(lake, ids_df, key)
    subjects_df = ids_df.select(
        "customer_id", keyed_hash("subject", F.col("customer_id"), key).alias("subject_hash")
    )
    erased_at = ctx.now()
    result = ErasureResult(erasure_id=ctx.run_id, subjects=len(ids))

    identifiers_df = exclusive_identifiers(lake, cfg, ids_df)
    list_df = identifiers_df.join(subjects_df, on="customer_id", how="inner").select(
        "kind",
        _hash_by_kind(key).alias("key_hash"),
        "subject_hash",
        F.lit(ctx.run_id).alias("erasure_id"),
        F.lit(erased_at).cast("timestamp").alias("added_at"),
    )
    lake.merge_upsert(
        list_df, SUPPRESSION, keys=["kind", "key_hash", "subject_hash"], update_condition="false"
    )
    log.info("erasure %s: %d subject(s) on the suppression list", ctx.run_id, len(ids))

    targets_df = (
        lake.read(SUPPRESSION)
        .join(subjects_df.select("subject_hash"), on="subject_hash", how="left_semi")
        .select("kind", "key_hash", "subject_hash")
        .distinct()
        .persist()
    )
    per_subject: dict[str, dict[str, int]] = {}
    sources = {s.name: s for s in load_sources(cfg)}
    for table in tables_to_scan(lake):
        deleted, counts, rewritten = _erase_from(lake, cfg, table, sources, targets_df, key)
        if deleted:
            result.rows_deleted[table] = deleted
            result.bytes_rewritten += rewritten
            for subject, n in counts.items():
                per_subject.setdefault(subject, {})[table] = n
    targets_df.unpersist()

    result.models_to_retrain = _flag_models(cfg, erased_at, ctx.run_id)
    _write_audit(lake, subjects_df, per_subject, ctx, erased_at, result.models_to_retrain)
    result.seconds = time.perf_counter() - start
    log.info(
        "erasure %s: %d rows deleted from %d tables in %.1f s",
        ctx.run_id,
        sum(result.rows_deleted.values()),
        len(result.rows_deleted),
        result.seconds,
    )
    return result


def _hash_by_kind(key: str) -> Column:
    """The keyed hash of ``value`` under its own ``kind`` (kind is a column here)."""
    return F.sha2(F.concat(F.lit(key), F.col("kind"), F.lit(":"), F.col("value")), 256)


def _refuse_unknown(lake: Lake, ids_df: DataFrame, key: str) -> None:
    known_df = lake.read("silver.identity_map").select("customer_id")
    unknown_df = ids_df.join(known_df, on="customer_id", how="left_anti")
    if lake.exists(SUPPRESSION):
        erased_df = lake.read(SUPPRESSION).where(F.col("kind") == "customer").select("key_hash")
        unknown_df = unknown_df.withColumn(
            "key_hash", keyed_hash("customer", F.col("customer_id"), key)
        ).join(erased_df, on="key_hash", how="left_anti")
    unknown = [r["customer_id"] for r in unknown_df.limit(6).collect()]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise CrmSparkError(
            f"unknown customer id(s): {shown} (not in silver.identity_map and never erased); nothing erased"
        )


def identifiers(lake: Lake) -> DataFrame:
    """``customer_id, kind, value``: every identifier silver knows of every customer."""
    map_df = lake.read("silver.identity_map")
    parts = [
        map_df.select("customer_id", F.lit("customer").alias("kind"), F.col("customer_id").alias("value")),
        map_df.select(
            "customer_id",
            F.lit("record").alias("kind"),
            F.concat_ws(":", "source", "source_id").alias("value"),
        ),
    ]
    if lake.exists("silver.identity_merges"):
        merges = lake.read("silver.identity_merges")
        old, new = _merge_columns(merges.columns)
        parts.append(
            merges.select(
                F.col(new).alias("customer_id"), F.lit("customer").alias("kind"), F.col(old).alias("value")
            )
        )
    contacts = lake.read("silver.contacts").join(
        map_df.select("source", "source_id", "customer_id"), on=["source", "source_id"], how="inner"
    )
    parts += [
        contacts.select("customer_id", F.lit("email").alias("kind"), F.col("email_match").alias("value")),
        contacts.select("customer_id", F.lit("phone").alias("kind"), F.col("phone").alias("value")),
    ]
    for table, kind, column in (
        ("silver.email_events", "email", "email_match"),
        ("silver.support_tickets", "email", "email_match"),
        ("silver.consent", "email", "subject"),
        ("silver.web_events", "cookie", "cookie_id"),
        ("silver.orders", "order", "order_id"),
    ):
        if lake.exists(table):
            parts.append(
                lake.read(table).select(
                    "customer_id", F.lit(kind).alias("kind"), F.col(column).alias("value")
                )
            )
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.where(F.col("customer_id").isNotNull() & F.col("value").isNotNull()).distinct()


def exclusive_identifiers(lake: Lake, cfg: Config, ids_df: DataFrame) -> DataFrame:
    """``customer_id, kind, value`` of the erased customers, without identifiers that another
    (not erased) customer also holds — a shared family phone must not erase the family."""
    all_df = identifiers(lake).persist()
    erased_df = all_df.join(ids_df, on="customer_id", how="left_semi")
    shared_df = all_df.join(ids_df, on="customer_id", how="left_anti").select("kind", "value").distinct()
    exclusive = erased_df.join(shared_df, on=["kind", "value"], how="left_anti")
    # a customer id is always the subject's own: keep it even if reused as another's value
    ids_as_values = ids_df.select(
        "customer_id", F.lit("customer").alias("kind"), F.col("customer_id").alias("value")
    )
    return exclusive.unionByName(ids_as_values).distinct()


def _merge_columns(columns: list[str]) -> tuple[str, str]:
    """(merged-away id column, surviving id column) of silver.identity_merges."""
    for old, new in (
        ("merged_id", "survivor_id"),
        ("from_customer_id", "to_customer_id"),
        ("merged_id", "customer_id"),
        ("from_id", "into_id"),
    ):
        if old in columns and new in columns:
            return old, new
    raise CrmSparkError(f"silver.identity_merges has unexpected columns {columns}")


def tables_to_scan(lake: Lake) -> list[str]:
    """Every Delta table under the lake root outside the privacy layer, bronze first."""
    found = []
    for layer in [layer for layer in LAYERS if layer not in SKIPPED_LAYERS]:
        for name in fs.child_dirs(lake.spark, f"{lake.root}/{layer}"):
            table = f"{layer}.{name}"
            if TABLE_NAME.match(table) and lake.exists(table) and table not in found:
                found.append(table)
    return found


def row_identifiers(table: str, df: DataFrame, cfg: Config, sources: dict) -> list[tuple[str, Column]]:
    """(kind, array of values) per identifier a row of ``table`` may hold."""
    layer, name = table.split(".")
    if layer == "bronze" and name in sources:
        return [
            (kind, F.array(value)) for kind, value in subjects.source_identifiers(sources[name], cfg.silver)
        ]
    found = [(kind, F.array(value)) for kind, value in subjects.column_identifiers(table, df.columns)]
    for text_column in ("raw", "sample"):
        if text_column in df.columns:
            source = F.col("_source") if "_source" in df.columns else None
            for kind, values in subjects.text_identifiers(F.col(text_column), source):
                if kind == "email":
                    values = F.transform(values, lambda e: subjects.mailbox(e, cfg.silver))
                found.append((kind, values))
            if source is not None:
                found += line_references(F.col(text_column), source, sources)
    if layer == "bronze" and name not in sources and not name.startswith("_"):
        log.warning("%s: its source is no longer in the registry; matched by column names only", table)
    return found


def line_references(text: Column, source: Column, sources: dict) -> list[tuple[str, Column]]:
    """Identifiers in a quarantined line of a fact source that :func:`subjects.text_identifiers`
    does not see: its words as cookie ids, and as records of the contact source the line's
    source refers to (a web event's account id is a ``shop_accounts`` record, a till receipt's
    member id a ``loyalty_members`` one). A line that could not be parsed has no columns to ask."""
    words = F.regexp_extract_all(text, F.lit(subjects.ID_TOKEN), 0)
    found = [("cookie", words)]
    refers_to = [F.lit(v) for name, s in sorted(sources.items()) if s.spec.customer_source
                 for v in (name, s.spec.customer_source)]
    if refers_to:
        contact_source = F.create_map(*refers_to)[source]
        found.append(("record", F.transform(words, lambda w: F.concat(contact_source, F.lit(":"), w))))
    return found


def _erase_from(
    lake: Lake, cfg: Config, table: str, sources: dict, targets_df: DataFrame, key: str
) -> tuple[int, dict[str, int], int]:
    """Delete the rows of ``table`` holding a target identifier.

    Returns:
        (rows deleted, rows per subject hash, bytes written by the rewrite)
    """
    df = lake.read(table)
    found = row_identifiers(table, df, cfg, sources)
    if not found:
        return 0, {}, 0
    hashed = F.flatten(
        F.array(*[F.transform(F.coalesce(values, F.array()), _hasher(kind, key)) for kind, values in found])
    )
    # underscore names: a table may have columns of its own called kind or subject_hash
    targets = targets_df.select(
        F.col("kind").alias("_kind"),
        F.col("key_hash").alias("_key_hash"),
        F.col("subject_hash").alias("_subject_hash"),
    )
    matched = (
        df.select("*", F.explode(hashed).alias("_id"))
        .select("*", "_id._kind", "_id._key_hash")
        .drop("_id")
        .join(F.broadcast(targets), on=["_kind", "_key_hash"], how="inner")
        .drop("_kind", "_key_hash")
        .persist()
    )
    try:
        counts = {
            r["_subject_hash"]: r["n"]
            for r in matched.groupBy("_subject_hash")
            .agg(F.count_distinct(fingerprint(df.columns)).alias("n"))
            .collect()
        }
        if not counts:
            return 0, {}, 0
        deleted, rewritten = delete_matching(lake, table, matched)
        log.info("%s: %d row(s) deleted", table, deleted)
        return deleted, counts, rewritten
    finally:
        matched.unpersist()


def _hasher(kind: str, key: str):
    """value -> struct(_kind, _key_hash); a one-argument function, as ``F.transform`` passes
    (element, index) to a function of two."""
    return lambda value: F.struct(F.lit(kind).alias("_kind"), keyed_hash(kind, value, key).alias("_key_hash"))


def _flag_models(cfg: Config, erased_at, erasure_id: str) -> list[str]:
    from crm_spark.models import tracking

    return tracking.flag_for_retraining(cfg, erased_at, erasure_id)


def _write_audit(
    lake: Lake,
    subjects_df: DataFrame,
    per_subject: dict[str, dict[str, int]],
    ctx: RunContext,
    erased_at,
    models: list[str],
) -> None:
    rows = [
        (subject, sorted(tables), {t: int(n) for t, n in tables.items()})
        for subject, tables in per_subject.items()
    ]
    counts_df = lake.spark.createDataFrame(
        rows, "subject_hash STRING, tables ARRAY<STRING>, rows_deleted MAP<STRING, BIGINT>"
    )
    audit_df = (
        subjects_df.select("subject_hash")
        .join(counts_df, on="subject_hash", how="left")
        .select(
            F.lit(ctx.run_id).alias("erasure_id"),
            "subject_hash",
            F.lit(erased_at).cast("timestamp").alias("erased_at"),
            F.coalesce("tables", F.array().cast("array<string>")).alias("tables"),
            F.coalesce("rows_deleted", F.create_map().cast("map<string,bigint>")).alias("rows_deleted"),
            F.lit(models).cast("array<string>").alias("models_to_retrain"),
        )
    )
    lake.merge_upsert(audit_df, AUDIT, keys=["erasure_id", "subject_hash"])
