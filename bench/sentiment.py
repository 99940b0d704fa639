"""Sentiment methods measured on real labelled sentences (issue 26): VADER, a Spark ML
classifier trained on labelled text, and the two combined.

    python bench/sentiment.py [--data ../shared/data/sentiment_sentences] [--rows 200000]

Data: the UCI Sentiment Labelled Sentences, Yelp (1,000) and IMDB (999) review sentences with
0/1 labels. Methods:
- ``vader``: ``crm_spark.text.sentiment.add_sentiment`` (no training); positive when the label
  is ``positive`` (compound >= 0.05), ROC-AUC from the compound score;
- ``spark_lr``: words and word pairs -> hashed TF-IDF -> logistic regression (Spark ML);
- ``combined``: the same features plus VADER's compound score.
The two trained methods are tested out of domain (trained on one file, tested on the other: the
situation of tickets, which no labelled set covers) and in domain (5 folds within each file, by a
hash of the sentence, so a repeated sentence never sits on both sides). Hyper-parameters are
fixed below, not tuned on any test fold. Also: the language tags of ``redact.language_of`` on
the sentences, and VADER's throughput on ``--rows`` sentences (wall time on 2 shared cores:
noisy). Prints a table and writes ``bench/results/sentiment.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import IDF, HashingTF, NGram, RegexTokenizer, SQLTransformer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from crm_spark.config import load_config  # noqa: E402
from crm_spark.spark import build_spark  # noqa: E402
from crm_spark.text.labelled import read_labelled_sentences  # noqa: E402
from crm_spark.text.redact import clean_text, language_of  # noqa: E402
from crm_spark.text.sentiment import add_sentiment  # noqa: E402

RESULTS = PROJECT / "bench" / "results" / "sentiment.json"
FILES = ("yelp", "imdb")
FOLDS = 5
REG_PARAM = 0.05
HASH_FEATURES = 1 << 16


def features(with_vader: bool) -> list:
    stages = [
        RegexTokenizer(inputCol="text", outputCol="words", pattern=r"[^\p{L}\p{N}']+", minTokenLength=1),
        NGram(n=2, inputCol="words", outputCol="pairs"),
        SQLTransformer(statement="SELECT *, concat(words, pairs) AS terms FROM __THIS__"),
        HashingTF(inputCol="terms", outputCol="tf", numFeatures=HASH_FEATURES),
        IDF(inputCol="tf", outputCol="tfidf"),
    ]
    inputs = ["tfidf", "sentiment_score"] if with_vader else ["tfidf"]
    stages.append(VectorAssembler(inputCols=inputs, outputCol="features"))
    stages.append(LogisticRegression(featuresCol="features", labelCol="label", regParam=REG_PARAM))
    return stages


def scores(predicted_df: DataFrame, score_col: str, positive: F.Column) -> dict:
    auc = BinaryClassificationEvaluator(rawPredictionCol=score_col, labelCol="label",
                                        metricName="areaUnderROC").evaluate(predicted_df)
    row = predicted_df.agg(F.avg((positive.cast("int") == F.col("label")).cast("double")).alias("acc"),
                           F.count("*").alias("n")).first()
    return {"accuracy": round(row["acc"], 4), "roc_auc": round(auc, 4), "n": row["n"]}


def trained(train_df: DataFrame, test_df: DataFrame, with_vader: bool) -> dict:
    model = Pipeline(stages=features(with_vader)).fit(train_df)
    predicted_df = model.transform(test_df)
    return scores(predicted_df, "rawPrediction", F.col("prediction") == 1.0)


def pooled_folds(df: DataFrame, with_vader: bool) -> dict:
    """Accuracy and ROC-AUC over the out-of-fold predictions of all folds together."""
    predicted = []
    for fold in range(FOLDS):
        model = Pipeline(stages=features(with_vader)).fit(df.where(F.col("fold") != fold))
        predicted.append(model.transform(df.where(F.col("fold") == fold))
                         .select("label", "prediction", vector_to_array("probability")[1].alias("p")))
    union_df = predicted[0]
    for more in predicted[1:]:
        union_df = union_df.unionByName(more)
    return scores(union_df, "p", F.col("prediction") == 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(PROJECT.parent / "shared" / "data" / "sentiment_sentences"))
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)

    cfg = load_config(overrides=["spark.app_name=bench-sentiment", "spark.shuffle_partitions=2"],
                      conf_dir=PROJECT / "conf")
    spark = build_spark(cfg)
    data = {}
    for name in FILES:
        df = read_labelled_sentences(spark, f"{args.data}/{name}_labelled.txt")
        df = df.withColumn("text", clean_text(F.col("text")))
        df = add_sentiment(df, "text").withColumn("fold", F.pmod(F.xxhash64("text"), F.lit(FOLDS)))
        data[name] = df.cache()

    results: dict = {"vader": {}, "spark_lr": {}, "combined": {}, "languages": {}}
    for name, df in data.items():
        results["vader"][name] = scores(df, "sentiment_score", F.col("sentiment_label") == "positive")
        results["vader"][name]["neutral_share"] = round(
            df.agg(F.avg((F.col("sentiment_label") == "neutral").cast("double"))).first()[0], 4)
        print(f"  vader {name}: {results['vader'][name]}", flush=True)
        results["languages"][name] = {r["lang"]: r["count"] for r in
                                      df.groupBy(language_of(F.col("text")).alias("lang")).count().collect()}
    for method, with_vader in (("spark_lr", False), ("combined", True)):
        for train, test in (("yelp", "imdb"), ("imdb", "yelp")):
            results[method][f"{train}->{test}"] = trained(data[train], data[test], with_vader)
            print(f"  {method} {train}->{test}: {results[method][f'{train}->{test}']}", flush=True)
        for name in FILES:
            results[method][f"{name} {FOLDS}-fold"] = pooled_folds(data[name], with_vader)
            print(f"  {method} {name} {FOLDS}-fold: {results[method][f'{name} {FOLDS}-fold']}", flush=True)

    both_df = data["yelp"].select("text").unionByName(data["imdb"].select("text"))
    many_df = both_df.crossJoin(spark.range((args.rows + 1998) // 1999).withColumnRenamed("id", "copy")) \
        .repartition(spark.sparkContext.defaultParallelism).cache()
    rows = many_df.count()
    start = time.perf_counter()
    add_sentiment(many_df, "text").select("sentiment_score").write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - start
    spark.stop()
    results["throughput"] = {"rows": rows, "seconds": round(seconds, 1),
                             "rows_per_second": round(rows / seconds), "cores": os.cpu_count(),
                             "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'method':<10}{'evaluation':<16}{'accuracy':>10}{'ROC-AUC':>9}")
    for method in ("vader", "spark_lr", "combined"):
        for evaluation, r in results[method].items():
            print(f"{method:<10}{evaluation:<16}{r['accuracy']:>10.3f}{r['roc_auc']:>9.3f}")
    print(f"\nlanguage tags: {results['languages']}")
    print(f"VADER throughput: {results['throughput']}")
    print(f"wrote {RESULTS.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
