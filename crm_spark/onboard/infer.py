"""The Spark type (and date or timestamp pattern) of a column, inferred from its text values.

A :class:`ColumnProfile` is fed each distinct non-empty value once; it counts, per type, the
values it cannot read (integer, decimal with its scale, boolean, a date layout) and gives the
narrowest declared type that reads them all — or all but 1 % of a sample of 100 values or more,
as real exports carry a stray 'n/a' — with notes where the guess is unsure. Patterns are
Spark datetime patterns, the ones bronze parses with (``formats`` in a source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INT_MAX = 2**31 - 1
INTEGER = re.compile(r"^[+-]?\d+$")
DECIMAL = re.compile(r"^[+-]?(\d*)\.(\d+)$")
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
BOOLEANS = {"true", "false"}
TYPES = ("integer", "decimal", "double", "boolean", "date")
MISFIT_SHARE = 0.01      # of the distinct values: below 100 values, every value must fit
TEXT_AFTER = 1_000
TIME = r"(?:(?P<tsep>[ T])(?P<H>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?" \
       r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?"
DAY_FIRST_OR_MONTH_FIRST = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})" + TIME + "$")
YEAR_FIRST = re.compile(r"^(?P<y>\d{4})(?P<sep>[/.-])(?P<a>\d{1,2})(?P=sep)(?P<b>\d{1,2})" + TIME + "$")
# a column named like an identifier keeps its text even when every value is a number: leading
# zeros, long numbers and sums of ids mean nothing
ID_WORDS = {"id", "no", "nr", "num", "number", "code", "ref", "key", "sku", "zip", "postcode",
            "phone", "tel", "mobile", "ean", "upc", "isbn"}


def words(name: str) -> list[str]:
    """``CustomerID`` -> ``["customer", "id"]``, ``order-date`` -> ``["order", "date"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name))
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def is_id_like(name: str) -> bool:
    parts = words(name)
    return bool(parts) and parts[-1] in ID_WORDS


@dataclass
class _DateShape:
    """What the date values seen so far have in common."""

    year_first: bool
    sep: str
    a_max: int = 0
    b_max: int = 0
    a_short: bool = False          # some first part has one digit
    b_short: bool = False
    times: set = field(default_factory=set)   # '' (no time), ' ' or 'T'
    h_short: bool = False
    seconds: set = field(default_factory=set)  # True / False
    fraction: int = 0              # the most fraction digits
    no_fraction: bool = False
    zones: set = field(default_factory=set)    # '', 'Z', 'hh', 'hhmm', 'hh:mm'


@dataclass(frozen=True)
class TypeGuess:
    type: str                      # a Spark SQL type a source schema may declare
    format: str | None = None      # Spark datetime pattern for DATE and TIMESTAMP
    notes: tuple[str, ...] = ()    # why the guess may be wrong


