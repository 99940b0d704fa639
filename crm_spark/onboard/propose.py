"""Source declarations proposed for inspected exports: the entity kind each file holds, its
column mapping onto the canonical columns, and what the user should check.

One file may give several sources over the same rows, as conf/examples/online_retail.yml does:
a file of invoice lines (an order id, a product, a quantity, a date) is read as order lines, as
orders (their date, customer and country), as products and, when it names customers, as the
customers; a file of orders that names customers but comes with no contact file gives a
contact source of those customers too, so that every order finds its customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crm_spark.onboard.inspect import FileSample, invalid_names
from crm_spark.onboard.roles import ENTITY_ROLES, KEY_COLUMNS, PERSON_ROLES, ROLE_TYPES, roles_of
from crm_spark.sources.registry import ROW_ID

CHANNELS = "crm, web, store, email, catalog, ..."


@dataclass
class SourceProposal:
    name: str
    entity: str
    channel: str
    sample: FileSample
    mapping: dict[str, str]                   # canonical column -> file column
    required: list[str]
    why: str                                  # one line: why this entity kind
    customer_source: str | None = None
    checks: list[str] = field(default_factory=list)   # what the user must look at


@dataclass
class Proposal:
    sources: list[SourceProposal]
    # contact sources whose records carry nothing to match persons by (an id only)
    id_only_contacts: list[str] = field(default_factory=list)


def propose(samples: list[FileSample]) -> Proposal:
    """Sources for ``samples`` (one inspected file each), contact files first so that the
    orders of another file can name them as their ``customer_source``."""
    kinds = {id(s): _kind_of(s) for s in samples}
    taken: set[str] = set()
    contacts = [_single(s, "contact", _source_name(s, "", taken))
                for s in samples if kinds[id(s)] == "contact"]
    sources = list(contacts)
    for sample in samples:
        kind = kinds[id(sample)]
        if kind == "contact":
            continue
        if kind == "invoice_lines":
            sources += _invoice_lines(sample, contacts, taken)
        elif kind == "order":
            sources += _orders(sample, contacts, taken)
        else:
            sources.append(_single(sample, kind, _source_name(sample, "", taken)))
    for source in sources:
        _check_types(source)
        _check_folder(source)
        bad_names = invalid_names(source.sample)
        if bad_names:
            source.checks.append(f"column name(s) {', '.join(bad_names)} cannot be declared (letters, "
                                 "digits and _ only): rename them in the export's header")
    id_only = [s.name for s in sources if s.entity == "contact"
               and not set(s.mapping) & {_canonical("contact", r) for r in PERSON_ROLES}]
    return Proposal(sources, id_only if len(id_only) == len([s for s in sources if s.entity == "contact"])
                    else [])


def _canonical(entity: str, role: str) -> str | None:
    return ENTITY_ROLES[entity].get(role)


def _kind_of(sample: FileSample) -> str:
    """invoice_lines, order, order_line, product or contact (the best fit; contact when none fits)."""
    roles = roles_of([c.name for c in sample.columns])
    has = roles.keys()
    if "order_id" in has and "sku" in has and has & {"quantity", "unit_price"}:
        return "invoice_lines" if has & {"ts", "customer"} else "order_line"
    if has & {"customer", "order_id"} and "ts" in has and has & {"total", "quantity", "unit_price"}:
        return "order"
    describes = has & {"product_name", "name", "category", "unit_price"}
    if "sku" in has and not has & {"customer", "ts"} and describes:
        return "product"
    return "contact"


def _source_name(sample: FileSample, suffix: str, taken: set[str]) -> str:
    stem = sample.path.name.split(".")[0]
    base = re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", stem).lower()).strip("_")
    if not base or not base[0].isalpha():
        base = f"src_{base}".rstrip("_")
    name = f"{base}_{suffix}" if suffix else base
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    taken.add(unique)
    return unique


def _mapping(sample: FileSample, entity: str, roles: dict[str, str] | None = None) -> dict[str, str]:
    roles = roles if roles is not None else roles_of([c.name for c in sample.columns])
    mapping: dict[str, str] = {}
    for role, column in roles.items():
        target = _canonical(entity, role)
        if target is not None and target not in mapping:
            mapping[target] = column
    return mapping


def _required(sample: FileSample, mapping: dict[str, str], entity: str,
              extra: tuple[str, ...] = ()) -> list[str]:
    wanted = {mapping[k] for k in KEY_COLUMNS[entity] if k in mapping} | set(extra)
    return [c.name for c in sample.columns if c.name in wanted]   # in the file's order


def _single(sample: FileSample, entity: str, name: str) -> SourceProposal:
    mapping = _mapping(sample, entity)
    source = SourceProposal(name, entity, _channel(entity), sample, mapping,
                            _required(sample, mapping, entity), _why(sample, entity))
    if entity == "contact" and "source_id" not in mapping:
        source.checks.append("no column looks like the record's id: map source_id onto the id column "
                             "(it must be unique per record)")
    if entity == "contact" and not mapping.keys() - {"source_id"}:
        source.checks.append("no column looks like a contact's attribute: is this file really contacts? "
                             "entity kinds: contact, order, order_line, product, web_event, "
                             "email_event, ticket, pos_transaction, consent")
    return source


def _invoice_lines(sample: FileSample, contacts: list[SourceProposal],
                   taken: set[str]) -> list[SourceProposal]:
    roles = roles_of([c.name for c in sample.columns])
    ts = roles.get("ts")
    lines_map = _mapping(sample, "order_line")
    lines = SourceProposal(
        _source_name(sample, "order_lines", taken), "order_line", "web", sample, lines_map,
        _required(sample, lines_map, "order_line", (ts,) if ts else ()),
        "invoice lines: an order id, a product and a quantity per row")
    orders = _orders(sample, contacts, taken, "one order per order id, from the same rows")
    product_roles = ("sku", "product_name", "name", "category", "unit_price")
    products_map = _mapping(sample, "product", {k: v for k, v in roles.items() if k in product_roles})
    products = SourceProposal(_source_name(sample, "products", taken), "product", "catalog", sample,
                              products_map, _required(sample, products_map, "product"),
                              "the products the lines name")
    return [lines, *orders, products]


def _orders(sample: FileSample, contacts: list[SourceProposal], taken: set[str],
            why: str | None = None) -> list[SourceProposal]:
    roles = roles_of([c.name for c in sample.columns])
    mapping = _mapping(sample, "order", {k: v for k, v in roles.items()
                                         if k != "id" or "order_id" not in roles})
    orders = SourceProposal(_source_name(sample, "orders", taken) if why else _source_name(sample, "", taken),
                            "order", "web", sample, mapping, _required(sample, mapping, "order"),
                            why or _why(sample, "order"))
    if "order_id" not in mapping:
        mapping["order_id"] = ROW_ID
        orders.checks.append(f"no order id column: order_id is {ROW_ID}, an id per row (each row one "
                             "order); see docs/sources.md 'Orders without an order id'")
    customer = roles.get("customer")
    if customer is None:
        orders.checks.append("no customer column: orders without a customer count in sales but not in "
                             "RFM, CLV or churn")
        return [orders]
    if contacts:
        orders.customer_source = contacts[0].name
        orders.checks.append(f"customer_source: {contacts[0].name} (check that {customer} holds its "
                             f"{contacts[0].mapping.get('source_id', 'source_id')} values)")
        return [orders]
    contact_map = {"source_id": customer}
    if "country" in roles:
        contact_map["country"] = roles["country"]
    if roles.get("ts"):
        contact_map.update(created_at=roles["ts"], updated_at=roles["ts"])
    customers = SourceProposal(
        _source_name(sample, "customers", taken), "contact", orders.channel, sample, contact_map,
        [customer], f"the customers the orders name ({customer}); rows without one are "
                    "quarantined for this source only")
    orders.customer_source = customers.name
    return [orders, customers]


def _channel(entity: str) -> str:
    return {"contact": "crm", "product": "catalog"}.get(entity, "web")


def _why(sample: FileSample, entity: str) -> str:
    mapped = ", ".join(f"{c} -> {t}" for t, c in _mapping(sample, entity).items()) or "no column recognised"
    return f"{entity}: {mapped}"


def location_of(sample: FileSample) -> str:
    """Ingest reads a folder (Structured Streaming's file source), so a source's location is the
    folder that holds the export."""
    return str(sample.path.resolve().parent)


def _check_folder(source: SourceProposal) -> None:
    export = source.sample.path.resolve()
    folder = export.parent
    others = sorted(p.name for p in folder.iterdir()
                    if p.is_file() and p != export and not p.name.startswith((".", "_")))
    if others:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        source.checks.append(f"{folder} holds other files too ({listed}): ingest reads every file of the "
                             f"location folder; move {source.sample.path.name} into a folder of its own "
                             "(with its later exports) and point location there")


def _check_types(source: SourceProposal) -> None:
    """A mapped column whose inferred type does not suit its role is a thing to check."""
    roles = {_canonical(source.entity, r): r for r in ENTITY_ROLES[source.entity]}
    names = {c.name for c in source.sample.columns}
    for target, column in source.mapping.items():
        if column not in names:   # an expression or _row_id
            continue
        wanted = ROLE_TYPES.get(roles.get(target, ""), ())
        declared = source.sample.column(column).guess.type
        if wanted and not declared.startswith(wanted):
            source.checks.append(f"{column} is mapped to {target} but its values read as {declared}; "
                                 "check its values and format")
    for sampled in source.sample.columns:
        if sampled.name in source.required and sampled.empty:
            source.checks.append(f"{sampled.name} is required but empty on {sampled.empty:,} of "
                                 f"{source.sample.rows:,} rows: those rows will be quarantined")
