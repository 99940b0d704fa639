"""Where things live (issue 23, points 1 and 2): as-of resolution has one home that every stage
calls, each stage's build sits in its own package, and the scorers sit in ``scoring`` and are
imported by name."""

from __future__ import annotations

import ast

from crm_spark import pipeline, scoring
from tests.conftest import PROJECT

AS_OF_FUNCTIONS = ("resolve_as_of", "check_as_of", "as_of_limit", "latest_data_date", "latest_snapshot",
                   "drop_snapshot")


def functions_by_module() -> dict[str, list[ast.FunctionDef]]:
    found = {}
    for path in (PROJECT / "crm_spark").rglob("*.py"):
        name = ".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]
    return found


def only_returns_a_call_to(function: ast.FunctionDef, callee: str) -> bool:
    body = [s for s in function.body if not isinstance(s, ast.Import | ast.ImportFrom | ast.Expr)]
    return (len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call)
            and isinstance(body[0].value.func, ast.Name) and body[0].value.func.id == callee)


def test_as_of_resolution_is_defined_once_and_not_wrapped_again():
    functions = functions_by_module()
    homes = {name: sorted(m for m, fns in functions.items() if any(f.name == name for f in fns))
             for name in AS_OF_FUNCTIONS}
    wrappers = [f"{m}.{f.name}" for m, fns in functions.items() for f in fns
                if f.name != "resolve_as_of" and only_returns_a_call_to(f, "resolve_as_of")]

    assert homes == {name: ["crm_spark.as_of"] for name in AS_OF_FUNCTIONS}
    assert wrappers == []


def test_each_stage_builds_from_its_own_package():
    homes = {stage.name: stage.build.__module__ for stage in pipeline.stages()}

    assert homes == {"ingest": "crm_spark.bronze", "silver": "crm_spark.silver",
                     "resolve": "crm_spark.identity", "gold": "crm_spark.gold",
                     "features": "crm_spark.features", "train": "crm_spark.models.train",
                     "score": "crm_spark.scoring"}


def test_the_scorers_live_in_scoring():
    assert {model: (table, score.__module__, score.__name__)
            for model, (table, score) in scoring.SCORERS.items()} == {
        "crm_clv": ("gold.clv_scores", "crm_spark.scoring.scorers", "score_clv"),
        "crm_churn": ("gold.churn_scores", "crm_spark.scoring.scorers", "score_churn"),
        "crm_recs": ("gold.recommendations", "crm_spark.scoring.scorers", "score_recs")}
