#!/usr/bin/env python3
"""The peer on the same rows: PipelineDP 0.3.1 on Apache Spark 4 (local[2])
reads the analytic dataset `fineline bench insights --analytics-dir DIR`
kept, and releases the same grouped count and sum (Laplace, epsilon 1,
each person at most 4 groups x 10 rows, values clamped to [0, 100], every
(item, region) group public). Prints its wall time and its mean absolute
error against the raw per-group truth, the figure fineline's bench prints
as `MAE vs raw`.

    pip install pyspark==4.3.0 pipeline-dp==0.3.1   # Java 17 on the PATH
    fineline bench insights --rows 10000000 --analytics --analytics-only \\
        --analytics-dir target/analytics-crosscheck
    python3 scripts/pipelinedp-crosscheck.py target/analytics-crosscheck

On a standalone cluster (a master and two workers on loopback):
    scripts/spark-standalone.sh target/analytics-crosscheck

Not part of the test command: Spark takes ~20 s to start and the run is a
benchmark, recorded in docs/benchmarks.md.
"""

import os
import sys
import time

import pipeline_dp
from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: pipelinedp-crosscheck.py DATASET_DIR")
    root = os.path.abspath(sys.argv[1])
    days = sorted(
        os.path.join(root, d) for d in os.listdir(root) if d.startswith("day=")
    )
    if not days:
        sys.exit(f"{root}: no day= partitions (write one with fineline bench insights --analytics-dir)")
    # scripts/spark-standalone.sh sets SPARK_MASTER to its master and two
    # workers; alone, Spark runs in this process on the machine's two cores.
    master = os.environ.get("SPARK_MASTER", "local[2]")
    builder = (
        SparkSession.builder.master(master)
        .appName("pipelinedp-crosscheck")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
    )
    if not master.startswith("local"):
        builder = builder.config(
            "spark.executor.memory", os.environ.get("SPARK_EXECUTOR_MEMORY", "4g")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # recursiveFileLookup: the files' own `day` column, not the directory's.
    rows = (
        spark.read.option("recursiveFileLookup", "true")
        .parquet(*days)
        .select("person", "item", "region", "value")
    )
    clamped = F.least(F.greatest(F.coalesce(F.col("value"), F.lit(0)), F.lit(0)), F.lit(100))
    raw = {
        (r["item"], r["region"]): (r["n"], r["s"])
        for r in rows.groupBy("item", "region")
        .agg(F.count(F.lit(1)).alias("n"), F.sum(clamped).alias("s"))
        .collect()
    }
    keys = sorted(raw)
    print(f"rows {sum(n for n, _ in raw.values())}, groups {len(keys)}")
    rdd = rows.rdd.map(lambda r: (r[0], (r[1], r[2]), min(max(r[3] or 0, 0), 100)))
    rdd.cache().count()

    for metric, name in ((pipeline_dp.Metrics.COUNT, "count"), (pipeline_dp.Metrics.SUM, "sum")):
        for round_ in (1, 2):
            t = time.time()
            accountant = pipeline_dp.NaiveBudgetAccountant(total_epsilon=1.0, total_delta=0.0)
            engine = pipeline_dp.DPEngine(accountant, pipeline_dp.SparkRDDBackend(spark.sparkContext))
            params = pipeline_dp.AggregateParams(
                noise_kind=pipeline_dp.NoiseKind.LAPLACE,
                metrics=[metric],
                max_partitions_contributed=4,
                max_contributions_per_partition=10,
                min_value=0,
                max_value=100,
            )
            extractors = pipeline_dp.DataExtractors(
                privacy_id_extractor=lambda r: r[0],
                partition_extractor=lambda r: r[1],
                value_extractor=lambda r: r[2],
            )
            result = engine.aggregate(rdd, params, extractors, public_partitions=keys)
            accountant.compute_budgets()
            released = result.collect()
            secs = time.time() - t
            errors = []
            for key, m in released:
                value = m.count if name == "count" else m.sum
                truth = raw[key][0] if name == "count" else raw[key][1]
                errors.append(abs(value - truth))
            mae = sum(errors) / len(errors)
            print(
                f"pipelinedp round {round_} {name:<5} {secs:.3f}s end to end on Spark {master}, "
                f"{len(released)} groups  MAE vs raw {mae:.3f}"
            )
    spark.stop()


if __name__ == "__main__":
    main()
