"""Sentiment of free text: VADER's compound score in [-1, 1] and a label, as a pandas UDF.

VADER (``vaderSentiment``, a lexicon with rules for negation, intensifiers, ``but``, capitals
and exclamation marks) was chosen over a Spark ML classifier trained on review sentences by
measurement (``bench/sentiment.py``, docs/models.md "Sentiment", decision D96): it needs no
training data, so it does not learn the vocabulary of one domain, and tickets are a domain no
labelled set here covers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType

# VADER's own cut-offs for its compound score (Hutto & Gilbert 2014, the package's README).
POSITIVE_FROM = 0.05
NEGATIVE_TO = -0.05
SCORED_LANGUAGES = ("en", "und")  # VADER's lexicon is English; "und" is mostly short English


@pandas_udf(DoubleType())  # type: ignore[call-overload]  # pyspark's stubs lack the type-hint form
def vader_compound(texts: Iterator[pd.Series]) -> Iterator[pd.Series]:
    """VADER's compound score of each text (null for null); one analyser per task."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    for batch in texts:
        yield batch.map(lambda t: analyser.polarity_scores(t)["compound"] if isinstance(t, str) else None)


def label_of(score: Column) -> Column:
    """'positive', 'negative' or 'neutral' for a compound score; null for null."""
    return (
        F.when(score >= POSITIVE_FROM, "positive")
        .when(score <= NEGATIVE_TO, "negative")
        .when(score.isNotNull(), "neutral")
    )


def add_sentiment(df: DataFrame, text_col: str, language_col: str | None = None) -> DataFrame:
    """Adds ``sentiment_score`` (double in [-1, 1]) and ``sentiment_label``.

    Requires: ``text_col`` (string, best the cleaned and redacted text) and, if given,
    ``language_col`` (``redact.language_of``). Text in a language other than English (or
    undetermined) gets null score and label rather than an English lexicon's guess; null text
    gets nulls too.
    """
    text = F.col(text_col)
    if language_col is not None:
        text = F.when(F.col(language_col).isin(*SCORED_LANGUAGES), text)
    return df.withColumn("sentiment_score", vader_compound(text)).withColumn(
        "sentiment_label", label_of(F.col("sentiment_score"))
    )
