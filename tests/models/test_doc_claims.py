"""What the CLV docs say holds for the code (issue 20, point 7): alpha is a time scale, so alpha
in weeks is alpha in days / 7 (the module docstring said x 7); the registered model is the
calibration fit (docs/models.md said it is refitted on everything up to as_of; D65)."""

from __future__ import annotations

import re

import numpy as np

from crm_spark.models import btyd, clv
from tests.conftest import PROJECT


def test_alpha_in_weeks_is_alpha_in_days_divided_by_7_as_the_docstring_says():
    rng = np.random.default_rng(5)
    n = 3000
    T = rng.uniform(200, 700, n)                   # customer ages in days
    x = rng.poisson(3.0, n).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0.1, 1.0, n), 0.0)
    days = btyd.fit_bgnbd(x, t_x, T)
    weeks = btyd.fit_bgnbd(x, t_x / 7, T / 7)      # the same history with time in weeks
    assert np.isclose(weeks.alpha, days.alpha / 7, rtol=1e-3)
    assert np.isclose(weeks.r, days.r, rtol=1e-3)
    doc = " ".join(clv.__doc__.split())
    assert "alpha per week as alpha per day / 7" in doc
    assert not re.search(r"alpha per day (x|\*|×) ?7", doc)


def test_models_doc_says_the_registered_clv_model_is_the_calibration_fit():
    text = " ".join((PROJECT / "docs" / "models.md").read_text(encoding="utf-8").split())
    assert "The registered model is that calibration fit, not a refit on everything up to `as_of`" in text
    assert "The registered model is then refitted on everything up to `as_of`" not in text
