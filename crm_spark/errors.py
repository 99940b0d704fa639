"""The project's error tree: every user-facing failure is a CrmSparkError with a one-line message."""


class CrmSparkError(Exception):
    """Base of every error the CLI reports as one line without a traceback."""


class ConfigError(CrmSparkError):
    """A configuration file or override is invalid: unknown key, wrong type, missing value."""


class SparkSetupError(CrmSparkError):
    """The Spark session could not be started (Java, Delta JARs, master URL)."""


class SchemaContractError(CrmSparkError):
    """A DataFrame does not carry the columns or types a stage's contract requires."""

    def __init__(self, where: str, missing: list[str] = (), mistyped: list[str] = ()):
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
