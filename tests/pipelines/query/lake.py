"""A small lake with known rows, written by Spark (Iceberg tables or Delta tables), for every query-side test.

Times are relative to ``anchor`` (now, floored to the minute) so that "last 15 min / 1 h / 24 h" see
known subsets: the dashboard resolves its ranges against the real clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import SparkSession

from catalog.tables import (
    ALL_TABLES,
    BRONZE_EVENTS,
    DQ_RESULTS,
    OPERATOR_KPIS,
    POSTAL_OUTAGES,
    POSTAL_STATUS_COUNTS,
    QUARANTINE,
    SILVER_EVENTS,
    TableDef,
    create_delta_table_sql,
)
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.settings import Settings

FILLED_TABLES = (
    OPERATOR_KPIS,
    POSTAL_STATUS_COUNTS,
    POSTAL_OUTAGES,
    DQ_RESULTS,
    QUARANTINE,
    SILVER_EVENTS,
    BRONZE_EVENTS,
)


def minutes_ago(anchor: datetime, minutes: float) -> datetime:
    return anchor - timedelta(minutes=minutes)


def kpi_row(
    anchor: datetime, minutes: float, operator: str, signals: list[int], precisions: list[float]
) -> dict[str, Any]:
    """One gold window as the gold job writes it: sums and counts, averages derived from them."""
    start = minutes_ago(anchor, minutes)
    precision_sum = Decimal(str(sum(precisions))).quantize(Decimal("0.000001"))
    return {
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "operator": operator,
        "signal_sum": sum(signals),
        "signal_count": len(signals),
        "avg_signal": sum(signals) / len(signals),
        "precision_sum": precision_sum,
        "precision_count": len(precisions),
        "avg_gps_precision_m": sum(precisions) / len(precisions),
        "updated_at": anchor,
    }


def status_row(
    anchor: datetime, minutes: float, postal_code: str, status: int, name: str, count: int
) -> dict[str, Any]:
    start = minutes_ago(anchor, minutes)
    return {
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "postal_code": postal_code,
        "status": status,
        "status_name": name,
        "event_count": count,
        "updated_at": anchor,
    }


def outage_row(anchor: datetime, postal_code: str, start_min: float, end_min: float | None) -> dict[str, Any]:
    return {
        "postal_code": postal_code,
        "outage_start": minutes_ago(anchor, start_min),
        "outage_end": None if end_min is None else minutes_ago(anchor, end_min),
        "readings": 12,
        "bad_readings": 9,
        "devices_affected": 4,
        "worst_bad_share": 0.75,
        "updated_at": anchor,
    }


def dq_row(anchor: datetime, minutes: float, batch_id: int, rows_in: int, quarantined: int, dup: int) -> dict[str, Any]:
    return {
        "query_id": "fixture",
        "batch_id": batch_id,
        "validated_at": minutes_ago(anchor, minutes),
        "suite_name": "silver.network_events",
        "suite_version": "1",
        "rows_in": rows_in,
        "rows_valid": rows_in - quarantined - dup,
        "rows_quarantined": quarantined,
        "rows_duplicate": dup,
        "rows_with_extra_fields": 0,
        "success": quarantined == 0,
        "expectations": [],
    }


def quarantine_row(anchor: datetime, minutes: float, seq: int, reasons: list[str]) -> dict[str, Any]:
    return {
        "data": b"{}",
        "shard_id": "shardId-000000000000",
        "sequence_number": str(seq),
        "arrival_time": minutes_ago(anchor, minutes),
        "ingest_time": minutes_ago(anchor, minutes),
        "reasons": reasons,
        "suite_version": "1",
        "quarantined_at": minutes_ago(anchor, minutes),
        "replayed_at": None,
    }


def silver_row(
    anchor: datetime, minutes: float, seq: int, operator: str, postal: str | None, status: int, name: str
) -> dict[str, Any]:
    moment = minutes_ago(anchor, minutes)
    return {
        "event_id": f"e{seq}",
        "schema_version": 1,
        "event_time": moment,
        "device_id": f"d{seq % 3}",
        "lat": 40.4,
        "lon": -3.7,
        "signal": -80,
        "network": "4G",
        "operator": operator,
        "operator_raw": operator,
        "status": status,
        "status_name": name,
        "speed": 0.0,
        "satellites": 8,
        "gps_precision_m": 5.0,
        "location_provider": "gps",
        "activity": "still",
        "postal_code": postal,
        "extra_fields": [],
        "shard_id": "shardId-000000000000",
        "sequence_number": str(seq),
        "arrival_time": moment,
        "ingest_time": moment,
        "processed_time": moment,
    }


@dataclass
class Lake:
    """The rows written, per table, and the anchor their times are relative to."""

    settings: Settings
    anchor: datetime
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def fixture_rows(anchor: datetime) -> dict[str, list[dict[str, Any]]]:
    """Known rows: two operators over 2 h, three postal codes, one open and two closed outages."""
    return {
        OPERATOR_KPIS.identifier: [
            kpi_row(anchor, 10, "Orange", [-70, -80, -90, -80, -80], [10, 10, 10, 10, 10]),
            kpi_row(anchor, 3, "Orange", [-90, -90, -90], [2, 4]),
            kpi_row(anchor, 9, "VIVO", [-100, -100, -100], [10, 10, 10]),
            kpi_row(anchor, 120, "VIVO", [-50], [100]),
        ],
        POSTAL_STATUS_COUNTS.identifier: [
            status_row(anchor, 10, "28001", 0, "IN_SERVICE", 7),
            status_row(anchor, 10, "28001", 1, "OUT_OF_SERVICE", 2),
            status_row(anchor, 3, "28001", 0, "IN_SERVICE", 3),
            status_row(anchor, 3, "08001", 1, "OUT_OF_SERVICE", 4),
            status_row(anchor, 120, "08001", 0, "IN_SERVICE", 10),
        ],
        POSTAL_OUTAGES.identifier: [
            outage_row(anchor, "08001", 5, None),
            outage_row(anchor, "46001", 40, 30),
            outage_row(anchor, "41001", 30 * 60, 29 * 60),
        ],
        DQ_RESULTS.identifier: [
            dq_row(anchor, 10, 1, 100, 5, 5),
            dq_row(anchor, 3, 2, 50, 0, 0),
        ],
        QUARANTINE.identifier: [
            quarantine_row(anchor, 5, 1, ["signal:range", "lat:null"]),
            quarantine_row(anchor, 5, 2, ["signal:range"]),
        ],
        SILVER_EVENTS.identifier: [
            silver_row(anchor, 10, 1, "Orange", "28001", 0, "IN_SERVICE"),
            silver_row(anchor, 10, 2, "Orange", "28001", 0, "IN_SERVICE"),
            silver_row(anchor, 9, 3, "VIVO", "28001", 1, "OUT_OF_SERVICE"),
            silver_row(anchor, 3, 4, "Orange", "08001", 1, "OUT_OF_SERVICE"),
            silver_row(anchor, 3, 5, "Orange", None, 0, "IN_SERVICE"),
        ],
        BRONZE_EVENTS.identifier: [
            {
                "data": b"{}",
                "stream_name": "telcopulse-events",
                "shard_id": "shardId-000000000000",
                "sequence_number": "1",
                "partition_key": "d1",
                "arrival_time": minutes_ago(anchor, 3),
                "ingest_time": minutes_ago(anchor, 3),
            }
        ],
    }


def append_rows(spark: SparkSession, settings: Settings, table: TableDef, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` through Spark with the table's own schema (no inference), in either table format."""
    name = settings.table(table.identifier)
    schema = spark.table(name).schema
    frame = spark.createDataFrame([tuple(row[f.name] for f in schema.fields) for row in rows], schema=schema)
    if settings.is_delta:
        frame.write.format("delta").mode("append").save(settings.table_location(table.identifier))
    else:
        frame.writeTo(name).append()


