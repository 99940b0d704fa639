"""Validated source declarations: each ``sources.<name>`` entry of the configuration becomes a
:class:`Source` whose declared schema, mapping and parse formats are checked before any data
is read."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_spark.config import Config, SourceConfig
from crm_spark.errors import ConfigError
from crm_spark.sources.canonical import ENTITIES, canonical_names

# silver's id of a row of a source that has none (crm_spark/silver/row_ids.py)
ROW_ID = "_row_id"

SIMPLE_TYPES = {"STRING", "INT", "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP"}
DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark SQL type name, upper case


@dataclass(frozen=True)
class Source:
    name: str
    spec: SourceConfig
    columns: tuple[Column, ...]
    path: str  # resolved location (files) or JDBC URL

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def type_of(self, column: str) -> str:
        return next(c.type for c in self.columns if c.name == column)


def parse_schema(ddl: str, where: str) -> tuple[Column, ...]:
    """Parse ``name TYPE, name TYPE`` (types: STRING, INT, BIGINT, DOUBLE, BOOLEAN, DATE,
    TIMESTAMP, DECIMAL(p,s))."""
    columns: list[Column] = []
    for part in re.split(r",(?![^(]*\))", ddl):
        tokens = part.strip().split(None, 1)
        if len(tokens) != 2:
            raise ConfigError(f"{where}.schema: '{part.strip()}' is not 'name TYPE'")
        name, type_ = tokens[0].strip("`"), re.sub(r"\s+", "", tokens[1].upper())
        if not NAME.match(name):
            raise ConfigError(f"{where}.schema: '{name}' is not a valid column name")
        if type_ not in SIMPLE_TYPES and not DECIMAL.match(type_):
            raise ConfigError(f"{where}.schema: column {name} has unsupported type {type_} "
                              f"(use {', '.join(sorted(SIMPLE_TYPES))} or DECIMAL(p,s))")
        if name in [c.name for c in columns]:
            raise ConfigError(f"{where}.schema: column {name} is declared twice")
        columns.append(Column(name, type_))
    return tuple(columns)


def load_sources(cfg: Config, only: str | None = None) -> list[Source]:
    """The enabled sources (or just ``only``), validated.

    Raises:
        ConfigError: naming the source and key for an unknown entity, a mapping onto a column
            the entity does not have, a mapped/required/formatted column the schema lacks, or
            an unknown source name.
    """
    if only is not None and only not in cfg.sources:
        known = ", ".join(sorted(cfg.sources)) or "none"
        raise ConfigError(f"--source {only}: no such source in the configuration (known: {known})")
    sources = []
    for name, spec in sorted(cfg.sources.items()):
        if (only is None and not spec.enabled) or (only is not None and name != only):
            continue
        referenced = cfg.sources.get(spec.customer_source) if spec.customer_source else None
        if spec.customer_source and (referenced is None or referenced.entity != "contact"):
            raise ConfigError(f"sources.{name}.customer_source: '{spec.customer_source}' is not a "
                              "contact source in the configuration")
        sources.append(validate_source(name, spec, cfg.lake.landing))
    return sources


def validate_source(name: str, spec: SourceConfig, landing: str) -> Source:  # noqa: C901 (one check per rule of a source)
    where = f"sources.{name}"
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise ConfigError(f"{where}: source names are lower_snake_case (they name tables)")
    if spec.entity not in ENTITIES:
        raise ConfigError(f"{where}.entity: '{spec.entity}' is not one of "
                          f"{', '.join(sorted(ENTITIES))}")
    columns = parse_schema(spec.schema, where)
    declared = {c.name for c in columns}
    canonical = set(canonical_names(spec.entity))
    for target, expression in spec.mapping.items():
        if target not in canonical:
            raise ConfigError(f"{where}.mapping.{target}: not a column of the canonical "
                              f"{spec.entity} ({', '.join(canonical_names(spec.entity))})")
        if NAME.match(expression) and expression not in declared and expression != ROW_ID:
            raise ConfigError(f"{where}.mapping.{target}: source column '{expression}' is not "
                              "in the declared schema")
    if spec.entity == "order" and not spec.mapping.get("order_id"):
        raise ConfigError(f"{where}.mapping.order_id: an order source needs an order id; an export "
                          f"without one can map order_id: {ROW_ID} (an id per row) or a key "
                          "expression over its columns (docs/sources.md, 'Orders without an order id')")
    for key, names in (("required", spec.required), ("formats", list(spec.formats))):
        for column in names:
            if column not in declared:
                raise ConfigError(f"{where}.{key}: column '{column}' is not in the declared schema")
    if spec.format == "jdbc":
        if not (spec.table and spec.watermark):
            raise ConfigError(f"{where}: a jdbc source needs table and watermark")
        if spec.watermark not in declared:
            raise ConfigError(f"{where}.watermark: '{spec.watermark}' is not in the declared schema")
        path = spec.location
    else:
        path = resolve_location(spec.location, landing)
    return Source(name, spec, columns, path)


def resolve_location(location: str, landing: str) -> str:
    """A relative location lies under the landing folder; absolute paths and URIs stay."""
    if SCHEME.match(location) or location.startswith("/"):
        return location
    return f"{landing.rstrip('/')}/{location}"
