"""The local Spark session as the jobs get it."""

from __future__ import annotations

from pyspark.sql import SparkSession

from pipelines.settings import Settings


def test_the_local_driver_runs_with_the_configured_jvm_options(spark: SparkSession, settings: Settings) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())

    assert settings.jvm_options.split() == ["-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=256m"]
    assert all(option in arguments for option in settings.jvm_options.split())
    assert any(argument.startswith("-Dderby.system.home=") for argument in arguments)
