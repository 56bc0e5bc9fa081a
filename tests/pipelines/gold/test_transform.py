from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from pipelines.gold import schema
from pipelines.gold.transform import (
    OutageRule,
    detect_outages,
    operator_kpi_deltas,
    postal_health_deltas,
    postal_status_deltas,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
READINGS = (
    "event_time timestamp, operator string, signal int, gps_precision_m double, postal_code string, "
    "status int, status_name string, device_id string"
)


def readings(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, READINGS)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_operator_kpi_deltas_sum_per_window_and_group_missing_operator_as_unknown(
    spark: SparkSession,
) -> None:
    df = readings(
        spark,
        [
            (at(1), "Orange", 10, 5.5, "1", 0, "STATE_IN_SERVICE", "d1"),
            (at(59), "Orange", 20, None, "1", 0, "STATE_IN_SERVICE", "d2"),
            (at(60), "Orange", 7, 1.25, "1", 0, "STATE_IN_SERVICE", "d1"),
            (at(3), None, 4, 2.0, None, 0, "STATE_IN_SERVICE", None),
        ],
    )
    expected = spark.createDataFrame(
        [
            (at(0), at(60), "Orange", 30, 2, 15.0, Decimal("5.5"), 1, 5.5, NOW),
            (at(60), at(120), "Orange", 7, 1, 7.0, Decimal("1.25"), 1, 1.25, NOW),
            (at(0), at(60), "unknown", 4, 1, 4.0, Decimal("2.0"), 1, 2.0, NOW),
        ],
        schema.OPERATOR_KPIS,
    )

    result = operator_kpi_deltas(df, seconds=60, updated_at=NOW)

    assert_approx_df_equality(result, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_postal_status_deltas_count_each_status(spark: SparkSession) -> None:
    df = readings(
        spark,
        [
            (at(1), "O", 1, 1.0, "08001", 0, "STATE_IN_SERVICE", "d1"),
            (at(2), "O", 1, 1.0, "08001", 0, "STATE_IN_SERVICE", "d2"),
            (at(3), "O", 1, 1.0, "08001", 1, "STATE_OUT_OF_SERVICE", "d3"),
            (at(4), "O", 1, 1.0, None, 0, "STATE_IN_SERVICE", "d4"),
        ],
    )
    expected = spark.createDataFrame(
        [
            (at(0), at(60), "08001", 0, "STATE_IN_SERVICE", 2, NOW),
            (at(0), at(60), "08001", 1, "STATE_OUT_OF_SERVICE", 1, NOW),
            (at(0), at(60), "unknown", 0, "STATE_IN_SERVICE", 1, NOW),
        ],
        schema.POSTAL_STATUS_COUNTS,
    )

    assert_df_equality(
        postal_status_deltas(df, seconds=60, updated_at=NOW),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_postal_health_deltas_count_not_in_service_and_collect_devices(spark: SparkSession) -> None:
    df = readings(
        spark,
        [
            (at(1), "O", 1, 1.0, "08001", 1, "STATE_OUT_OF_SERVICE", "d2"),
            (at(2), "O", 1, 1.0, "08001", 2, "STATE_EMERGENCY_ONLY", "d1"),
            (at(3), "O", 1, 1.0, "08001", 3, "STATE_POWER_OFF", "d1"),
            (at(4), "O", 1, 1.0, "08001", 0, "STATE_IN_SERVICE", None),
        ],
    )
    expected = spark.createDataFrame(
        [(at(0), at(60), "08001", 4, 2, ["d1", "d2"], NOW)], schema.POSTAL_WINDOW_HEALTH
    )

    assert_df_equality(postal_health_deltas(df, seconds=60, updated_at=NOW), expected, ignore_nullable=True)


RULE = OutageRule(min_readings=5, min_devices=3, min_bad_share=0.5, close_after_healthy_windows=2)
BAD = (10, 8, ["a", "b", "c"])
OK = (10, 0, ["a", "b", "c"])
THIN = (2, 2, ["a", "b"])  # all out of service but too little evidence: neither bad nor healthy


def health(spark: SparkSession, windows: list[tuple[int, tuple[int, int, list[str]]]]) -> DataFrame:
    rows = [(at(60 * i), at(60 * (i + 1)), "08001", r, b, d, NOW) for i, (r, b, d) in windows]
    return spark.createDataFrame(rows, schema.POSTAL_WINDOW_HEALTH)


def outages(
    spark: SparkSession, windows: list[tuple[int, tuple[int, int, list[str]]]]
) -> list[tuple[object, ...]]:
    result = (
        detect_outages(health(spark, windows), rule=RULE, updated_at=NOW).orderBy("outage_start").collect()
    )

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value else None

    return [
        (utc(r.outage_start), utc(r.outage_end), r.readings, r.bad_readings, r.devices_affected)
        for r in result
    ]


def test_detect_outages_opens_and_closes_after_two_healthy_windows(spark: SparkSession) -> None:
    found = outages(spark, [(0, OK), (1, BAD), (2, BAD), (3, OK), (4, OK), (5, OK)])

    assert found == [(at(60), at(180), 20, 16, 3)]


def test_detect_outages_stays_open_without_two_healthy_windows(spark: SparkSession) -> None:
    found = outages(spark, [(1, BAD), (2, OK), (3, BAD), (4, OK)])

    assert found == [(at(60), None, 20, 16, 3)]


def test_detect_outages_ignores_thin_evidence_and_splits_separate_outages(spark: SparkSession) -> None:
    found = outages(spark, [(0, THIN), (1, BAD), (2, OK), (3, THIN), (4, OK), (5, BAD), (6, OK), (7, OK)])

    assert found == [(at(60), at(120), 10, 8, 3), (at(300), at(360), 10, 8, 3)]


def test_detect_outages_needs_enough_devices(spark: SparkSession) -> None:
    assert outages(spark, [(1, (10, 10, ["a", "b"])), (2, (10, 10, ["a", "b"]))]) == []
