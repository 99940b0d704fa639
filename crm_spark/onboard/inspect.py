"""Read a sample of one export (CSV, also gzip-compressed; JSON lines; Parquet) on the driver,
without Spark, and infer each column's declared type.

The sample is the file's first ``max_rows`` rows (by default enough for most exports to be read
whole): a type seen only further on — a price with a third decimal at row 157,195 of the
Online Retail export — would otherwise be declared too narrow. Each column's distinct values are
typed once, so a long file costs about one pass of Python's CSV reader.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, zip_longest
from pathlib import Path

from crm_spark.errors import CrmSparkError
from crm_spark.onboard.infer import ColumnProfile, TypeGuess
from crm_spark.sources.registry import NAME

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 1_000_000
DELIMITERS = (",", ";", "\t", "|")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


class InspectError(CrmSparkError):
    """A file given to ``init`` cannot be read as an export."""


@dataclass(frozen=True)
class Column:
    name: str
    guess: TypeGuess
    empty: int                    # rows of the sample without a value


@dataclass(frozen=True)
class FileSample:
    path: Path
    format: str                   # csv | json | parquet
    columns: tuple[Column, ...]
    rows: int                     # rows read
    is_whole_file: bool
    options: dict[str, str]       # reader options for the source (csv: header, delimiter)
    encoding: str = "utf-8"
    notes: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def format_of(path: Path) -> str:
    """csv, json or parquet, from the name (a ``.gz`` suffix aside), else from the first bytes."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last == ".parquet":
        return "parquet"
    if last in JSON_SUFFIXES:
        return "json"
    if last in CSV_SUFFIXES:
        return "csv"
    head = _open_bytes(path).read(4)
    if head == b"PAR1":
        return "parquet"
    return "json" if head.lstrip()[:1] == b"{" else "csv"


def inspect_file(path: str | Path, max_rows: int = DEFAULT_MAX_ROWS) -> FileSample:
    """Read up to ``max_rows`` rows of ``path`` and infer its columns.

    Raises:
        InspectError: the file is missing, empty or not readable in the format of its name.
    """
    path = Path(path)
    if not path.is_file():
        raise InspectError(f"{path}: no such file")
    fmt = format_of(path)
    try:
        if fmt == "parquet":
            return _inspect_parquet(path, max_rows)
        return _inspect_text(path, fmt, max_rows)
    except (OSError, EOFError, ValueError, csv.Error) as e:
        raise InspectError(f"{path}: cannot be read as {fmt}: {e}") from e


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _text_encoding(path: Path) -> str:
    """utf-8 when the first megabyte decodes as UTF-8, else cp1252 (the usual spreadsheet export)."""
    with _open_bytes(path) as f:
        head = f.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:   # not just a character cut at the end of the megabyte
            return "cp1252"
    return "utf-8"


def _inspect_text(path: Path, fmt: str, max_rows: int) -> FileSample:
    encoding = _text_encoding(path)
    with _open_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        if fmt == "json":
            names, rows = _json_rows(text, max_rows)
            options: dict[str, str] = {}
            notes: list[str] = []
        else:
            names, rows, options, notes = _csv_rows(text)
        if not names:
            raise InspectError(f"{path}: holds no rows")
        limited = _Limited(rows, max_rows)
        columns = _profile(names, limited)
    if encoding != "utf-8":
        notes.append(f"not UTF-8: read as {encoding}; check the encoding")
    return FileSample(path, fmt, columns, limited.count, not limited.cut, options, encoding, tuple(notes))


class _Limited:
    """The first ``limit`` rows of ``rows``, counted; ``cut`` tells whether more were left."""

    def __init__(self, rows: Iterator[list[str]], limit: int):
        self.rows, self.limit, self.count, self.cut = rows, limit, 0, False

    def __iter__(self) -> Iterator[list[str]]:
        for row in self.rows:
            if self.count >= self.limit:
                self.cut = True
                return
            self.count += 1
            yield row


