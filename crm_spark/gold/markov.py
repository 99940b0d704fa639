"""Markov-chain attribution: first-order transition counts of journeys (Spark) and each channel's
removal effect in the absorbing chain they define (numpy, on the driver).

A journey is ``start -> c1 -> ... -> cn -> conversion | null``. The chain has one transient state
per channel plus ``start``, so the matrices solved on the driver grow with the number of channels,
never with the data. Removing a channel sends every move into it to ``null``; its removal effect
is ``1 - P(conversion without it) / P(conversion)`` (Anderl et al. 2016, "Mapping the customer
journey: lessons learned from graph-based online attribution modeling").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

# Parenthesised so that no channel name can collide with them.
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def transition_counts(paths_df: DataFrame) -> DataFrame:
    """How often each state follows each other over all journeys.

    Args:
        paths_df: one row per touch of a journey. Requires ``path_id``, ``step`` (1, 2, ... in
            time order within the path), ``channel`` and ``is_converted`` (the path's outcome).

    Returns:
        ``from_state, to_state, transitions`` (LONG), one row per observed pair; states are the
        channels and START, CONVERSION, NULL. Small: at most (channels + 1) x (channels + 2) rows.
    """
    by_path = Window.partitionBy("path_id").orderBy("step")
    steps_df = paths_df.select(
        "channel",
        F.coalesce(F.lag("channel").over(by_path), F.lit(START)).alias("from_state"),
        F.lead("channel").over(by_path).isNull().alias("is_last"),
        F.when(F.col("is_converted"), F.lit(CONVERSION)).otherwise(F.lit(NULL)).alias("outcome"),
    )
    moves = F.array(
        F.struct(F.col("from_state"), F.col("channel").alias("to_state")),
        F.when(F.col("is_last"), F.struct(F.col("channel").alias("from_state"),
                                          F.col("outcome").alias("to_state"))),
    )
    return (
        steps_df.select(F.explode(F.filter(moves, lambda m: m.isNotNull())).alias("m"))
        .groupBy(F.col("m.from_state").alias("from_state"), F.col("m.to_state").alias("to_state"))
        .agg(F.count(F.lit(1)).alias("transitions"))
        .select("from_state", "to_state", "transitions")
    )


def removal_effects(counts: Iterable[tuple[str, str, int]]) -> dict[str, float]:
    """Removal effect of every channel from ``(from_state, to_state, transitions)`` counts.

    Args:
        counts: the rows of ``transition_counts``.

    Returns:
        ``{channel: removal_effect}`` in [0, 1]; every channel on some converting path gets a
        positive effect. Empty when there are no counts; all zero when nothing converts.
    """
    counts = list(counts)
    if not counts:
        return {}
    channels = sorted({s for f, t, _ in counts for s in (f, t)} - {START, CONVERSION, NULL})
    index = {s: i for i, s in enumerate([START, *channels])}
    moves = np.zeros((len(index), len(index)))
    converts = np.zeros(len(index))
    leaves = np.zeros(len(index))
    for from_state, to_state, n in counts:
        i = index[from_state]
        leaves[i] += n
        if to_state == CONVERSION:
            converts[i] += n
        elif to_state != NULL:
            moves[i, index[to_state]] += n
    leaves[leaves == 0] = 1.0  # a state nobody leaves is never entered either
    moves /= leaves[:, None]
    converts /= leaves
    base = _conversion_probability(moves, converts)
    if base <= 0.0:
        return dict.fromkeys(channels, 0.0)
    effects = {}
    for channel in channels:
        without = moves.copy()
        without[:, index[channel]] = 0.0
        effects[channel] = max(0.0, 1.0 - _conversion_probability(without, converts) / base)
    return effects


def _conversion_probability(moves: np.ndarray, converts: np.ndarray) -> float:
    """P(absorbed in CONVERSION | START) of the chain: solve ``(I - Q) x = r``, read x[START].

    Every path ends in CONVERSION or NULL, so from every state absorption is reachable and
    ``I - Q`` is invertible (also after zeroing a column, which only adds mass to NULL).
    """
    return float(np.linalg.solve(np.eye(len(converts)) - moves, converts)[0])
