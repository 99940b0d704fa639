"""Out-of-time churn ROC-AUC with and without the ticket text signals (issue 26, D101): the same
train and validation sets, search budget and seed as `crm-spark train churn`
(crm_spark/models/train.py::train_churn), fitted twice in one Spark process.

Build a lake first (SEED 42 and 7, 20,000 persons in D101), e.g. with W=/tmp/churntext/s42:

    for step in generate ingest silver resolve; do
      .venv/bin/crm-spark --set lake.root=$W/lake --set lake.landing=$W/landing \
        --set lake.truth=$W/truth --set lake.checkpoints=$W/lake/_checkpoints \
        --set mlflow.tracking_uri=sqlite:///$W/mlruns/mlflow.db \
        --set mlflow.artifact_location=$W/mlruns/artifacts \
        --set generate.persons=20000 --set generate.seed=42 $step
    done

then ``python bench/churn_text.py $W [MODEL_SEED...]``. Prints the data sets' text-signal
means, each fit's ROC-AUC (RESULT lines), the text signals' importances and a 500-draw bootstrap
of the ROC-AUC difference on the validation customers (needs scikit-learn).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datetime as dt
import json
import time

from pyspark.sql import functions as F

from crm_spark.as_of import resolve_as_of
from crm_spark.config import load_config
from crm_spark.context import RunContext
from crm_spark.features.customer import TEXT_SIGNALS, feature_columns
from crm_spark.features.inputs import sales_of
from crm_spark.models import churn
from crm_spark.models.train import out_of_time_datasets
from crm_spark.spark import build_spark
from crm_spark.tables import Lake


def main() -> None:
    work = sys.argv[1]
    model_seeds = [int(s) for s in sys.argv[2:]] or [None]
    cfg = load_config(overrides=[f"lake.root={work}/lake"])
    spark = build_spark(cfg)
    ctx = RunContext(run_id="measure", started_at=dt.datetime.now(dt.UTC))
    lake = Lake(spark, cfg.lake.root)
    as_of = resolve_as_of(lake, ctx)
    sales_df = sales_of(lake, cfg, as_of).persist()
    train_as_of, valid_as_of, datasets = out_of_time_datasets(lake, cfg, sales_df, as_of)
    for name, df in datasets.items():
        row = (
            df.agg(
                F.count(F.lit(1)).alias("n"),
                F.avg("churned").alias("rate"),
                *[F.avg(c).alias(c) for c in TEXT_SIGNALS],
            )
            .collect()[0]
            .asDict()
        )
        row["neg_any_share"] = df.filter(F.col("negative_tickets_90d") > 0).count() / row["n"]
        print(
            "DATA",
            name,
            json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}),
        )
        print(
            "CHURN_BY_NEG",
            name,
            [
                tuple(r)
                for r in df.groupBy((F.col("negative_tickets_90d") > 0).alias("neg"))
                .agg(F.count(F.lit(1)), F.avg("churned"))
                .orderBy("neg")
                .collect()
            ],
        )
    budget = churn.SearchBudget(max_candidates=cfg.models.churn_max_candidates)
    ALL = list(feature_columns())
    base = [c for c in ALL if c not in TEXT_SIGNALS]
    assert len(base) == len(ALL) - 3
    print("AS_OF", as_of, "train", train_as_of, "valid", valid_as_of, "budget", budget.candidates())
    for seed in model_seeds:
        seed = cfg.models.seed if seed is None else seed
        scored = {}
        for label, columns in (("without", base), ("with", ALL)):
            started = time.monotonic()
            result = churn.train_churn(
                datasets["train"], datasets["valid"], columns, budget, seed, concurrency=cfg.spark.concurrency
            )
            print(
                "RESULT",
                json.dumps(
                    {
                        "model_seed": seed,
                        "features": label,
                        "chosen": result.name,
                        "params": result.params,
                        "roc_auc": round(result.metrics["roc_auc"], 4),
                        "pr_auc": round(result.metrics["pr_auc"], 4),
                        "candidates": [
                            (c["name"], c["params"], round(c["metrics"]["roc_auc"], 4))
                            for c in result.candidates
                        ],
                        "seconds": round(time.monotonic() - started, 1),
                    }
                ),
            )
            scored[label] = (
                churn.score_churn(result.model, datasets["valid"], keep=("customer_id", "churned"))
                .toPandas()
                .sort_values("customer_id")
                .reset_index(drop=True)
            )
            with_ticket_df = datasets["valid"].filter(F.col("days_since_ticket").isNotNull())
            sub = churn.evaluate_churn(result.model, with_ticket_df)
            print(
                "SUBSET_WITH_TICKET",
                label,
                with_ticket_df.count(),
                round(sub["roc_auc"], 4),
                round(sub["base_rate"], 4),
            )
            if label == "with":
                top = sorted(result.feature_importances.items(), key=lambda kv: -kv[1])
                print(
                    "IMPORTANCE",
                    json.dumps({k: round(v, 4) for k, v in top[:12]}),
                    json.dumps({k: round(result.feature_importances.get(k, 0.0), 4) for k in TEXT_SIGNALS}),
                )
        import numpy as np
        from sklearn.metrics import roc_auc_score

        a, b = scored["without"], scored["with"]
        assert (a["customer_id"] == b["customer_id"]).all()
        y, pa, pb = (
            a["churned"].to_numpy(),
            a["churn_probability"].to_numpy(),
            b["churn_probability"].to_numpy(),
        )
        rng = np.random.default_rng(0)
        diffs = []
        for _ in range(500):
            i = rng.integers(0, len(y), len(y))
            diffs.append(roc_auc_score(y[i], pb[i]) - roc_auc_score(y[i], pa[i]))
        diffs = np.array(diffs)
        print(
            "BOOTSTRAP",
            json.dumps(
                {
                    "point": round(roc_auc_score(y, pb) - roc_auc_score(y, pa), 4),
                    "sd": round(float(diffs.std()), 4),
                    "ci95": [
                        round(float(np.percentile(diffs, 2.5)), 4),
                        round(float(np.percentile(diffs, 97.5)), 4),
                    ],
                }
            ),
        )
    spark.stop()


if __name__ == "__main__":
    main()
