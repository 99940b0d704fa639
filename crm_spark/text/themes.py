"""Themes of free text: clusters of TF-IDF vectors, each named by its top terms (issue 26).

A theme is what a text is about, not how its writer feels, so the words of the sentiment lexicon
(VADER's, with its intensifiers and negations) are left out of the vocabulary with the stop
words: "thank", "terrible" or "great" would otherwise pull every happy text into one theme and
every angry one into another. The pipeline (tokens, vocabulary, IDF, L2 normalisation, k-means)
is fitted on a sample of at most ``sample_size`` texts and applies to any number of them; k is
chosen by the cosine silhouette on that sample, in ``[k_min, k_max]`` (searched on the driver,
``spherical``). Each theme is named by its ``TERMS_IN_NAME`` heaviest centroid terms and shown
by its representative text: the sampled text nearest its centroid (kept as the text's id, so
that erasing a text erases it as an example too). Redaction tokens (``<email>``...) are removed
before the words are counted: they say nothing about a theme.

A theme is *emerging* (``emerging_themes``) when its share of the last ``recent_days``' texts
grew at least ``EMERGING_RATIO`` times against the ``baseline_days`` before, with at least
``EMERGING_MIN_TEXTS`` recent texts and a one-sided two-proportion z above ``EMERGING_Z`` (the
growth is not a small-number accident).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import (
    IDF,
    CountVectorizer,
    Normalizer,
    RegexTokenizer,
    SQLTransformer,
    StopWordsRemover,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crm_spark.errors import DataQualityError

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"[^\p{L}]+"      # words are runs of letters: numbers and redaction tokens go
MIN_TOKEN_LENGTH = 3
TERMS_IN_NAME = 3
MIN_TEXTS = 20                    # fewer texts than this give no themes, in one line
EMERGING_RATIO = 1.5
EMERGING_MIN_TEXTS = 10
EMERGING_Z = 2.33                 # one-sided p < 0.01
FEATURES = "theme_features"
REDACTION_TOKENS = r"<(email|phone|card)>"
WORK_COLUMNS = ("theme_text", "theme_tokens", "theme_words", "theme_counts", "theme_tfidf", FEATURES)


@dataclass(frozen=True)
class Themes:
    """A fitted theme model: ``names[i]``, ``terms[i]`` and ``examples[i]`` (the id of its
    representative text) describe theme ``i``."""

    model: PipelineModel
    names: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]
    examples: tuple[str, ...]
    silhouettes: dict[int, float]
    fitted_on: int

    @property
    def k(self) -> int:
        return len(self.names)


def sentiment_words() -> list[str]:
    """The single words of VADER's lexicon, its intensifiers ("really") and negations ("never");
    its emoticons and phrases cannot be tokens."""
    from vaderSentiment import vaderSentiment as vader

    words = {*vader.SentimentIntensityAnalyzer().lexicon, *vader.BOOSTER_DICT, *vader.NEGATE}
    return sorted(w for w in words if w.isalpha())


def _vectoriser(text_col: str, min_df: float) -> list:
    stop_words = sorted({*StopWordsRemover.loadDefaultStopWords("english"), *sentiment_words()})
    return [
        SQLTransformer(statement=f"SELECT *, regexp_replace(`{text_col}`, '{REDACTION_TOKENS}', ' ') "
                                 "AS theme_text FROM __THIS__"),
        RegexTokenizer(inputCol="theme_text", outputCol="theme_tokens", pattern=TOKEN_PATTERN,
                       minTokenLength=MIN_TOKEN_LENGTH, toLowercase=True),
        StopWordsRemover(inputCol="theme_tokens", outputCol="theme_words", stopWords=stop_words),
        CountVectorizer(inputCol="theme_words", outputCol="theme_counts", minDF=min_df, vocabSize=5000),
        IDF(inputCol="theme_counts", outputCol="theme_tfidf"),
        Normalizer(inputCol="theme_tfidf", outputCol=FEATURES, p=2.0),
    ]


def fit_themes(texts_df: DataFrame, text_col: str, id_col: str, k_min: int = 4, k_max: int = 10,
               seed: int = 42, sample_size: int = 20_000) -> Themes:
    """Fits the theme model on (a sample of) the non-empty texts of ``text_col``; ``id_col``
    names each text (its examples are given by id).

    Raises:
        DataQualityError: fewer than ``MIN_TEXTS`` texts, or none with a word in the vocabulary.
    """
    texts = texts_df.select(id_col, text_col).filter(F.length(F.trim(text_col)) > 0)
    total = texts.count()
    if total < max(MIN_TEXTS, k_min + 1):
        raise DataQualityError(f"themes need at least {max(MIN_TEXTS, k_min + 1)} texts; {total} given")
    sample = texts.sample(fraction=min(1.0, sample_size / total), seed=seed) if total > sample_size else texts
    # a word must occur in 2 texts, or 1 in 1,000 of them, to say what a theme is about
    vectoriser = Pipeline(stages=_vectoriser(text_col, min_df=max(2.0, 0.001 * min(total, sample_size))))
    vector_model = vectoriser.fit(sample)
    vectors = vector_model.transform(sample).filter(_has_weight()).cache()
    try:
        fitted = vectors.count()
        if fitted < max(MIN_TEXTS, k_min + 1):
            raise DataQualityError(f"themes need at least {max(MIN_TEXTS, k_min + 1)} texts with a word "
                                   f"in the vocabulary; {fitted} have one")
        kmeans, silhouettes = _best_kmeans(vectors, k_min, min(k_max, fitted - 1), seed)
        model = PipelineModel(stages=[*vector_model.stages, kmeans])
        vocabulary = vector_model.stages[3].vocabulary  # type: ignore[attr-defined]  # a CountVectorizerModel
        terms = tuple(tuple(vocabulary[i] for i in centre.argsort()[::-1][:TERMS_IN_NAME])
                      for centre in kmeans.clusterCenters())
        examples = _examples(kmeans.transform(vectors), kmeans.clusterCenters(), id_col)
    finally:
        vectors.unpersist()
    names = tuple(" / ".join(t) for t in terms)
    log.info("themes: k=%d chosen by silhouette %s on %d texts", len(names),
             ", ".join(f"k={k}: {s:.3f}" for k, s in sorted(silhouettes.items())), fitted)
    return Themes(model, names, terms, examples, silhouettes, fitted)


def _best_kmeans(vectors: DataFrame, k_min: int, k_max: int, seed: int):
    """Spark ML's k-means for the k of the best silhouette, the k searched on the driver
    (``spherical``)."""
    from crm_spark.text import spherical

    matrix = spherical.to_matrix([row[FEATURES] for row in vectors.select(FEATURES).collect()])
    silhouettes = spherical.silhouettes_by_k(matrix, k_min, max(k_min, k_max), seed)
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    model = KMeans(featuresCol=FEATURES, predictionCol="theme_id", k=best, seed=seed,
                   distanceMeasure="cosine", maxIter=30).fit(vectors)
    return model, silhouettes


def _examples(assigned: DataFrame, centres, id_col: str) -> tuple[str, ...]:
    """Per theme, the text whose vector is nearest (highest cosine) to the theme's centre."""
    import numpy as np

    norms = [float(np.linalg.norm(c)) or 1.0 for c in centres]
    centre_of = F.udf(lambda v, i: float(v.dot(centres[i]) / norms[i]), "double")
    nearest = (assigned.withColumn("cosine", centre_of(F.col(FEATURES), F.col("theme_id")))
               .groupBy("theme_id").agg(F.max_by(id_col, "cosine").alias("example")).collect())
    by_id = {row["theme_id"]: str(row["example"]) for row in nearest}
    return tuple(by_id.get(i, "") for i in range(len(centres)))


