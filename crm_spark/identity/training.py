"""Training the Splink model on the rules that find pairs in this data.

Every rule of ``identity.prior_rules`` and ``identity.training_blocking`` is counted first
(:func:`crm_spark.identity.pairs.pair_counts`, one Spark job), so a rule on a column the
sources lack is left out before Splink sees it. Splink's EM session changes the live settings
before it finds out that its rule gives no pairs (the comparisons on the rule's columns are
dropped and the prior is multiplied by their Bayes factors), so such a rule must never reach it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext

from crm_spark.config import IdentityConfig
from crm_spark.errors import CrmSparkError
from crm_spark.identity.pairs import Rule, rule_sql

log = logging.getLogger(__name__)

# A prior above one half would say a random pair more likely matches than not: no data that
# needs blocking looks like that, and Splink takes logarithms of p and 1 - p.
MAX_PRIOR = 0.5


def rules_with_pairs(rules, counts: Mapping[Rule, int], what: str) -> list[Rule]:
    """The rules of ``rules`` that give at least one pair; the others are logged."""
    kept = []
    for rule in rules:
        if counts[rule] > 0:
            kept.append(rule)
        else:
            log.warning("identity: %s rule %s gives no record pairs in this data; left out",
                        what, "+".join(rule))
    return kept


def prior(records, cfg: IdentityConfig, counts: Mapping[Rule, int], scoped: bool) -> float:
    """The probability that two random (allowed) records match: the pairs found by the prior
    rules that give pairs, divided by ``identity.prior_recall`` and by every allowed pair,
    kept within [1 / (2 * pairs), 0.5] so that neither 0 nor 1 reaches a logarithm.

    Args:
        records: the registered Splink input (used only when several rules give pairs, to
            count each pair once).
        counts: :func:`~crm_spark.identity.pairs.pair_counts` of the prior rules and ``()``.
    """
    total = counts[()]
    rules = rules_with_pairs(cfg.prior_rules, counts, "prior")
    if len(rules) > 1:
        from splink.blocking_analysis import count_comparisons_from_blocking_rules

        cumulative = count_comparisons_from_blocking_rules(
            records, blocking_rules=[rule_sql(rule, scoped) for rule in rules],
            link_type="dedupe_only", unique_id_column_name="record_id", record_sample_proportion=1.0)
        found = int(cumulative[-1]["cumulative_comparison_count"])
    else:
        found = sum(counts[rule] for rule in rules)
    floor = 1.0 / (2 * total)
    estimate = found / cfg.prior_recall / total
    value = min(max(estimate, floor), MAX_PRIOR)
    if not rules:
        log.warning("identity: no rule of identity.prior_rules finds pairs; prior set to %.3g "
                    "(half a matching pair in %d)", value, total)
    log.info("identity: prior %.3g from %d pairs found by %s of %d record pairs", value, found,
             ", ".join("+".join(rule) for rule in rules) or "no rule", total)
    return value


@contextmanager
def without_adaptive_execution(spark):
    """Spark's adaptive query execution off for a block, then back as it was.

    Splink estimates u comparison by comparison, in up to eleven chunk queries each, every one
    on a small sample: adaptive execution re-plans each query stage as a job of its own, and
    that planning, not the counting, was the time (D73). The counts are integers, the same
    under either plan.
    """
    key = "spark.sql.adaptive.enabled"
    previous = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, previous)


def train(spark, linker, cfg: IdentityConfig, counts: Mapping[Rule, int], scoped: bool) -> None:
    """u from random pairs, then m by EM on each training rule that gives pairs.

    Args:
        spark: the session of a linker on Splink's Spark backend; None for one on DuckDB.

    Raises:
        CrmSparkError: no rule of ``identity.training_blocking`` gives pairs.
    """
    from splink.internals.exceptions import EMTrainingException  # not re-exported by splink 5

    start = time.perf_counter()
    rules = rules_with_pairs(cfg.training_blocking, counts, "training")
    if not rules:
        raise CrmSparkError(
            "identity: no rule of identity.training_blocking ("
            + ", ".join("+".join(rule) for rule in cfg.training_blocking)
            + ") gives record pairs in this data; add a rule on columns it holds, or set "
              "identity.probabilistic=false")
    with without_adaptive_execution(spark) if spark is not None else nullcontext():
        linker.training.estimate_u_using_random_sampling(max_pairs=cfg.max_pairs_for_u, seed=cfg.seed)
    for rule in rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule_sql(rule, scoped), estimate_without_term_frequencies=True)
        except EMTrainingException as e:  # counted above: should not happen, but never go on
            raise CrmSparkError(f"identity: Splink found no pairs for training rule "
                                f"{'+'.join(rule)}; remove it from identity.training_blocking") from e
        log.info("identity: EM on %s (%d pairs) done", "+".join(rule), counts[rule])
    log.info("identity: trained the matching model in %.1f s", time.perf_counter() - start)


def with_learned_parameters(model: dict, trained: dict) -> dict:
    """``model`` with the prior and every level's m and u probabilities of ``trained``, a model
    of the same comparisons written for another SQL dialect (trained on the driver, D94).

    Raises:
        ValueError: the two models do not have the same comparisons and levels.
    """
    learned = copy.deepcopy(model)
    learned["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    for comparison, source in zip(learned["comparisons"], trained["comparisons"], strict=True):
        for level, source_level in zip(comparison["comparison_levels"], source["comparison_levels"],
                                       strict=True):
            if (comparison["output_column_name"], level["label_for_charts"]) != (
                    source["output_column_name"], source_level["label_for_charts"]):
                raise ValueError(f"identity: level {source['output_column_name']}: "
                                 f"{source_level['label_for_charts']} of the trained model does not "
                                 f"match {comparison['output_column_name']}: {level['label_for_charts']}")
            for key in ("m_probability", "u_probability"):
                if key in source_level:
                    level[key] = source_level[key]
    return learned
