"""What every report section shares: the section it renders, the snapshot reader that turns a
missing or empty table into an empty-state note, and the formatting of numbers in readings."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import plotly.graph_objects as go
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.errors import CrmSparkError
from crm_spark.tables import Lake

MINUS = "\u2212"
# The commands that write each table; every other gold table comes from `crm-spark gold`.
FILLED_BY = {
    "bronze._quarantine": ("crm-spark ingest",),
    "bronze._ingest_log": ("crm-spark ingest",),
    "silver.identity_map": ("crm-spark resolve",),
    "silver.orders": ("crm-spark silver",),
    "gold.churn_scores": ("crm-spark train churn", "crm-spark score"),
    "gold.clv_scores": ("crm-spark train clv", "crm-spark score"),
}


class EmptySection(CrmSparkError):
    """A section has nothing to show; the message is the note the reader sees instead."""


@dataclass(frozen=True)
class Table:
    """A small table shown under a section's charts (every cell is text, escaped on output);
    ``text_columns`` (0-based) hold prose, aligned left in the reader's font."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    text_columns: tuple[int, ...] = ()


@dataclass(frozen=True)
class Section:
    """One rendered section: charts with a reading, or an empty-state note.

    ``figures`` are plotly figures; ``empty_note`` is set exactly when there is nothing to chart;
    ``paragraphs`` follow the reading, one finding each.
    """

    id: str
    title: str
    reading: str = ""
    figures: tuple = ()
    table: Table | None = None
    empty_note: str = ""
    paragraphs: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.figures


def filled_by(table: str, as_of: dt.date | None = None) -> str:
    """The commands that fill ``table``, quoted, e.g. "`crm-spark gold --as-of 2024-12-30`"."""
    suffix = f" --as-of {as_of.isoformat()}" if as_of else ""
    return ", then ".join(f"`{command}{suffix}`" for command in FILLED_BY.get(table, ("crm-spark gold",)))


@dataclass(frozen=True)
class ReportData:
    """Reads the tables a report shows, all at one ``as_of``.

    ``as_of`` None (no gold.kpi_monthly to choose one from) means each table's latest snapshot.
    """

    lake: Lake
    as_of: dt.date | None
    currency: str

    @property
    def unit(self) -> str:
        """The currency as chart text (escaped for plotly)."""
        return plot_text(self.currency)

    def current(self, table: str) -> DataFrame:
        """The whole table (for tables without snapshots, e.g. silver and bronze).

        Raises:
            EmptySection: the table does not exist or has no rows.
        """
        if not self.lake.exists(table):
            raise EmptySection(f"{table} does not exist yet: run {filled_by(table)} to write it.")
        table_df = self.lake.read(table)
        if table_df.isEmpty():
            raise EmptySection(f"{table} is empty: run {filled_by(table)} to fill it.")
        return table_df

    def snapshot(self, table: str, no_rows_means: str | None = None) -> DataFrame:
        """The table's rows at the report's ``as_of`` (or at its own latest ``as_of``).

        Args:
            no_rows_means: the note for a table that exists without a single row, when that is
                a result rather than a stage not run yet (no association rule cleared the
                thresholds).

        Raises:
            EmptySection: the table does not exist, is empty, or has no rows at that ``as_of``.
        """
        if not self.lake.exists(table):
            raise EmptySection(f"{table} does not exist yet: run {filled_by(table)} to write it.")
        table_df = self.lake.read(table)
        as_of = self.as_of or table_df.agg(F.max("as_of")).collect()[0][0]
        snapshot_df = table_df.filter(F.col("as_of") == F.lit(as_of))
        # One query in the usual case; the second only tells an empty table from a missing date.
        if as_of is None or snapshot_df.isEmpty():
            if as_of is None or table_df.isEmpty():
                raise EmptySection(no_rows_means or f"{table} is empty: run {filled_by(table)} to fill it.")
            raise EmptySection(f"{table} has no rows for as_of {as_of}: run "
                               f"{filled_by(table, as_of)} to fill it.")
        return snapshot_df


def fmt_int(value) -> str:
    return f"{int(value):,}".replace("-", MINUS)


def fmt_money(value, currency: str) -> str:
    """Whole units from 100 up, cents below (an average order value needs them)."""
    value = float(value)
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text.replace('-', MINUS)} {currency}"


def fmt_pct(share: float, digits: int = 0) -> str:
    return f"{share * 100:.{digits}f}%".replace("-", MINUS)


def fmt_change(current, previous) -> str:
    """Relative change as '+5%' or '−28%'; 'n/a' without a non-zero previous value."""
    if current is None or previous is None or float(previous) == 0:
        return "n/a"
    change = (float(current) - float(previous)) / abs(float(previous))
    return ("+" if change >= 0 else "") + fmt_pct(change)


def month_label(month: dt.date) -> str:
    return month.strftime("%b %Y")


def month_end(month: dt.date) -> dt.date:
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def plot_text(text) -> str:
    """Data text shown inside a chart: plotly reads '<' and '&' as markup, so escape them."""
    return html.escape(str(text), quote=False)


def styled(fig: go.Figure, height: int = 420, margin: dict | None = None, **layout) -> go.Figure:
    """The report's look for every chart: white template, fixed height, room for axis titles."""
    margins = {"l": 70, "r": 30, "t": 40, "b": 60, **(margin or {})}
    fig.update_layout(template="plotly_white", height=height, margin=margins, font={"size": 12}, **layout)
    return fig
