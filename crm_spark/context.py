"""What a run passes down to every stage. Its own module so that stages need not import the
runner (``pipeline`` imports every stage)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunContext:
    """What a run passes down instead of reading clocks: its id, its as-of date, its start."""

    run_id: str
    started_at: dt.datetime
    as_of: dt.date | None = None
    # an as_of after the latest data is refused unless this is set (--force-as-of)
    force_as_of: bool = False
    # Lineage timestamps (``_ingested_at``) come from here; the CLI passes the wall clock.
    clock: Callable[[], dt.datetime] | None = None

    def now(self) -> dt.datetime:
        return self.clock() if self.clock else self.started_at
