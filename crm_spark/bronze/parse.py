"""Raw lines -> typed rows of the declared schema, or quarantined lines with their reason.

Every transform here is pure: a batch of lines (``line``, ``_source_file``) goes in, and
:func:`check_rows` types them and gives each its reason for rejection; :func:`valid_rows` and
:func:`rejected_rows` split on that reason.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crm_spark import fs
from crm_spark.sources.registry import Source

QUOTED_FIELD = r'"([^"]|"")*"'


def csv_header_filter(source: Source, first_names: set[str] | frozenset[str] = frozenset()) -> Column:
    """True for a header line: its first field is the first declared column's name, or the
    first name of a header found in the batch's files (``first_names``: a file may order its
    columns differently).

    The text source carries no line numbers, so a header is recognised by content; a data row
    never holds a column name in its key field.
    """
    delimiter = source.spec.options.get("delimiter", ",")
    names = sorted({source.columns[0].name, *first_names})
    first = F.translate(F.substring_index(F.col("line"), delimiter, 1), '"', "")
    # contains() first: a byte search that rules out nearly every data line cheaply
    contains = F.col("line").contains(names[0])
    for name in names[1:]:
        contains = contains | F.col("line").contains(name)
    return contains & F.trim(first).isin(names)


def is_csv_header(line: str, source: Source) -> bool:
    """True for a header line read on the driver: its first field is the first declared
    column's name, or most of its fields are declared names (the columns in another order)."""
    delimiter = source.spec.options.get("delimiter", ",")
    fields = [f.replace('"', "").strip(" \r\ufeff") for f in line.split(delimiter)]
    declared = set(source.column_names)
    return fields[0] == source.columns[0].name or 2 * sum(f in declared for f in fields) > len(fields)


