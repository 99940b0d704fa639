"""The project's error tree: every user-facing failure is a CrmSparkError with a one-line message."""


class CrmSparkError(Exception):
    """Base of every error the CLI reports as one line without a traceback."""


class ConfigError(CrmSparkError):
    """A configuration file or override is invalid: unknown key, wrong type, missing value."""


class SparkSetupError(CrmSparkError):
    """The Spark session could not be started (Java, Delta JARs, master URL)."""


class SchemaContractError(CrmSparkError):
    """A DataFrame does not carry the columns or types a stage's contract requires."""

    def __init__(self, where: str, missing: list[str] | tuple[str, ...] = (),
                 mistyped: list[str] | tuple[str, ...] = ()):
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if mistyped:
            parts.append("mistyped " + ", ".join(mistyped))
        super().__init__(f"{where}: schema contract broken: {'; '.join(parts)}")
        self.missing = list(missing)
        self.mistyped = list(mistyped)


class DataQualityError(CrmSparkError):
    """Input data cannot be processed at all (an unreadable file, a broken source), a write
    breaks a Delta constraint, or a declared ``fail`` expectation does not hold."""


class TableNotFoundError(CrmSparkError):
    """A stage asked for a Delta table that has not been written yet."""


class ConcurrentRunError(CrmSparkError):
    """Another run committed to the same Delta table or streaming checkpoint at the same time;
    this one stopped without committing its write (Delta's optimistic concurrency)."""


class TypeConflictError(CrmSparkError):
    """A declared column type conflicts with the type a Delta table already stores."""


class ResourceError(CrmSparkError):
    """The machine refused: memory ran out, the disk is full, a folder may not be written."""


# Failures a user can cause, recognised by the Java exception or Delta error class named in the
# error's text (a py4j or PySpark exception carries the JVM's whole trace as text).
_CONCURRENT_MARKS = (
    "ConcurrentTransactionException", "ConcurrentAppendException", "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException", "MetadataChangedException", "ProtocolChangedException",
    "ConcurrentWriteException", "DELTA_CONCURRENT_", "Concurrent update to the log",
    "Multiple streaming queries are concurrently using",
)
_SCHEMA_MARKS = ("DELTA_FAILED_TO_MERGE_FIELDS", "DELTA_FAILED_TO_MERGE_INCOMPATIBLE_TYPES",
                 "DELTA_MERGE_INCOMPATIBLE_DATATYPE", "DELTA_SCHEMA_MISMATCH",
                 "A schema mismatch detected when writing to the Delta table")

# (mark, what to say): out of memory, full disk, no permission, in the JVM or in Python
_RESOURCE_MARKS = (
    ("OutOfMemoryError", "Spark ran out of memory ({mark}): raise spark.driver_memory (local "
     "mode) or the executors' memory, or give the stage more partitions"),
    ("MemoryError", "Python ran out of memory ({mark}): raise the machine's memory or work on "
     "fewer rows at once"),
    ("No space left on device", "the disk is full ({mark}): free space under lake.root, the "
     "checkpoints and spark.local.dir (Spark's shuffle files), then run again"),
    ("Disk quota exceeded", "the disk quota is used up ({mark}): free space, then run again"),
    ("AccessDeniedException", "permission denied ({mark}): the user running crm-spark must be "
     "able to read the landing folder and write lake.root and mlruns/"),
    ("Permission denied", "permission denied ({mark}): the user running crm-spark must be able "
     "to read the landing folder and write lake.root and mlruns/"),
)


def is_concurrent_write(error: BaseException) -> bool:
    """Whether ``error`` (or a cause in its text) is Delta's or Structured Streaming's report that
    another writer committed first."""
    text = _text(error)
    return any(mark in text for mark in _CONCURRENT_MARKS)


def is_schema_conflict(error: BaseException) -> bool:
    """Whether ``error`` is Delta refusing a write whose column types differ from the table's."""
    text = _text(error)
    return any(mark in text for mark in _SCHEMA_MARKS)


def known_failure(error: BaseException) -> CrmSparkError | None:
    """The one-line error for a Spark or Delta failure a user can cause; None for others (a bug:
    the caller lets the traceback through).

    The stages turn these into messages that name the source or table where they can
    (``crm_spark.bronze.batch``); this is the command line's net for the rest.
    """
    if isinstance(error, CrmSparkError):
        return error
    if is_concurrent_write(error):
        return ConcurrentRunError(
            f"another run wrote the same Delta table or checkpoint at the same time "
            f"({_mark(error, _CONCURRENT_MARKS)}); this run's last write was not committed and "
            "nothing is duplicated: run it again once the other has finished")
    if is_schema_conflict(error):
        return TypeConflictError(
            f"a column's declared type conflicts with the type its Delta table stores "
            f"({_mark(error, _SCHEMA_MARKS)}); keep the stored type or write a new table "
            "(docs/sources.md, 'Changing a column's type'); -v shows the details")
    text = _text(error)
    for mark, message in _RESOURCE_MARKS:
        if mark in text:
            return ResourceError(message.format(mark=_resource_detail(text, mark)) + "; -v shows the details")
    return None


def _resource_detail(text: str, mark: str) -> str:
    """The line of ``text`` that names ``mark``, trimmed to the part from the mark's exception
    on (a path or "Java heap space" tells the user where), at most 160 characters."""
    line = next(line for line in text.splitlines() if mark in line).strip()
    return line[max(line.rfind(" ", 0, line.index(mark)) + 1, 0):][:160]


def _text(error: BaseException | None) -> str:
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def _mark(error: BaseException, marks: tuple[str, ...]) -> str:
    text = _text(error)
    return next(mark for mark in marks if mark in text)
