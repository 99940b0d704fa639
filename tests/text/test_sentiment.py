"""Sentiment of hand-written sentences and of the real labelled review sentences (issue 26)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from crm_spark.errors import DataQualityError
from crm_spark.text.labelled import read_labelled_sentences
from crm_spark.text.redact import clean_text
from crm_spark.text.sentiment import add_sentiment
from tests.conftest import SHARED_DATA

SENTENCES = SHARED_DATA / "sentiment_sentences"
# VADER measured 0.817 (Yelp) and 0.796 (IMDB) in bench/sentiment.py (deterministic); floors
# about 0.05 below catch a broken scorer (a constant label scores 0.50) or a lost negation rule.
ACCURACY_FLOOR = {"yelp": 0.77, "imdb": 0.75}


def scored(spark, texts: list[str | None], languages: list[str | None] | None = None) -> dict:
    if languages is None:
        df = spark.createDataFrame([(t,) for t in texts], "text string")
        out = add_sentiment(df, "text")
    else:
        df = spark.createDataFrame(list(zip(texts, languages, strict=True)), "text string, lang string")
        out = add_sentiment(df, "text", "lang")
    return {r["text"]: (r["sentiment_score"], r["sentiment_label"]) for r in out.collect()}


def test_negation_intensifiers_and_neutral_text(spark):
    got = scored(spark, [
        "The delivery was good.",
        "The delivery was not good.",
        "The product is bad.",
        "The product is very bad.",
        "The parcel arrived on Tuesday.",
    ])
    good, not_good = got["The delivery was good."], got["The delivery was not good."]
    bad, very_bad = got["The product is bad."], got["The product is very bad."]
    assert good[1] == "positive" and not_good[1] == "negative"
    assert bad[1] == "negative" and very_bad[1] == "negative"
    assert -1.0 <= very_bad[0] < bad[0] < 0.0 < good[0] <= 1.0
    assert got["The parcel arrived on Tuesday."] == (0.0, "neutral")


def test_other_languages_and_null_text_are_not_scored(spark):
    got = scored(spark, ["Das Produkt ist nicht gut.", "I love it.", None], ["de", "en", None])
    assert got["Das Produkt ist nicht gut."] == (None, None)
    assert got["I love it."][1] == "positive"
    assert got[None] == (None, None)


@pytest.mark.parametrize("name", ["yelp", "imdb"])
def test_accuracy_on_real_review_sentences_is_above_the_floor(spark, name):
    df = read_labelled_sentences(spark, str(SENTENCES / f"{name}_labelled.txt"))
    df = add_sentiment(df.withColumn("text", clean_text(F.col("text"))), "text")
    row = df.agg(F.count("*").alias("n"),
                 F.avg(((F.col("sentiment_label") == "positive").cast("int") == F.col("label"))
                       .cast("double")).alias("accuracy")).first()
    assert row["n"] == {"yelp": 1000, "imdb": 999}[name]
    assert row["accuracy"] >= ACCURACY_FLOOR[name]


def test_a_line_without_a_label_is_a_one_line_error(spark, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Great food.\t1\nThe script is\u0085was there a script?\t0\nno label here\n",
                    encoding="utf-8")
    with pytest.raises(DataQualityError, match="no label here"):
        read_labelled_sentences(spark, str(path))
    path.write_text("Great food.\t1\nThe script is\u0085was there a script?\t0\n", encoding="utf-8")
    rows = sorted(tuple(r) for r in read_labelled_sentences(spark, str(path)).collect())
    assert rows == [("Great food.", 1), ("The script is\u0085was there a script?", 0)]