def _csv_rows(text):
    """The column names, the rows (a generator: the file is read as it is profiled), the reader
    options and notes."""
    first = text.readline().lstrip("\ufeff")   # a byte-order mark is not part of the header
    delimiter = max(DELIMITERS, key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])
    has_header = bool(header) and all(h.strip() and not _looks_like_a_value(h) for h in header) \
        and len(set(header)) == len(header)
    names = [h.strip() for h in header] if has_header else [f"col_{i + 1}" for i in range(len(header))]

    def rows() -> Iterator[list[str]]:
        if not has_header:
            yield header
        yield from (row for row in csv.reader(text, delimiter=delimiter) if row)   # blank lines: []

    options = {"header": "true" if has_header else "false"}
    if delimiter != ",":
        options["delimiter"] = delimiter
    notes = [] if has_header else ["the first line is not a header: columns named col_1, col_2, ...; "
                                   "rename them"]
    return names, rows(), options, notes


def _looks_like_a_value(text: str) -> bool:
    """A number, a date or a boolean: a field no header would have."""
    profile = ColumnProfile("")
    profile.add(text)
    return profile.guess().type != "STRING"


def _json_rows(text, max_rows: int):
    """JSON lines hold their keys per record: the first ``max_rows`` records are read before the
    columns are known."""
    names: dict[str, None] = {}
    records: list[dict] = []
    for line in text:
        if not line.strip():
            continue
        if len(records) > max_rows:   # one more than the limit: _Limited sees that more were left
            break
        record = json.loads(line, parse_float=str, parse_int=str)
        if not isinstance(record, dict):
            raise ValueError("a line is not a JSON object")
        names.update(dict.fromkeys(record))
        records.append(record)
    order = list(names)
    return order, iter([[_json_text(r.get(n)) for n in order] for r in records])


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


CHUNK_ROWS = 50_000


def _profile(names: list[str], rows) -> tuple[Column, ...]:
    """Type each column from its distinct values (counted a chunk of rows at a time, in C)."""
    profiles = [ColumnProfile(n) for n in names]
    seen: list[set[str]] = [set() for _ in names]
    empty = [0] * len(names)
    width = len(names)
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        columns = zip_longest(*chunk, fillvalue="")
        for i, values in zip(range(width), columns, strict=False):   # extra fields: ignored
            for value, count in Counter(values).items():
                if not value.strip():
                    empty[i] += count
                elif not profiles[i].is_text and value not in seen[i]:
                    seen[i].add(value)
                    profiles[i].add(value)
    return tuple(Column(n, p.guess(), e) for n, p, e in zip(names, profiles, empty, strict=True))


def _inspect_parquet(path: Path, max_rows: int) -> FileSample:
    """Parquet declares its types: bronze reads the file with the declared schema, so the
    declaration is the file's own types (an unsupported one is reported)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    notes = []
    columns = []
    batch = next(parquet.iter_batches(batch_size=min(max_rows, 100_000)), None)
    rows = batch.num_rows if batch is not None else 0
    for field_ in parquet.schema_arrow:
        spark_type, note = _arrow_type(field_.type)
        empty = batch.column(field_.name).null_count if batch is not None else 0
        columns.append(Column(field_.name, TypeGuess(spark_type, notes=(note,) if note else ()), empty))
        if note:
            notes.append(f"{field_.name}: {note}")
    return FileSample(path, "parquet", tuple(columns), rows, rows >= parquet.metadata.num_rows, {},
                      notes=tuple(notes))


def _arrow_type(arrow_type) -> tuple[str, str | None]:
    import pyarrow.types as pat

    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type):
        return "STRING", None
    if pat.is_boolean(arrow_type):
        return "BOOLEAN", None
    if pat.is_int8(arrow_type) or pat.is_int16(arrow_type) or pat.is_int32(arrow_type):
        return "INT", None
    if pat.is_int64(arrow_type):
        return "BIGINT", None
    if pat.is_floating(arrow_type):
        return "DOUBLE", None
    if pat.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})", None
    if pat.is_date(arrow_type):
        return "DATE", None
    if pat.is_timestamp(arrow_type):
        return "TIMESTAMP", None
    return "STRING", f"type {arrow_type} is not supported by sources: declared STRING, will not read"


def invalid_names(sample: FileSample) -> list[str]:
    """Column names a source schema cannot declare (bronze matches CSV columns by header name)."""
    return [c.name for c in sample.columns if not NAME.match(c.name)]
