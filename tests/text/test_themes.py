"""Ticket themes: clusters named by their words, sentiment words left out, emerging themes
(issue 26)."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_spark.errors import DataQualityError
from crm_spark.text.themes import assign_themes, emerging_themes, fit_themes

TOPICS = {
    "delivery": ["My parcel is late, the courier never came", "Where is my parcel? The courier is late",
                 "The parcel tracking shows the courier lost it", "Late parcel, courier did not deliver",
                 "Courier left the parcel at the wrong address, terrible"],
    "refund": ["I want my refund for the returned jacket", "Refund still missing for the jacket",
               "Please refund the jacket I sent back", "The refund for my jacket has not arrived",
               "Great, the jacket refund was quick"],
    "login": ["I cannot login, the password reset fails", "Password reset link broken, no login",
              "Login fails after the password change", "Forgot my password, login impossible",
              "Awesome, login works again after the password reset"],
}


def texts_df(spark, copies: int = 4):
    # topics share no word but feelings and function words: what a theme must look past
    rows = [(f"{topic}-{i}-{c}", text, topic) for topic, texts in TOPICS.items()
            for i, text in enumerate(texts) for c in range(copies)]
    return spark.createDataFrame(rows, "ticket_id string, body string, topic string")


@pytest.fixture(scope="module")
def themes(spark):
    return fit_themes(texts_df(spark), "body", "ticket_id", k_min=3, k_max=4, seed=7)


def test_themes_never_mix_topics_and_are_named_by_their_words_not_by_feelings(spark, themes):
    got = {(r["topic"], r["theme_id"]) for r in assign_themes(themes, texts_df(spark), "body").collect()}
    # silhouette may split a topic in two (k=4 here), but a theme never holds two topics
    assert {topic for topic, _ in got} == set(TOPICS)
    assert all(len({t for t, theme in got if theme == i}) == 1 for _, i in got)
    names = " ".join(themes.names)
    for word in ("parcel", "courier", "refund", "jacket", "password", "login"):
        assert word in names
    for feeling in ("terrible", "great", "awesome"):
        assert feeling not in names
    assert all(example.split("-")[0] in TOPICS for example in themes.examples)


def test_a_text_without_a_known_word_or_without_text_has_no_theme(spark, themes):
    odd = spark.createDataFrame([("x1", "Hello, thanks!"), ("x2", None), ("x3", "courier parcel")],
                                "ticket_id string, body string")
    got = {r["ticket_id"]: (r["theme_id"], r["body"]) for r in assign_themes(themes, odd, "body").collect()}
    assert got["x1"] == (None, "Hello, thanks!")
    assert got["x2"] == (None, None)
    assert got["x3"][0] is not None


def test_too_few_texts_is_one_line(spark):
    with pytest.raises(DataQualityError, match="themes need at least 20 texts; 5 given"):
        fit_themes(texts_df(spark, copies=1).limit(5), "body", "ticket_id")


def test_a_theme_whose_share_grew_in_the_last_weeks_is_emerging(spark):
    as_of = dt.date(2024, 6, 30)
    baseline_day, recent_day = dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 6, 20, 12)
    # baseline: 50 + 50; last 28 days: theme 0 ten times, theme 1 forty times (share 0.5 -> 0.8);
    # theme 2: its only ten texts are older than the baseline window (so not counted)
    rows = ([(0, baseline_day)] * 50 + [(1, baseline_day)] * 50 + [(0, recent_day)] * 10
            + [(1, recent_day)] * 40 + [(2, dt.datetime(2023, 1, 1))] * 10)
    assigned = spark.createDataFrame(rows, "theme_id int, created_at timestamp")
    assert emerging_themes(assigned, "created_at", as_of) == {1}


def test_growth_on_few_texts_is_not_emerging(spark):
    as_of = dt.date(2024, 6, 30)
    # share 0 -> 1 but only nine recent texts: below the ten a flag needs
    rows = [(0, dt.datetime(2024, 5, 1))] * 40 + [(1, dt.datetime(2024, 6, 25))] * 9
    assigned = spark.createDataFrame(rows, "theme_id int, created_at timestamp")
    assert emerging_themes(assigned, "created_at", as_of) == set()
