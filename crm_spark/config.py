"""Configuration: YAML files merged in order, validated strictly into frozen dataclasses.

Merge order (later wins): ``conf/base.yml``, the environment overlay ``conf/<env>.yml``,
``conf/sources.yml`` (the demo's sources: only when no ``--conf`` file declares sources),
``conf/quality.yml``, every ``--conf FILE``, then every ``--set key=value``. A relative path set
in a ``--conf`` file is read against that file's folder (D66, D67).
Each leaf value remembers the file that set it, so an error names both the key and the file.

Secrets never live in YAML: a key named like a secret (``password``, ``secret``, ``token``)
is rejected; sources name an environment variable instead (``password_env``) and the value is
read with :func:`resolve_secret` when the source is opened.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm_spark.errors import ConfigError

SET_ORIGIN = "--set"
SECRET_KEY_PATTERN = re.compile(r"(^|_)(password|passwd|secret|token|api_key)$", re.IGNORECASE)
# Spark/Hadoop option names that hold a credential, by their words (Spark redacts the same
# ones: spark.redaction.regex); a name ending in one of NOT_A_SECRET names where or how to get
# one (fs.s3a.aws.credentials.provider, spark.authenticate.secret.file), not the credential.
SECRET_WORDS = {"secret", "password", "passwd", "pwd", "token", "credential", "credentials"}
SECRET_WORD_PAIRS = {("access", "key"), ("account", "key"), ("private", "key"), ("api", "key")}
NOT_A_SECRET = {"provider", "type", "class", "enabled", "file", "path", "env"}
OPTION_MAPS = ("options", "table_properties")
# a password inside a JDBC URL: ?password=, ;password=, user:pass@host, Oracle's user/pass@
JDBC_URL_PASSWORD = re.compile(
    r"^jdbc:(.*[?;&:][\w.-]*(password|passwd|pwd)\s*=|.*//[^/@\s?;]*:[^/@\s?;]*@|.*:thin:[^/@\s]+/[^@\s]+@)",
    re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OVERLAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
NOT_OVERLAYS = ("base", "sources", "quality")   # the other YAML files of the conf folder
DEMO_SOURCES = "sources.yml"   # the demo's sources: merged only when no --conf file declares sources
# keys holding a path: relative values in a --conf file are read against the file's folder (D67)
PATH_KEYS = ("lake.root", "lake.landing", "lake.truth", "lake.checkpoints", "spark.ivy_dir",
             "spark.jars_dir", "mlflow.tracking_uri", "mlflow.artifact_location", "report.out")
CACHE_KEYS = ("spark.ivy_dir", "spark.jars_dir")   # the project's JAR cache, shared by every run
SQLITE_PREFIX = "sqlite:///"   # followed by a relative path; sqlite://// is an absolute one
URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MASTER_PATTERN = re.compile(
    r"^(local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|spark://[^\s/]+(:[0-9]+)?(,[^\s/]+)*|yarn"
    r"|k8s://\S+)$"
)
# how silver treats a postcode that does not fit its country's format (docs/configuration.md)
POSTCODE_MODES = ("strict", "lenient", "normalise")
MEMORY_PATTERN = re.compile(r"^[1-9][0-9]*[kmgt]?$", re.IGNORECASE)
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z_][a-z0-9_]*$")   # layer.table (crm_spark.tables)


class InvalidValue(ValueError):
    """Raised by a section's ``__post_init__``; the loader adds the key path and file."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class LakeConfig:
    root: str
    landing: str
    truth: str
    checkpoints: str
    table_properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SparkConfig:
    master: str
    app_name: str
    driver_memory: str
    shuffle_partitions: int
    delta_version: str
    ivy_dir: str
    jars_dir: str
    packages: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    log_level: str = "WARN"
    # independent steps run side by side from driver threads (gold tables, models, churn
    # candidates); 1 = one after another (D91)
    concurrency: int = 3
    options: Mapping[str, str] = field(default_factory=dict)
    # option name -> the environment variable holding its value (credentials: D46)
    options_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for option, variable in self.options_env.items():
            if not ENV_NAME.match(variable):
                raise InvalidValue(f"options_env.{option}", f"'{variable}' is not an environment "
                                                            "variable name (letters, digits, _)")
            if option in self.options:
                raise InvalidValue(f"options_env.{option}", "is also set under spark.options; keep one")
        if not MASTER_PATTERN.match(self.master):
            raise InvalidValue(
                "master",
                f"'{self.master}' is not a Spark master URL "
                "(expected local[*], local[N], spark://HOST:PORT, yarn or k8s://HOST:PORT)",
            )
        if not MEMORY_PATTERN.match(self.driver_memory):
            raise InvalidValue("driver_memory", f"'{self.driver_memory}' is not a size like 4g")
        if self.shuffle_partitions < 1:
            raise InvalidValue("shuffle_partitions", "must be at least 1")
        if self.concurrency < 1:
            raise InvalidValue("concurrency", "must be at least 1 (1 runs the steps one after another)")
        if self.delta_version != "auto" and not re.match(r"^\d+\.\d+\.\d+$", self.delta_version):
            raise InvalidValue("delta_version", "must be 'auto' or a version like 4.4.1")


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str
    artifact_location: str
    experiment: str


