"""The local Spark session as the jobs get it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.settings import Settings
from pipelines.spark import java_class, with_times


def test_the_local_driver_runs_with_the_configured_jvm_options(spark: SparkSession, settings: Settings) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())

    assert settings.jvm_options.split() == ["-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=256m"]
    assert all(option in arguments for option in settings.jvm_options.split())
    assert any(argument.startswith("-Dderby.system.home=") for argument in arguments)


def test_compiled_code_outlives_more_than_a_hundred_classes(spark: SparkSession) -> None:
    """A gold batch generates ~130 classes: with Spark's default cache of 100, each batch compiled them all again."""
    compiled = java_class(spark, "org.apache.spark.metrics.source.CodegenMetrics").METRIC_COMPILATION_TIME()

    def run(offset: int) -> None:
        # The offset is inlined into the generated code: one class (or more) of its own per offset.
        spark.range(3).select((F.col("id") * 7 + F.lit(offset)).alias("n")).collect()

    run(0)
    for offset in range(1, 130):
        run(offset)
    before = compiled.getCount()
    run(0)

    assert compiled.getCount() == before  # the first query's classes were still cached
    assert before >= 130


def test_file_listings_run_in_a_few_tasks_per_core(spark: SparkSession) -> None:
    """Delta's VACUUM lists files in this many tasks: Spark's 10,000 took a small table's VACUUM past 10 minutes."""
    listing = int(spark.conf.get("spark.sql.sources.parallelPartitionDiscovery.parallelism"))
    assert listing == 4 * spark.sparkContext.defaultParallelism


def test_with_times_gives_every_row_the_instants_naive_ones_as_utc(spark: SparkSession) -> None:
    aware = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 3, 29, 1, 30, 0, 1)

    rows = with_times(spark.range(3), at=aware, seen=naive).orderBy("id").collect()

    assert [r.id for r in rows] == [0, 1, 2]
    # Spark hands timestamps back as naive UTC in the suite's UTC session.
    assert {(r.at, r.seen) for r in rows} == {(aware.astimezone(UTC).replace(tzinfo=None), naive)}
