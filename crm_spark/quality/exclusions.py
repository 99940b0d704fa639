"""Rows a stage leaves out by a rule (guest orders out of RFM, customers without a positive-
valued order out of CLV, ...): each rule that leaves rows out says how many and why, in one log
line and in the stage's ``ops.runs.rows_written`` under ``<output> excluded: <rule>``, beside
the counts the stage writes (docs/models.md and docs/gold.md state the rules; D62)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def excluded(output: str, rule: str, rows: int | None, why: str = "") -> dict[str, int]:
    """Log the ``rows`` that ``rule`` left out of ``output``, and return them as the entry for
    ``ops.runs.rows_written`` (empty when the rule left nothing out).

    Args:
        output: the table or model the rows are missing from, e.g. ``gold.rfm``, ``crm_clv``.
        rule: what was left out, a short phrase that reads after a number, e.g.
            ``customers without a purchase``; it names the ``ops.runs`` entry.
        rows: how many (``None`` counts as 0).
        why: the rule's reason, for the log line only.
    """
    if not rows:
        return {}
    log.info("%s excluded %d %s%s", output, rows, rule, f": {why}" if why else "")
    return {f"{output} excluded: {rule}": int(rows)}
