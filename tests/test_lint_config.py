"""`make lint` runs ruff with the complexity rules and the type checker (issue 23, D92)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_lint_runs_ruff_and_mypy():
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert "ruff check crm_spark jobs tests bench" in recipe
    assert "mypy" in recipe


def test_ruff_checks_complexity_and_argument_count():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"C901", "PLR0913"} <= set(lint["select"])
    assert lint["mccabe"]["max-complexity"] == 12
    assert lint["pylint"]["max-args"] == 8


def test_mypy_checks_the_package_with_the_pinned_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["mypy"]["files"] == ["crm_spark"]
    assert "mypy==1.13.0" in pyproject["project"]["optional-dependencies"]["dev"]
