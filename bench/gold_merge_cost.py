"""Gold MERGE cost against table size: one micro-batch merged into an empty table vs a week of windows.

The gold MERGE bounds its target to the batch's windows (partition pruning by day), so its cost should
follow the batch, not the table. This measures it: the same batch (1 minute x 20 operators, plus a late
minute from 6 days ago) merged into operator_kpis holding nothing, then a week of 1-minute windows for
20 operators (201,600 rows in one file per day). Usage: python bench/gold_merge_cost.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from catalog.tables import OPERATOR_KPIS
from pipelines import ledger
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.gold.batch import KPI_AVERAGES, additive_merge_sql
from pipelines.settings import Settings
from pipelines.spark import build_spark

OPERATORS = [f"op-{i:02d}" for i in range(20)]
WEEK_MINUTES = 7 * 24 * 60


def _week(spark: SparkSession, end: datetime) -> DataFrame:
    start = end - timedelta(minutes=WEEK_MINUTES)
    minutes = spark.range(WEEK_MINUTES).select(
        F.timestamp_seconds(F.lit(int(start.timestamp())) + F.col("id") * 60).alias("window_start")
    )
    ops = spark.createDataFrame([(o,) for o in OPERATORS], "operator string")
    return minutes.crossJoin(ops).select(
        "window_start",
        (F.col("window_start") + F.expr("INTERVAL 60 SECONDS")).alias("window_end"),
        "operator",
        F.lit(100).cast("long").alias("signal_sum"),
        F.lit(10).cast("long").alias("signal_count"),
        F.lit(10.0).alias("avg_signal"),
        F.lit(50).cast("decimal(38,6)").alias("precision_sum"),
        F.lit(10).cast("long").alias("precision_count"),
        F.lit(5.0).alias("avg_gps_precision_m"),
        F.current_timestamp().alias("updated_at"),
    )


def _batch(spark: SparkSession, end: datetime) -> DataFrame:
    rows = []
    for minute in (end - timedelta(minutes=1), end - timedelta(days=6)):
        for op in OPERATORS:
            rows.append((minute, minute + timedelta(minutes=1), op, 7, 1, 7.0, Decimal(3), 1, 3.0, end))
    return spark.createDataFrame(rows, ", ".join(c.replace(" NOT NULL", "") for c in OPERATOR_KPIS.columns))


def _merge_seconds(spark: SparkSession, table: str, end: datetime, batch_id: int) -> float:
    batch = _batch(spark, end)
    batch.createOrReplaceTempView("bench_deltas")
    lo, hi = end - timedelta(days=6, minutes=1), end
    sql = additive_merge_sql(
        table,
        "bench_deltas",
        keys=("window_start", "operator"),
        sums=("signal_sum", "signal_count", "precision_sum", "precision_count"),
        extra_updates=KPI_AVERAGES,
        lo=lo,
        hi=hi,
    )
    started = time.perf_counter()
    ledger.run_once(spark, table, ledger.Stamp("bench", "bench", batch_id), sql)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="telcopulse-bench-merge-"))
    settings = Settings(home=home)
    spark = build_spark(settings, "telcopulse-bench-merge")
    bootstrap_tables(spark, settings, (OPERATOR_KPIS,))
    table = settings.table(OPERATOR_KPIS.identifier)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    results: dict[str, list[float]] = {"empty": [], "week": []}
    batch_id = 0
    for _ in range(args.repeats):
        spark.sql(f"DELETE FROM {table}")
        results["empty"].append(_merge_seconds(spark, table, end, batch_id))
        batch_id += 1
    spark.sql(f"DELETE FROM {table}")
    _week(spark, end).sortWithinPartitions("window_start").writeTo(table).append()
    rows = spark.table(table).count()
    for _ in range(args.repeats):
        results["week"].append(_merge_seconds(spark, table, end, batch_id))
        batch_id += 1
    summary = {
        "batch_rows": 2 * len(OPERATORS),
        "week_rows": rows,
        "merge_seconds_p50": {k: round(statistics.median(v), 3) for k, v in results.items()},
        "merge_seconds_all": {k: [round(x, 3) for x in v] for k, v in results.items()},
    }
    print(json.dumps(summary, indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
