"""Gold transforms: silver readings -> additive per-window deltas; window health -> outages. No I/O.

Deltas carry sums and counts only, so merging them in any order, late or early, gives exact totals;
averages are always derived as sum/count, never averaged again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.errors import SchemaMismatchError
from pipelines.gold import schema


@dataclass(frozen=True)
class OutageRule:
    """In a window: >= min_readings readings from >= min_devices devices, >= min_bad_share of them status 1/2.

    An outage ends once ``close_after_healthy_windows`` windows in a row show service again.
    """

    min_readings: int = 5
    min_devices: int = 3
    min_bad_share: float = 0.5
    close_after_healthy_windows: int = 2


def _require(df: DataFrame, step: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaMismatchError(step, missing)


def _or_unknown(column: str) -> Column:
    return F.coalesce(F.col(column), F.lit(schema.UNKNOWN))


def with_window(df: DataFrame, *, seconds: int) -> DataFrame:
    """Tumbling event-time window of ``seconds``: ``window_start`` (inclusive) and ``window_end`` (exclusive)."""
    _require(df, "with_window", ("event_time",))
    start = F.floor(F.col("event_time").cast("long") / seconds) * seconds
    return df.withColumn("window_start", F.timestamp_seconds(start)).withColumn(
        "window_end", F.timestamp_seconds(start + seconds)
    )


def operator_kpi_deltas(df: DataFrame, *, seconds: int, updated_at: datetime) -> DataFrame:
    """Per window and operator (missing: ``unknown``): signal and precision sums and counts of this input."""
    _require(df, "operator_kpi_deltas", ("event_time", "operator", "signal", "gps_precision_m"))
    precision = F.col("gps_precision_m").cast(schema.PRECISION_SUM)
    return (
        with_window(df, seconds=seconds)
        .groupBy("window_start", "window_end", _or_unknown("operator").alias("operator"))
        .agg(
            F.sum(F.col("signal").cast("long")).alias("signal_sum"),
            F.count("signal").alias("signal_count"),
            F.coalesce(F.sum(precision), F.lit(0).cast(schema.PRECISION_SUM)).alias("precision_sum"),
            F.count(precision).alias("precision_count"),
        )
        .transform(with_kpi_averages)
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
        .select(*schema.OPERATOR_KPIS.fieldNames())
    )


def with_kpi_averages(df: DataFrame) -> DataFrame:
    """``avg_*`` = sum / count (NULL when the count is 0): the one rule for averages everywhere."""
    signal_count = F.when(F.col("signal_count") != 0, F.col("signal_count"))
    precision_count = F.when(F.col("precision_count") != 0, F.col("precision_count"))
    return df.withColumn("avg_signal", F.col("signal_sum") / signal_count).withColumn(
        "avg_gps_precision_m", (F.col("precision_sum") / precision_count).cast("double")
    )


def postal_status_deltas(df: DataFrame, *, seconds: int, updated_at: datetime) -> DataFrame:
    """Per window, postal code (missing: ``unknown``) and network status: how many readings."""
    _require(df, "postal_status_deltas", ("event_time", "postal_code", "status", "status_name"))
    return (
        with_window(df, seconds=seconds)
        .groupBy(
            "window_start",
            "window_end",
            _or_unknown("postal_code").alias("postal_code"),
            "status",
            "status_name",
        )
        .agg(F.count(F.lit(1)).alias("event_count"))
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
        .select(*schema.POSTAL_STATUS_COUNTS.fieldNames())
    )


def postal_health_deltas(df: DataFrame, *, seconds: int, updated_at: datetime) -> DataFrame:
    """Per window and known postal code: readings, not-in-service readings (status 1/2) and the device set."""
    _require(df, "postal_health_deltas", ("event_time", "postal_code", "status", "device_id"))
    return (
        with_window(df.where(F.col("postal_code").isNotNull()), seconds=seconds)
        .groupBy("window_start", "window_end", "postal_code")
        .agg(
            F.count(F.lit(1)).alias("readings"),
            F.sum(F.when(F.col("status").isin(*schema.BAD_STATUSES), 1).otherwise(0))
            .cast("long")
            .alias("bad_readings"),
            F.array_sort(F.collect_set("device_id")).alias("device_ids"),
        )
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
        .select(*schema.POSTAL_WINDOW_HEALTH.fieldNames())
    )


def bad_window(rule: OutageRule) -> Column:
    """True for a window of ``postal_window_health`` where the rule holds: it counts towards an outage."""
    return (
        (F.col("readings") >= rule.min_readings)
        & (F.size("device_ids") >= rule.min_devices)
        & (F.col("bad_readings") / F.col("readings") >= rule.min_bad_share)
    )


def detect_outages(health: DataFrame, *, rule: OutageRule, updated_at: datetime) -> DataFrame:
    """Window health of some postal codes -> one row per outage (``outage_end`` NULL while ongoing).

    Windows are *bad* (the rule holds), *healthy* (readings, share under the threshold) or neither
    (too little evidence; ignored). Each bad window opens a group with the healthy windows after it;
    a group starts a new outage unless fewer than ``close_after_healthy_windows`` healthy windows
    separate it from the previous bad window.
    """
    _require(
        health,
        "detect_outages",
        ("postal_code", "window_start", "window_end", "readings", "bad_readings", "device_ids"),
    )
    share = F.col("bad_readings") / F.col("readings")
    is_bad = bad_window(rule)
    by_time = Window.partitionBy("postal_code").orderBy("window_start").rowsBetween(Window.unboundedPreceding, 0)
    classified = (
        health.withColumn("share", share)
        .withColumn("kind", F.when(is_bad, "bad").when((F.col("readings") > 0) & (share < rule.min_bad_share), "ok"))
        .where(F.col("kind").isNotNull())
        .withColumn("grp", F.sum(F.when(F.col("kind") == "bad", 1).otherwise(0)).over(by_time))
        .where(F.col("grp") > 0)
    )
    bad = F.col("kind") == "bad"
    groups = classified.groupBy("postal_code", "grp").agg(
        F.min(F.when(bad, F.col("window_start"))).alias("group_start"),
        F.max(F.when(bad, F.col("window_end"))).alias("bad_end"),
        F.sum(F.when(~bad, 1).otherwise(0)).alias("healthy_after"),
        F.sum(F.when(bad, F.col("readings"))).alias("readings"),
        F.sum(F.when(bad, F.col("bad_readings"))).alias("bad_readings"),
        F.flatten(F.collect_list(F.when(bad, F.col("device_ids")))).alias("devices"),
        F.max(F.when(bad, F.col("share"))).alias("worst_bad_share"),
    )
    by_group = Window.partitionBy("postal_code").orderBy("grp")
    previous_healthy = F.lag("healthy_after").over(by_group)
    numbered = groups.withColumn(
        "opens",
        (previous_healthy.isNull() | (previous_healthy >= rule.close_after_healthy_windows)).cast("int"),
    ).withColumn("outage", F.sum("opens").over(by_group.rowsBetween(Window.unboundedPreceding, 0)))
    return (
        numbered.groupBy("postal_code", "outage")
        .agg(
            F.min("group_start").alias("outage_start"),
            F.max("bad_end").alias("last_bad_end"),
            F.max_by("healthy_after", "grp").alias("trailing_healthy"),
            F.sum("readings").cast("long").alias("readings"),
            F.sum("bad_readings").cast("long").alias("bad_readings"),
            F.size(F.array_distinct(F.flatten(F.collect_list("devices")))).cast("long").alias("devices_affected"),
            F.max("worst_bad_share").alias("worst_bad_share"),
        )
        .withColumn(
            "outage_end",
            F.when(F.col("trailing_healthy") >= rule.close_after_healthy_windows, F.col("last_bad_end")),
        )
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
        .select(*schema.POSTAL_OUTAGES.fieldNames())
    )