KIND_OF = {"INT": "integer", "BIGINT": "integer", "DECIMAL": "decimal", "DOUBLE": "double",
           "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "date"}


class ColumnProfile:
    """Feed every distinct non-empty value with :meth:`add`; :meth:`guess` gives the type."""

    def __init__(self, name: str):
        self.name = name
        self.values = 0
        self.misfits = dict.fromkeys(TYPES, 0)      # values seen that a type cannot read
        self.misfit_example: dict[str, str] = {}
        self.leading_zero = False
        self.int_digits = self.scale = 0
        self.int_max = 0
        self.date: _DateShape | None = None

    def fits(self, kind: str) -> bool:
        """A type still reads the values: all of them, or all but ``MISFIT_SHARE`` of a large
        sample (an export's stray 'n/a' should not make a date column text; ingest quarantines
        those values with their reason)."""
        return self.misfits[kind] <= int(self.values * MISFIT_SHARE)

    @property
    def is_text(self) -> bool:
        """True once most of a large sample fits no type but STRING: later values need no look."""
        return self.values >= TEXT_AFTER and all(m > self.values // 2 for m in self.misfits.values())

    def add(self, value: str) -> None:
        text = value.strip()
        self.values += 1
        misfit = self._add_number(text)
        if text.lower() not in BOOLEANS:
            misfit.append("boolean")
        if not self._add_date(text):
            misfit.append("date")
        for kind in misfit:
            self.misfits[kind] += 1
            self.misfit_example.setdefault(kind, text)

    def _add_number(self, text: str) -> list[str]:
        """The number types that cannot read ``text``; the shape of the ones that can."""
        digits = text.lstrip("+-")
        if INTEGER.match(text):   # an integer also fits a decimal and a double
            self.leading_zero = self.leading_zero or (len(digits) > 1 and digits.startswith("0"))
            self.int_digits = max(self.int_digits, len(digits.lstrip("0")) or 1)
            self.int_max = max(self.int_max, int(digits))
            return []
        match = DECIMAL.match(text)
        if match:
            self.int_digits = max(self.int_digits, len(match.group(1).lstrip("0")) or 1)
            self.scale = max(self.scale, len(match.group(2)))
            return ["integer"]
        return ["integer", "decimal"] + ([] if SCIENTIFIC.match(text) else ["double"])

    def _add_date(self, text: str) -> bool:
        match = YEAR_FIRST.match(text)
        year_first = match is not None
        match = match or DAY_FIRST_OR_MONTH_FIRST.match(text)
        if match is None:
            return False
        a, b = int(match["a"]), int(match["b"])
        if year_first and not (1 <= a <= 12 and 1 <= b <= 31):
            return False
        if not year_first and not (1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12):
            return False
        if match["H"] is not None and (int(match["H"]) > 23 or int(match["m"]) > 59):
            return False
        shape = self.date or _DateShape(year_first, match["sep"])
        if (shape.year_first, shape.sep) != (year_first, match["sep"]):
            return False
        shape.a_max, shape.b_max = max(shape.a_max, a), max(shape.b_max, b)
        shape.a_short |= len(match["a"]) == 1
        shape.b_short |= len(match["b"]) == 1
        shape.times.add(match["tsep"] or "")
        if match["H"] is not None:
            shape.h_short |= len(match["H"]) == 1
            shape.seconds.add(match["s"] is not None)
            shape.fraction = max(shape.fraction, len(match["f"] or ""))
            shape.no_fraction |= match["f"] is None
        zone = match["z"] or ""
        shape.zones.add(zone if zone in ("", "Z") else
                        "hh:mm" if ":" in zone else "hhmm" if len(zone) == 5 else "hh")
        self.date = shape
        return True

    def guess(self) -> TypeGuess:
        guess = self._guess()
        kind = KIND_OF.get(guess.type.split("(")[0])
        if kind and self.misfits[kind]:
            note = (f"{self.misfits[kind]:,} of {self.values:,} distinct values do not read as "
                    f"{guess.type} (e.g. {self.misfit_example[kind]!r}): ingest quarantines them "
                    "with their reason")
            return TypeGuess(guess.type, guess.format, (*guess.notes, note))
        return guess

    def _guess(self) -> TypeGuess:
        if self.values == 0:
            return TypeGuess("STRING", notes=("no value in the sample: STRING",))
        numeric = self.fits("integer") or self.fits("decimal") or self.fits("double")
        if numeric and is_id_like(self.name):
            return TypeGuess("STRING", notes=("numbers, but named like an identifier: kept as text",))
        if self.fits("integer") and self.leading_zero:
            return TypeGuess("STRING", notes=("numbers with leading zeros: kept as text",))
        if self.fits("integer"):
            return TypeGuess("INT" if self.int_max <= INT_MAX // 10 else "BIGINT")
        if self.fits("decimal"):
            precision = min(38, max(12, self.int_digits + self.scale + 2))
            return TypeGuess(f"DECIMAL({precision},{self.scale})")
        if self.fits("double"):
            return TypeGuess("DOUBLE")
        if self.fits("boolean"):
            return TypeGuess("BOOLEAN")
        if self.fits("date") and self.date is not None:
            return self._date_guess(self.date)
        return TypeGuess("STRING")

    def _date_guess(self, shape: _DateShape) -> TypeGuess:
        notes = []
        day, month = ("d" if shape.b_short else "dd", "M" if shape.a_short else "MM") if shape.year_first \
            else (None, None)
        if shape.year_first:
            pattern = f"yyyy{shape.sep}{month}{shape.sep}{day}"
        else:
            day_first = shape.a_max > 12 or shape.b_max <= 12
            if shape.a_max <= 12 and shape.b_max <= 12:
                notes.append("no day above 12 in the sample: day first is a guess (check dd/MM vs MM/dd)")
            first = ("d" if shape.a_short else "dd") if day_first else ("M" if shape.a_short else "MM")
            second = ("M" if shape.b_short else "MM") if day_first else ("d" if shape.b_short else "dd")
            pattern = f"{first}{shape.sep}{second}{shape.sep}yyyy"
        with_time = shape.times - {""}
        if not with_time:
            return TypeGuess("DATE", pattern, tuple(notes))
        if "" in shape.times or len(with_time) > 1:
            return TypeGuess("STRING", notes=("dates with and without a time of day: kept as text",))
        pattern += ("'T'" if with_time == {"T"} else " ") + ("H" if shape.h_short else "HH") + ":mm"
        if shape.seconds == {True}:
            pattern += ":ss"
        elif True in shape.seconds:
            pattern += "[:ss]"
        if shape.fraction:
            pattern += f"[.{'S' * shape.fraction}]" if shape.no_fraction else f".{'S' * shape.fraction}"
        zones = shape.zones - {""}
        if zones:
            letters = "XXX" if "hh:mm" in zones else "XX" if "hhmm" in zones else "X"
            pattern += letters if "" not in shape.zones else f"[{letters}]"
        else:
            notes.append("no time zone in the values: read as UTC (spark.sql.session.timeZone)")
        return TypeGuess("TIMESTAMP", pattern, tuple(notes))