def write_lake(spark: SparkSession, settings: Settings, anchor: datetime | None = None) -> Lake:
    """Empty the filled tables (DELETE keeps them; other tables stay as they are) and write the fixture."""
    anchor = anchor or datetime.now(UTC).replace(second=0, microsecond=0)
    bootstrap_tables(spark, settings)
    rows = fixture_rows(anchor)
    for table in FILLED_TABLES:
        spark.sql(f"DELETE FROM {settings.table(table.identifier)}")
        append_rows(spark, settings, table, rows[table.identifier])
    return Lake(settings=settings, anchor=anchor, rows=rows)


def write_delta_lake(spark: SparkSession, settings: Settings, anchor: datetime) -> Lake:
    """The same rows in Delta tables of ``settings``' (Delta) home: every table created, the filled ones appended.

    With the Iceberg lake's ``anchor`` both lakes hold identical rows, so a test's expectations hold for both.
    """
    assert settings.is_delta, "a Delta lake needs Delta settings"
    rows = fixture_rows(anchor)
    for table in ALL_TABLES:
        spark.sql(create_delta_table_sql(table, settings.table(table.identifier)))
    for table in FILLED_TABLES:
        append_rows(spark, settings, table, rows[table.identifier])
    return Lake(settings=settings, anchor=anchor, rows=rows)