def parse_csv(lines_df: DataFrame, source: Source, layouts: dict[tuple[str, ...], list[str]],
              names: list[str]) -> DataFrame:
    """Parse CSV lines into STRING columns ``names``, each file by its own header.

    Args:
        layouts: header -> the files (``_source_file`` values) that have it; a name missing
            from a file's header is null in its rows.

    Requires: line, _source_file. Adds: ``names``; ``_malformed`` (the line does not have its
    header's number of fields, or its quotes do not close); for malformed lines only,
    ``_field_count`` and ``_expected`` (the number of fields of the row's header).
    """
    delimiter = source.spec.options.get("delimiter", ",")
    quote = source.spec.options.get("quote", '"')
    # A line with the wrong number of fields fills the corrupt-record column; counting the
    # fields of every line instead took a third of the parse.
    options = {"sep": delimiter, "quote": quote, "escape": quote, "nullValue": "\u0000",
               "mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}

    def fields(header: tuple[str, ...]) -> Column:
        schema = ", ".join([f"`_h{i}` STRING" for i in range(len(header))] + ["`_corrupt` STRING"])
        parsed = F.from_csv(F.col("line"), schema, options)
        return F.struct(
            *[(parsed.getField(f"_h{header.index(n)}") if n in header
               else F.lit(None).cast("string")).alias(n) for n in names],
            parsed.getField("_corrupt").isNotNull().alias("_malformed"),
            F.lit(len(header)).alias("_expected"))

    headers = list(layouts)
    if len(headers) == 1:
        row = fields(headers[0])
    else:
        def of(header: tuple[str, ...]) -> Column:
            spellings = [s for uri in layouts[header] for s in fs.uri_spellings(uri)]
            return F.col("_source_file").isin(spellings)
        row = F.when(of(headers[0]), fields(headers[0]))
        for header in headers[1:]:
            row = row.when(of(header), fields(header))
    unquoted = F.regexp_replace(F.col("line"), QUOTED_FIELD, "")
    malformed = F.col("_csv._malformed")
    return lines_df.select("*", row.alias("_csv")).select(
        *lines_df.columns, *[F.col("_csv").getField(n).alias(n) for n in names],
        malformed.alias("_malformed"),
        F.when(malformed, F.size(F.split(unquoted, _regex_escape(delimiter), -1))).alias("_field_count"),
        F.when(malformed, F.col("_csv._expected")).alias("_expected"))


def parse_json(lines_df: DataFrame, names: list[str]) -> DataFrame:
    """Parse JSON lines into STRING columns ``names`` (numbers keep their text).

    Adds: one STRING column per name and ``_is_malformed``.
    """
    schema = ", ".join([f"`{n}` STRING" for n in names] + ["`_corrupt` STRING"])
    parsed = F.from_json(F.col("line"), schema, {"columnNameOfCorruptRecord": "_corrupt",
                                                 "mode": "PERMISSIVE"})
    is_object = F.trim(F.col("line")).startswith("{")
    malformed = ~is_object | parsed.getField("_corrupt").isNotNull() | parsed.isNull()
    return lines_df.select(
        "*", malformed.alias("_is_malformed"),
        *[F.when(~malformed, parsed.getField(n)).alias(n) for n in names],
    )


def typed_value(raw: Column, type_: str, fmt: str | None) -> Column:
    """``raw`` as ``type_``; null when it does not convert (never an error, never a guess)."""
    text = F.when(F.trim(raw) != "", F.trim(raw))
    if type_ == "TIMESTAMP":
        return F.try_to_timestamp(text, F.lit(fmt)) if fmt else text.try_cast("timestamp")
    if type_ == "DATE":
        return (F.try_to_timestamp(text, F.lit(fmt)).cast("date") if fmt
                else text.try_cast("date"))
    if type_ == "BOOLEAN":
        return F.lower(text).try_cast("boolean")
    if type_ == "STRING":
        return raw
    return text.try_cast(type_.lower())


def check_rows(parsed_df: DataFrame, source: Source, structure_error: Column,
               extra: list[str] | tuple[str, ...] = ()) -> DataFrame:
    """Type every declared column and give each line its reason for rejection ("" = valid).

    A value that does not convert costs the whole line only in a required column; elsewhere
    the row is kept with that value null, and the value is listed in ``value_problems`` for
    the quarantine (issue 19: one bad birth date must not lose the contact).

    Args:
        parsed_df: lines with one STRING column per declared name plus ``line`` and lineage.
        structure_error: a reason when the line itself is broken (malformed JSON, wrong field
            count), else null.
        extra: undeclared STRING columns to keep (schema evolution).

    Returns:
        The declared columns typed, ``extra``, ``_source``, ``_source_file``, ``raw``,
        ``reason``, ``record_key`` (the text of the source's first required column, else its
        first column) and ``value_problems`` (``column``, ``reason`` of each value nulled in a
        kept row); :func:`valid_rows` and :func:`rejected_rows` split it.
    """
    typed, problems, fatal, value_problems = [], [structure_error], [structure_error], []
    required = set(source.spec.required)
    for column in source.columns:
        raw = F.col(column.name)
        fmt = source.spec.formats.get(column.name)
        value = typed_value(raw, column.type, fmt)
        typed.append(value.alias(column.name))
        has_text = raw.isNotNull() & (F.trim(raw) != "")
        expected = f"{column.type} ({fmt})" if fmt else column.type
        # the column and the rule, never the value: the raw line is kept beside the reason, and
        # a reason is read and shared more widely than the personal data it would copy (D47)
        problem = F.when(has_text & value.isNull(), F.lit(f"{column.name}: does not convert to {expected}"))
        problems.append(problem)
        if column.name in required:
            fatal.append(problem)
            missing = F.when(~has_text, F.lit(f"{column.name}: required value missing"))
            problems.append(missing)
            fatal.append(missing)
        else:
            value_problems.append(F.struct(F.lit(column.name).alias("column"), problem.alias("reason")))
    is_rejected = F.concat_ws("; ", *fatal) != ""
    reason = F.when(is_rejected, F.concat_ws("; ", *problems)).otherwise(F.lit(""))
    none = F.lit(None).cast("string")
    candidates = F.array(*(value_problems or [F.struct(none.alias("column"), none.alias("reason"))]))
    # A rejected row's value problems are in its reason already. The lambdas name no column:
    # inside one, Spark resolves a column name to the typed column of this select (a lateral
    # alias), not to the raw text.
    nulled = F.when(is_rejected, F.filter(candidates, lambda p: F.lit(False))).otherwise(
        F.filter(candidates, lambda p: p["reason"].isNotNull()))
    key = sorted(required, key=[c.name for c in source.columns].index)[0] if required \
        else source.columns[0].name
    # The raw line is only kept for rows with a problem: most rows pass, and the checked rows
    # are persisted while bronze and quarantine are written.
    has_problem = is_rejected | (F.size(nulled) > 0)
    return parsed_df.select(
        *typed, *extra, "_source", "_source_file",
        F.when(has_problem, F.col("line")).alias("raw"), reason.alias("reason"),
        F.col(key).cast("string").alias("record_key"), nulled.alias("value_problems"))


CHECK_COLUMNS = ("raw", "reason", "record_key", "value_problems")


def valid_rows(checked_df: DataFrame) -> DataFrame:
    """The rows without a reason (values in ``value_problems`` already null), without the
    check columns."""
    return checked_df.where(F.col("reason") == "").drop(*CHECK_COLUMNS)


def rejected_rows(checked_df: DataFrame) -> DataFrame:
    """The quarantine's rows: each rejected row (``column_name`` null), and each value nulled in a
    kept row (``column_name`` names it). Every other column is kept; ``value_problems`` is dropped."""
    rows_df = checked_df.where(F.col("reason") != "").withColumn("column_name", F.lit(None).cast("string"))
    values_df = (checked_df.where((F.col("reason") == "") & (F.size("value_problems") > 0))
                 .withColumn("_problem", F.explode("value_problems"))
                 .withColumns({"reason": F.col("_problem.reason"), "column_name": F.col("_problem.column")})
                 .drop("_problem"))
    return rows_df.unionByName(values_df).drop("value_problems")


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in r".^$*+?{}[]\|()" else c for c in text)