def _has_weight():
    """The text has a word in the vocabulary that some texts lack (a zero vector has no
    direction, and no theme)."""
    return F.exists(vector_to_array(F.col(FEATURES)), lambda x: x != 0)


def assign_themes(themes: Themes, df: DataFrame, text_col: str) -> DataFrame:
    """``df`` with ``theme_id`` (int) and ``theme`` (the theme's name); both null for a text with
    no word in the vocabulary (or no text)."""
    names = F.array(*[F.lit(n) for n in themes.names])
    vectoriser, kmeans = PipelineModel(stages=themes.model.stages[:-1]), themes.model.stages[-1]
    vectors = vectoriser.transform(df.withColumn("_text", F.coalesce(F.col(text_col), F.lit(""))
                                               .alias(text_col))
                                   .withColumnRenamed(text_col, "_original")
                                   .withColumnRenamed("_text", text_col))
    weighted = vectors.withColumn("_weighted", _has_weight())
    themed = kmeans.transform(weighted.filter("_weighted")).withColumn("theme_id",
                                                                       F.col("theme_id").cast("int"))
    unthemed = weighted.filter(~F.col("_weighted")).withColumn("theme_id", F.lit(None).cast("int"))
    return (themed.unionByName(unthemed)
            .withColumn("theme", F.element_at(names, F.col("theme_id") + 1))
            .withColumn(text_col, F.col("_original"))
            .select(*df.columns, "theme_id", "theme"))


def emerging_themes(assigned_df: DataFrame, time_col: str, as_of: dt.date, recent_days: int = 28,
                    baseline_days: int = 84) -> set[int]:
    """Theme ids whose share of texts grew in the last ``recent_days`` up to ``as_of`` (module doc)."""
    end = as_of + dt.timedelta(days=1)
    recent_from, baseline_from = end - dt.timedelta(days=recent_days), end - dt.timedelta(
        days=recent_days + baseline_days)
    day = F.to_date(time_col)
    window = (F.when(day >= F.lit(recent_from), "recent").when(day >= F.lit(baseline_from), "baseline"))
    counts = (assigned_df.filter(F.col("theme_id").isNotNull() & (day < F.lit(end)))
              .withColumn("window", window).filter(F.col("window").isNotNull())
              .groupBy("theme_id", "window").count().collect())
    by = {(r["theme_id"], r["window"]): r["count"] for r in counts}
    totals = {w: sum(c for (_, win), c in by.items() if win == w) for w in ("recent", "baseline")}
    return {theme for theme in {t for t, _ in by}
            if _is_emerging(by.get((theme, "recent"), 0), totals["recent"],
                            by.get((theme, "baseline"), 0), totals["baseline"])}


def _is_emerging(recent: int, recent_total: int, baseline: int, baseline_total: int) -> bool:
    if recent < EMERGING_MIN_TEXTS or baseline_total == 0:
        return False
    recent_share, baseline_share = recent / recent_total, baseline / baseline_total
    if recent_share < EMERGING_RATIO * baseline_share:
        return False
    pooled = (recent + baseline) / (recent_total + baseline_total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / recent_total + 1 / baseline_total))
    return spread > 0 and (recent_share - baseline_share) / spread > EMERGING_Z
