"""Pairwise quality of the saved identity model at several match thresholds, on a resolved lake.

    python bench/identity_thresholds.py --work /tmp/crm-bench-identity/100000 --truth TRUTH_DIR \
        --thresholds 0.95 0.97 0.98 0.99 0.995

Takes the lake bench/identity.py resolved (its silver.contacts and the model resolve saved),
scores the candidate pairs once with that model at the lowest threshold (kept as Parquet in
<work>/threshold-pairs), then per threshold: the deterministic edges plus the scored pairs at or
above it -> connected components -> pairwise precision, recall and F1 against the generator's
truth. The same functions as `crm-spark resolve` and `crm-spark evaluate identity` (graph,
linkage, evaluate), without the stable-id step, which does not change who is grouped with whom
on a first run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="a bench/identity.py work folder (holding lake/)")
    parser.add_argument("--truth", required=True, help="the generator's truth folder")
    parser.add_argument("--thresholds", type=float, nargs="+", required=True)
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from crm_spark.config import load_config
    from crm_spark.identity import graph, linkage, record_id
    from crm_spark.identity.evaluate import pairwise_quality, read_truth
    from crm_spark.spark import build_spark
    from crm_spark.tables import Lake

    work = Path(args.work)
    overrides = [f"lake.root={work / 'lake'}", f"lake.checkpoints={work / 'lake' / '_checkpoints'}",
                 f"spark.driver_memory={args.driver_memory}", f"spark.jars_dir={PROJECT / '.cache' / 'jars'}",
                 f"spark.ivy_dir={PROJECT / '.ivy'}"]
    cfg = load_config(overrides=overrides, conf_dir=PROJECT / "conf")
    spark = build_spark(cfg)
    lake = Lake(spark, cfg.lake.root)
    saved = linkage.load_model(lake)
    if saved is None:
        sys.exit(f"error: {work / 'lake'} holds no saved identity model; run bench/identity.py first")
    contacts = lake.read("silver.contacts").withColumn("record_id", record_id()).persist()
    deterministic = graph.deterministic_edges(contacts, cfg.identity.deterministic_keys) \
        .select("record_id_l", "record_id_r").persist()

    pairs_path = work / "threshold-pairs"
    if not pairs_path.exists():
        from splink import Linker, SparkAPI

        db_api = SparkAPI(spark_session=spark, break_lineage_method="persist",
                          num_partitions_on_repartition=max(2, spark.sparkContext.defaultParallelism))
        records = db_api.register(contacts.select(*linkage.LINK_COLUMNS))
        linker = Linker(records, json.loads(saved["settings_json"]))
        start = time.perf_counter()
        scored = linker.inference.predict(threshold_match_probability=min(args.thresholds))
        probability = F.col("match_probability").cast("double")
        scored_df = scored.as_spark_dataframe().select("record_id_l", "record_id_r", probability)
        scored_df.write.parquet(str(pairs_path))
        print(f"scored the candidate pairs in {time.perf_counter() - start:.1f} s", flush=True)
    pairs = spark.read.parquet(str(pairs_path)).persist()
    truth = read_truth(spark, str(Path(args.truth) / "source_records"))

    print("| threshold | predicted pairs | true positive pairs | precision | recall | F1 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for threshold in sorted(args.thresholds):
        edges = deterministic.unionByName(
            pairs.where(F.col("match_probability") >= threshold).select("record_id_l", "record_id_r"))
        components = graph.connected_components(contacts.select("record_id"), edges)
        map_df = contacts.select("source", "source_id", "record_id").join(components, "record_id") \
            .withColumnRenamed("component", "customer_id")
        q = pairwise_quality(truth, map_df)
        print(f"| {threshold} | {q.predicted_pairs:,} | {q.true_positive_pairs:,} | {q.precision:.4f} "
              f"| {q.recall:.4f} | {q.f1:.4f} |", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