@dataclass(frozen=True)
class GenerateConfig:
    persons: int
    seed: int
    start_date: dt.date
    end_date: dt.date
    malformed_rate: float
    duplicate_rate: float
    partitions: int = 0

    def __post_init__(self):
        if self.persons < 1:
            raise InvalidValue("persons", "must be at least 1")
        if self.end_date <= self.start_date:
            raise InvalidValue("end_date", "must be after start_date")
        for name in ("malformed_rate", "duplicate_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InvalidValue(name, "must be a fraction in [0, 1)")
        if self.partitions < 0:
            raise InvalidValue("partitions", "must be 0 (auto) or positive")


@dataclass(frozen=True)
class SourceConfig:
    """One landing source as declared in ``conf/sources.yml`` (see docs/sources.md)."""

    channel: str
    entity: str
    format: str
    location: str
    schema: str
    options: Mapping[str, str] = field(default_factory=dict)
    mapping: Mapping[str, str] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    allow_evolution: bool = False
    enabled: bool = True
    # orders, store sales, web events: the contact source whose ids customer_ref/account_id hold
    customer_source: str | None = None
    # jdbc only: the password comes from the environment variable named here
    table: str | None = None
    watermark: str | None = None
    user: str | None = None
    password_env: str | None = None
    driver: str | None = None
    # csv, json: the files' text encoding; lines that do not decode are quarantined
    encoding: str = "utf-8"

    def __post_init__(self):
        formats = ("csv", "json", "parquet", "jdbc")
        if self.format not in formats:
            raise InvalidValue("format", f"'{self.format}' is not one of {', '.join(formats)}")
        self._check_encoding()

    def _check_encoding(self) -> None:
        try:
            name = codecs.lookup(self.encoding).name
        except LookupError:
            raise InvalidValue("encoding", f"'{self.encoding}' is not a known text encoding") from None
        if name != "utf-8" and self.format not in ("csv", "json"):
            raise InvalidValue("encoding", f"only csv and json sources have an encoding, not {self.format}")
        # lines are split on the byte \n before they are decoded
        if "\n,;\t\"{}:".encode(name, "replace") != b'\n,;\t"{}:':
            raise InvalidValue("encoding", f"'{self.encoding}' does not write line breaks and "
                                           "punctuation as ASCII bytes (UTF-16 and UTF-32 are not supported)")


@dataclass(frozen=True)
class IngestConfig:
    trigger_seconds: int
    max_files_per_trigger: int = 0  # 0 = all new files in one batch
    warn_quarantine_share: float = 0.05  # WARNING above this share of a batch's rows quarantined

    def __post_init__(self):
        if self.trigger_seconds < 1:
            raise InvalidValue("trigger_seconds", "must be at least 1")
        if not 0 <= self.warn_quarantine_share <= 1:
            raise InvalidValue("warn_quarantine_share", "must be between 0 and 1")


@dataclass(frozen=True)
class SilverConfig:
    default_region: str
    email_ignore_dots: tuple[str, ...] = ()
    email_plus_tags: tuple[str, ...] = ()
    email_domain_aliases: Mapping[str, str] = field(default_factory=dict)
    session_gap_minutes: int = 30
    postcode_mode: str = "lenient"

    def __post_init__(self):
        import phonenumbers

        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidValue("default_region", f"'{self.default_region}' is not a region code "
                                                 "libphonenumber knows (ISO 3166 alpha-2, e.g. GB, AU)")
        if self.postcode_mode not in POSTCODE_MODES:
            raise InvalidValue("postcode_mode", f"'{self.postcode_mode}' is not one of "
                                                f"{', '.join(POSTCODE_MODES)}")
        if self.session_gap_minutes < 1:
            raise InvalidValue("session_gap_minutes", "must be at least 1")


# silver.contacts columns the identity rules (blocking, training, prior) may name
IDENTITY_MATCH_COLUMNS = ("first_name_match", "last_name_match", "email_match", "email_local",
                          "phone", "birth_date", "postcode", "postcode_match", "city_match",
                          "street_match", "state_match", "country")
IDENTITY_LINK_TYPES = ("link_and_dedupe", "link_only")


@dataclass(frozen=True)
class IdentityConfig:
    threshold: float
    deterministic_keys: tuple[str, ...]
    blocking: tuple[tuple[str, ...], ...]
    training_blocking: tuple[tuple[str, ...], ...]
    source_trust: tuple[str, ...]
    survivorship: Mapping[str, str] = field(default_factory=dict)
    prior_rules: tuple[tuple[str, ...], ...] = (
        ("email_match",), ("phone",), ("first_name_match", "last_name_match", "birth_date"),
        ("last_name_match", "birth_date", "postcode_match"))
    prior_recall: float = 0.8
    link_type: str = "link_and_dedupe"
    deduplicated_sources: tuple[str, ...] = ()
    max_pairs_for_u: int = 1_000_000
    train_on_driver_max_records: int = 100_000
    probabilistic: bool = True
    seed: int = 42
    retrain: bool = False
    id_prefix: str = "C"

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise InvalidValue("threshold", "must be a probability in (0, 1)")
        if not 0.0 < self.prior_recall <= 1.0:
            raise InvalidValue("prior_recall", "must be a share in (0, 1]")
        if self.link_type not in IDENTITY_LINK_TYPES:
            raise InvalidValue("link_type", f"'{self.link_type}' is not one of "
                                            f"{', '.join(IDENTITY_LINK_TYPES)}")
        for name in ("blocking", "training_blocking", "prior_rules"):
            for rule in getattr(self, name):
                unknown = sorted(set(rule) - set(IDENTITY_MATCH_COLUMNS))
                if not rule:
                    raise InvalidValue(name, "a rule needs at least one column")
                if unknown:
                    raise InvalidValue(name, f"rule {list(rule)}: unknown column(s) {unknown}; "
                                             f"use {', '.join(IDENTITY_MATCH_COLUMNS)}")
        unknown = set(self.deterministic_keys) - {"email", "phone", "login"}
        if unknown:
            raise InvalidValue("deterministic_keys", f"unknown key(s) {sorted(unknown)}; "
                                                     "use email, phone, login")
        rules = {"trust", "recent", "frequent"}
        for attribute, rule in self.survivorship.items():
            if rule not in rules:
                raise InvalidValue("survivorship", f"{attribute}: '{rule}' is not one of "
                                                   f"{', '.join(sorted(rules))}")


@dataclass(frozen=True)
class GoldConfig:
    churn_window_days: int = 90
    profile_fields: tuple[str, ...] = ("first_name", "city", "country")
    rfm_segments: Mapping[str, Any] = field(default_factory=dict)   # empty: the built-in map
    attribution_lookback_days: int = 30
    attribution_half_life_days: float = 7.0
    journey_max_steps: int = 8
    segments_k_min: int = 2
    segments_k_max: int = 6
    seed: int = 42
    affinity_min_support: float = 0.001
    affinity_min_baskets: int = 20
    affinity_min_confidence: float = 0.05
    themes_k_min: int = 4
    themes_k_max: int = 10
    themes_sample_size: int = 20000
    themes_recent_days: int = 28
    themes_baseline_days: int = 84

    def __post_init__(self):
        allowed = {"first_name", "last_name", "email", "phone", "street", "city", "postcode",
                   "country", "birth_date"}
        unknown = sorted(set(self.profile_fields) - allowed)
        if unknown:
            raise InvalidValue("profile_fields", f"unknown field(s) {unknown}; use {sorted(allowed)}")
        for name in ("churn_window_days", "attribution_lookback_days", "journey_max_steps"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, "must be at least 1")
        if not 2 <= self.segments_k_min <= self.segments_k_max:
            raise InvalidValue("segments_k_min", "need 2 <= segments_k_min <= segments_k_max")
        if not 2 <= self.themes_k_min <= self.themes_k_max:
            raise InvalidValue("themes_k_min", "need 2 <= themes_k_min <= themes_k_max")
        for name in ("themes_sample_size", "themes_recent_days", "themes_baseline_days"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, "must be at least 1")


@dataclass(frozen=True)
class ModelsConfig:
    auto_promote: bool = True
    churn_horizon_days: int = 90
    churn_validation_days: int = 90       # training as_of = validation as_of - this
    churn_max_candidates: int = 4
    clv_holdout_days: int = 180
    clv_time_unit: str = "days"
    clv_horizon_days: int = 365
    clv_discount_rate_annual: float = 0.10
    recs_top_n: int = 10
    recs_k: int = 10
    recs_rank: int = 16
    recs_reg_param: float = 0.1
    recs_alpha: float = 10.0
    recs_max_iter: int = 10
    recs_exclude_purchased: bool = True
    recs_test_days: int = 90
    recs_weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 42
    # churn_label explicit: a snapshot table with a churn flag (docs/models.md)
    churn_label: str = "purchases"
    churn_table: str | None = None
    churn_id_column: str | None = None
    churn_flag_column: str | None = None
    churn_flag_true: tuple[str, ...] = ("yes", "y", "true", "t", "1", "1.0")
    churn_flag_false: tuple[str, ...] = ("no", "n", "false", "f", "0", "0.0")
    churn_numeric_features: tuple[str, ...] = ()
    churn_categorical_features: tuple[str, ...] = ()
    churn_valid_fraction: float = 0.2
    churn_test_fraction: float = 0.2

    def __post_init__(self):
        for name in ("churn_horizon_days", "churn_validation_days", "clv_holdout_days", "clv_horizon_days",
                     "recs_top_n", "recs_k", "recs_test_days"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, "must be at least 1")
        if self.clv_time_unit not in ("days", "weeks"):
            raise InvalidValue("clv_time_unit", "must be days or weeks")
        if self.churn_label not in ("purchases", "explicit"):
            raise InvalidValue("churn_label", f"'{self.churn_label}' is not purchases or explicit")
        if self.churn_label == "explicit":
            self._check_explicit_churn()

    def _check_explicit_churn(self) -> None:  # noqa: C901 (one check per field; goes with the config split, issue 23)
        for name in ("churn_table", "churn_id_column", "churn_flag_column"):
            if not getattr(self, name):
                raise InvalidValue(name, "is required when churn_label is explicit")
        assert self.churn_table is not None  # checked just above
        if not TABLE_NAME.match(self.churn_table):
            raise InvalidValue("churn_table",
                               f"'{self.churn_table}' is not a table name of the form layer.table")
        numeric, categorical = self.churn_numeric_features, self.churn_categorical_features
        if not numeric and not categorical:
            raise InvalidValue("churn_numeric_features", "explicit churn needs at least one numeric or "
                                                         "categorical feature column")
        for name in ("churn_id_column", "churn_flag_column", "churn_numeric_features",
                     "churn_categorical_features"):
            value = getattr(self, name)
            for column in (value,) if isinstance(value, str) else value:
                if not COLUMN_NAME.match(column):
                    raise InvalidValue(name, f"'{column}' is not a column name")
        features = [*numeric, *categorical]
        for column in sorted({c for c in features if features.count(c) > 1}):
            raise InvalidValue("churn_categorical_features", f"'{column}' is listed twice among the features")
        for name in ("churn_id_column", "churn_flag_column"):
            if getattr(self, name) in features:
                raise InvalidValue(name, f"'{getattr(self, name)}' cannot also be a feature")
        true = {v.strip().lower() for v in self.churn_flag_true}
        false = {v.strip().lower() for v in self.churn_flag_false}
        if not true or not false:
            raise InvalidValue("churn_flag_true" if not true else "churn_flag_false",
                               "needs at least one value")
        if true & false:
            raise InvalidValue("churn_flag_false", f"{sorted(true & false)} also in churn_flag_true")
        for name in ("churn_valid_fraction", "churn_test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise InvalidValue(name, "must be a fraction in (0, 1)")
        if self.churn_valid_fraction + self.churn_test_fraction >= 1:
            raise InvalidValue("churn_test_fraction", "churn_valid_fraction + churn_test_fraction must be "
                                                      "below 1 (the rest is training data)")


@dataclass(frozen=True)
class ReportConfig:
    out: str = "report/crm-report.html"
    currency: str | None = None     # null: the most common currency of silver.orders


@dataclass(frozen=True)
class PrivacyConfig:
    hash_key_env: str = "CRM_SPARK_PII_KEY"   # the variable holding the keyed-hash secret
    vacuum_retention_hours: int = 168          # deleted rows stay in time travel this long
    vacuum_after_erase: bool = True            # vacuum the tables an erasure touched
    pseudonymise: tuple[str, ...] = ()         # customer_360 adds <field>_key keyed hashes
    pii_columns: tuple[str, ...] = ()          # extra table.column names tagged as personal data

    def __post_init__(self):
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", self.hash_key_env):
            raise InvalidValue("hash_key_env", "must name an environment variable (A-Z, 0-9, _)")
        if self.vacuum_retention_hours < 0:
            raise InvalidValue("vacuum_retention_hours", "must be 0 or more")
        unknown = sorted(set(self.pseudonymise) - {"email", "phone"})
        if unknown:
            raise InvalidValue("pseudonymise", f"unknown field(s) {unknown}; use email, phone")


@dataclass(frozen=True)
class RunConfig:
    generate_demo_if_empty: bool
    as_of: dt.date | None = None


EXPECTATION_KINDS = {
    # kind: (required parameters, optional parameters); column/columns count as "column"
    "not_null": ({"column"}, set()),
    "unique": ({"column"}, set()),
    "accepted_values": ({"column", "values"}, set()),
    "range": ({"column"}, {"min", "max"}),
    "referential": ({"column", "ref_table"}, {"ref_column"}),
    "freshness": ({"column", "max_age_days"}, set()),
    "row_count_change": (set(), {"min_change", "max_change"}),
}
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ExpectationConfig:
    """One data-quality expectation on a table (see docs/quality.md for each kind)."""

    kind: str
    name: str | None = None       # default: kind and columns, e.g. unique_source_source_id
    policy: str = "fail"          # fail: stop the run before the next stage; warn: record only
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    min: Any = None
    max: Any = None
    ref_table: str | None = None
    ref_column: str | None = None
    max_age_days: int | None = None
    min_change: float | None = None   # row_count_change: -0.2 = at most 20 % fewer rows
    max_change: float | None = None   # 1.0 = at most twice as many rows

    def __post_init__(self):  # noqa: C901 (one check per expectation kind; goes with the config split, issue 23)
        if self.kind not in EXPECTATION_KINDS:
            raise InvalidValue("kind", f"'{self.kind}' is not one of {', '.join(EXPECTATION_KINDS)}")
        if self.policy not in ("warn", "fail"):
            raise InvalidValue("policy", f"'{self.policy}' is not warn or fail")
        required, optional = EXPECTATION_KINDS[self.kind]
        given = {f.name for f in dataclasses.fields(self)
                 if f.name not in ("kind", "name", "policy") and getattr(self, f.name) not in (None, ())}
        given_as = {("column" if g == "columns" else g) for g in given}
        for extra in sorted(given_as - required - optional):
            raise InvalidValue(extra, f"does not apply to kind {self.kind}")
        for missing in sorted(required - given_as):
            raise InvalidValue(missing, f"kind {self.kind} needs {missing}")
        if self.kind in ("range", "row_count_change") and not given_as & optional:
            first = "min" if self.kind == "range" else "min_change"
            raise InvalidValue(first, f"kind {self.kind} needs {' or '.join(sorted(optional))}")
        if self.column and self.columns:
            raise InvalidValue("columns", "give column or columns, not both")
        if len(self.keys) > 1 and self.kind not in ("not_null", "unique"):
            raise InvalidValue("columns", f"kind {self.kind} takes one column")
        for name in (*self.keys, *([self.ref_column] if self.ref_column else [])):
            if not COLUMN_NAME.match(name):
                raise InvalidValue("column", f"'{name}' is not a column name")
        if self.ref_table is not None and not TABLE_NAME.match(self.ref_table):
            raise InvalidValue("ref_table", f"'{self.ref_table}' is not a table name of the form layer.table")
        for bound in ("min", "max"):
            if not isinstance(getattr(self, bound), (type(None), int, float, str, dt.date)):
                raise InvalidValue(bound, "expected a number, a date or a timestamp")
        if self.max_age_days is not None and self.max_age_days < 0:
            raise InvalidValue("max_age_days", "must be 0 or more")
        if self.min_change is not None and self.min_change < -1:
            raise InvalidValue("min_change", "must be -1 (all rows gone) or more")
        if self.name is None:
            suffix = "_".join(self.keys) if self.keys else ""
            object.__setattr__(self, "name", f"{self.kind}_{suffix}".rstrip("_"))
        elif not COLUMN_NAME.match(self.name):
            raise InvalidValue("name", f"'{self.name}' is not a name (letters, digits, _)")

    @property
    def keys(self) -> tuple[str, ...]:
        """The checked column(s): ``columns``, or ``column`` alone."""
        return self.columns or ((self.column,) if self.column else ())


@dataclass(frozen=True)
class QualityConfig:
    enabled: bool = True          # evaluate the declared expectations after each stage
    sample_rows: int = 5          # failing rows kept per expectation in quality.results
    tables: Mapping[str, tuple[ExpectationConfig, ...]] = field(default_factory=dict)

    def __post_init__(self):
        if not 0 <= self.sample_rows <= 100:
            raise InvalidValue("sample_rows", "must be between 0 and 100")
        for table, expectations in self.tables.items():
            if not TABLE_NAME.match(table):
                # the field names the table so the error names the file that declared it
                raise InvalidValue(f"tables.{table}", "is not a table name of the form layer.table")
            names = [e.name for e in expectations]
            for name in sorted({n for n in names if names.count(n) > 1}):
                raise InvalidValue(f"tables.{table}", f"expectation name '{name}' is declared twice; "
                                                      "give each a distinct name")


@dataclass(frozen=True)
class Config:
    lake: LakeConfig
    spark: SparkConfig
    mlflow: MlflowConfig
    generate: GenerateConfig
    ingest: IngestConfig
    silver: SilverConfig
    identity: IdentityConfig
    gold: GoldConfig
    models: ModelsConfig
    report: ReportConfig
    run: RunConfig
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    quality: QualityConfig = field(default_factory=QualityConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    files: tuple[str, ...] = ()
    digest: str = ""
    # the demo's sources (conf/sources.yml) are in use: no --conf file declared sources (D66)
    demo_sources: bool = False


def default_conf_dir() -> Path:
    """Where ``base.yml`` and friends live: ``$CRM_SPARK_CONF_DIR``; else ``./conf`` when it holds
    base.yml; else the ``conf/`` of the project crm_spark is installed from (a source checkout or
    an editable install, wherever the command runs; an installed wheel has none) (D67)."""
    named = os.environ.get("CRM_SPARK_CONF_DIR")
    if named:
        return Path(named)
    here = Path("conf")
    project = Path(__file__).resolve().parents[1] / "conf"
    if not (here / "base.yml").is_file() and (project / "base.yml").is_file():
        return project
    return here


def load_config(
    conf_files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    env: str | None = None,
    conf_dir: str | Path | None = None,
) -> Config:
    """Load, merge and validate the configuration.

    Args:
        conf_files: extra YAML files, merged after the defaults in the order given.
        overrides: ``key.path=value`` strings; the value is parsed as YAML.
        env: the environment overlay (``local``, ``cluster``); default ``$CRM_SPARK_ENV`` or local.
        conf_dir: folder with base.yml, the overlays, sources.yml and quality.yml.

    Returns:
        The validated, frozen :class:`Config`.

    Raises:
        ConfigError: naming the key and the file for any invalid, unknown or missing value, a
            secret written into the YAML, or an environment without its overlay.
    """
    conf_dir = Path(conf_dir) if conf_dir is not None else default_conf_dir()
    given_env, env_var = env, os.environ.get("CRM_SPARK_ENV")
    env = env or env_var or "local"
    base = conf_dir / "base.yml"
    if not base.is_file():
        raise ConfigError(
            f"{base}: not found; run from a project folder holding conf/, or set CRM_SPARK_CONF_DIR "
            "to a copy of the project's conf/ (an installed wheel carries none)"
        )
    _check_environment(conf_dir, env, "--env" if given_env else "CRM_SPARK_ENV" if env_var else None)
    user_files = []
    for extra in conf_files:
        extra = Path(extra)
        if not extra.is_file():
            raise ConfigError(f"{extra}: configuration file not found")
        user_files.append((extra, _read_yaml(extra)))
    demo_sources = conf_dir / DEMO_SOURCES
    use_demo = demo_sources.is_file() and not any(_declares_sources(data) for _, data in user_files)
    files = [base]
    for optional in (conf_dir / f"{env}.yml", demo_sources if use_demo else None, conf_dir / "quality.yml"):
        if optional is not None and optional.is_file():
            files.append(optional)

    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in files:
        _merge(merged, _read_yaml(path), str(path), origins, ())
    for path, data in user_files:
        _merge(merged, data, str(path), origins, ())
    for override in overrides:
        key, value = _parse_override(override)
        _merge(merged, _nest(key.split("."), value), SET_ORIGIN, origins, ())

    _reject_literal_secrets(merged, origins, ())
    _drop_undeclared_disabled_sources(merged)
    digest = hashlib.sha256(json.dumps(merged, sort_keys=True, default=str).encode()).hexdigest()
    _anchor_relative_paths(merged, origins, {str(p) for p, _ in user_files}, conf_dir)
    sections = {k: v for k, v in merged.items()}
    sections["files"] = [str(p) for p in (*files, *(p for p, _ in user_files))]
    sections["digest"] = digest[:16]
    sections["demo_sources"] = use_demo
    return _build(Config, sections, (), origins)


def _declares_sources(data: dict[str, Any]) -> bool:
    """A file declares sources of its own when one of its sources names an entity; entries that
    only tune a demo source (``enabled: false``, another location) do not count."""
    sources = data.get("sources")
    return isinstance(sources, dict) and any(isinstance(s, dict) and "entity" in s for s in sources.values())


def _drop_undeclared_disabled_sources(merged: dict[str, Any]) -> None:
    """``sources.NAME.enabled: false`` for a source nobody declares switches off nothing: a
    configuration that disabled the demo's sources one by one keeps working without them."""
    sources = merged.get("sources")
    if isinstance(sources, dict):
        for name in [n for n, s in sources.items() if isinstance(s, dict) and s == {"enabled": False}]:
            del sources[name]


def _anchor_relative_paths(merged: dict[str, Any], origins: dict[str, str], user_files: set[str],
                           conf_dir: Path) -> None:
    """Read a relative path against the folder of the --conf file that set it; the JAR cache of
    the project's own files against the project folder (the conf folder's parent). Paths of the
    conf folder's other keys and of --set stay relative to the working folder (D67)."""
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = merged.get(section, {}).get(name) if isinstance(merged.get(section), dict) else None
        origin = origins.get(key)
        if not isinstance(value, str) or not value or origin is None:
            continue
        if origin in user_files:
            anchor = Path(origin).parent
        elif key in CACHE_KEYS and origin != SET_ORIGIN:
            anchor = conf_dir.parent
        else:
            continue
        merged[section][name] = anchored_path(value, anchor)


def anchored_path(value: str, folder: str | Path) -> str:
    """``value`` read against ``folder`` when it is a relative path (or a ``sqlite:///`` URI with
    a relative path); absolute paths and other URIs are returned as they are."""
    prefix = ""
    if value.startswith(SQLITE_PREFIX):
        prefix, value = SQLITE_PREFIX, value[len(SQLITE_PREFIX):]
    elif URI_SCHEME.match(value):
        return value
    if value.startswith(("/", "~")):
        return prefix + value
    return prefix + os.path.normpath(os.path.join(os.path.abspath(folder), value))


def known_environments(conf_dir: Path) -> list[str]:
    """The environment overlays of a conf folder (``<env>.yml`` beside base.yml); ``local`` is
    always known: without ``local.yml`` it is base.yml alone."""
    overlays = {p.stem for p in conf_dir.glob("*.yml") if p.stem not in NOT_OVERLAYS}
    return sorted(overlays | {"local"})


def _check_environment(conf_dir: Path, env: str, named_by: str | None) -> None:
    """A named environment must have its overlay: a typo would otherwise run on base settings."""
    known = known_environments(conf_dir)
    if env in known and OVERLAY_NAME.match(env):
        return
    where = f"{named_by} {env}" if named_by == "--env" else f"{named_by}={env}"
    raise ConfigError(f"{where}: unknown environment; known: {', '.join(known)} "
                      f"(the overlays in {conf_dir})")


def resolve_secret(env_name: str | None, what: str) -> str:
    """Read a secret from the environment variable a config key names."""
    if not env_name:
        raise ConfigError(f"{what}: no environment variable named for the secret (set *_env)")
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(f"{what}: environment variable {env_name} is not set")
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key or not re.match(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$", key):
        raise ConfigError(f"{SET_ORIGIN} {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(keys):
        value = {key: value}
    return value


def _merge(target: dict, update: dict, origin: str, origins: dict, path: tuple) -> None:
    for key, value in update.items():
        key_path = (*path, str(key))
        dotted = ".".join(key_path)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, origin, origins, key_path)
        else:
            target[key] = _copy(value)
            for known in [k for k in origins if k.startswith(dotted + ".")]:
                del origins[known]
            _record_origins(value, origin, origins, key_path)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _record_origins(value: Any, origin: str, origins: dict, path: tuple) -> None:
    origins[".".join(path)] = origin
    if isinstance(value, dict):
        for key, inner in value.items():
            _record_origins(inner, origin, origins, (*path, str(key)))


def _origin(origins: dict, path: tuple) -> str:
    for depth in range(len(path), 0, -1):
        found = origins.get(".".join(path[:depth]))
        if found:
            return found
    return "the configuration"


def _fail(origins: dict, path: tuple, message: str) -> ConfigError:
    return ConfigError(f"{_origin(origins, path)}: {'.'.join(path)}: {message}")


def _reject_literal_secrets(data: Any, origins: dict, path: tuple) -> None:
    """Refuse secrets written into the YAML: a key named like one, a Spark/Hadoop option that
    holds a credential, a password inside a JDBC URL. The messages name the key, never the value."""
    if isinstance(data, list):
        for i, value in enumerate(data):
            _reject_literal_secrets(value, origins, (*path, str(i)))
        return
    if isinstance(data, str):
        if JDBC_URL_PASSWORD.match(data.strip()):
            raise _fail(origins, path, "a password inside a JDBC URL is not allowed in configuration; "
                                       "remove it, put the user under 'user' and name the environment "
                                       "variable holding the password with 'password_env'")
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        key_path = (*path, str(key))
        if str(key).endswith("_env"):
            continue  # names of environment variables (spark.options_env maps secret option names)
        if SECRET_KEY_PATTERN.search(str(key)):
            raise _fail(
                origins,
                key_path,
                "secrets are not allowed in configuration; name an environment variable "
                f"with '{key}_env' instead",
            )
        if key in OPTION_MAPS and isinstance(value, dict):
            _reject_secret_options(value, origins, key_path)
        _reject_literal_secrets(value, origins, key_path)


def _reject_secret_options(options: dict, origins: dict, path: tuple) -> None:
    for name in _flatten(options):
        if looks_like_secret_option(name):
            hint = (f"name the environment variable that holds it under spark.options_env "
                    f"('{name}: MY_VARIABLE')" if path[0] == "spark" else
                    "a source's password comes from the environment variable named by 'password_env'"
                    if path[0] == "sources" else "keep credentials out of table properties")
            raise _fail(origins, (*path, name), f"looks like a credential; secrets are not allowed in "
                                               f"configuration: {hint}")


def looks_like_secret_option(name: str) -> bool:
    """True for a Spark/Hadoop option name that holds a credential (``fs.s3a.secret.key``,
    ``fs.azure.account.key.<account>...``, ``spark.ssl.keyStorePassword``), not for one that
    names a provider, a type or a file (``fs.s3a.aws.credentials.provider``)."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)]
    if not words or words[-1] in NOT_A_SECRET:
        return False
    pairs = zip(words, words[1:], strict=False)
    return bool(SECRET_WORDS & set(words)) or any(pair in SECRET_WORD_PAIRS for pair in pairs)


def _build(cls: type, data: Any, path: tuple, origins: dict) -> Any:
    if not isinstance(data, dict):
        raise _fail(origins, path, f"expected a mapping, got {_type_name(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _fail(origins, (*path, str(key)), f"unknown key{hint}")
    values = {}
    for name, spec in fields.items():
        key_path = (*path, name)
        if name in data:
            values[name] = _coerce(hints[name], data[name], key_path, origins)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{'.'.join(key_path)}: missing value; set it in conf/base.yml, an overlay, "
                f"or with --set {'.'.join(key_path)}=..."
            )
    try:
        return cls(**values)
    except InvalidValue as e:
        raise _fail(origins, (*path, e.field_name), str(e)) from e


def _coerce(hint: Any, value: Any, path: tuple, origins: dict) -> Any:  # noqa: C901 (one branch per kind of type hint; pydantic may replace it, issue 23)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path, origins)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path, origins)
    if origin in (Mapping, dict) or hint is dict:
        if value is None:
            return types.MappingProxyType({})
        if not isinstance(value, dict):
            raise _fail(origins, path, f"expected a mapping, got {_type_name(value)}")
        key_type, value_type = args or (str, Any)
        if value_type is str:
            # Spark option names contain dots, so `--set spark.options.spark.ui.enabled=false`
            # arrives nested; flatten it back to the dotted option name.
            value = _flatten(value)
        return types.MappingProxyType(
            {str(k): _coerce(value_type, v, (*path, str(k)), origins) for k, v in value.items()}
        )
    if origin is tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _fail(origins, path, f"expected a list, got {_type_name(value)}")
        return tuple(_coerce(args[0], v, (*path, str(i)), origins) for i, v in enumerate(value))
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        # Mapping values such as reader options may be written as YAML scalars.
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, bool)) and len(path) > 1 and _in_mapping(path):
            return str(value).lower() if isinstance(value, bool) else str(value)
    elif hint is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise _fail(origins, path, f"expected a date like 2024-01-31, got {value!r}")
    raise _fail(origins, path, f"expected {_hint_name(hint)}, got {_type_name(value)} {value!r}")


def _flatten(value: dict, prefix: str = "") -> dict:
    flat = {}
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, dict):
            flat.update(_flatten(inner, name + "."))
        else:
            flat[name] = inner
    return flat


def _in_mapping(path: tuple) -> bool:
    return any(part in {"options", "table_properties", "mapping", "formats"} for part in path)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "an integer",
            float: "a number", str: "a string"}.get(type(value), type(value).__name__)


def _hint_name(hint: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )
