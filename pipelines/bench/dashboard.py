"""Dashboard query latency on a week of gold: p50/p95 per panel query, range and operator filter.

Builds (once per home) a lake shaped like a week of production: 1-minute windows for 20 operators and
200 postal codes, silver readings for the last hours, DQ results per 5-second batch and some quarantine.
Spark creates the tables from ``catalog.tables`` (same partitioning and properties as the jobs);
pyiceberg appends the rows, ``commits_per_day`` commits per day and table, as a streaming job would
leave them before maintenance. Then each query runs on one DuckDBQueryEngine, warm, as the dashboard
runs it when its result cache has expired.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from catalog.tables import (
    BRONZE_EVENTS,
    DQ_RESULTS,
    OPERATOR_KPIS,
    POSTAL_OUTAGES,
    POSTAL_STATUS_COUNTS,
    QUARANTINE,
    SILVER_EVENTS,
)
from dashboard import queries
from dashboard.queries import Filters
from pipelines.settings import Settings

log = logging.getLogger(__name__)
OPERATORS = [f"operator-{i:02d}" for i in range(20)]
POSTAL_CODES = [f"{28000 + i:05d}" for i in range(200)]
STATUSES = [(0, "IN_SERVICE"), (1, "OUT_OF_SERVICE"), (2, "EMERGENCY_ONLY")]
REASONS = ["signal:range", "lat:null", "lon:range", "event_time:future", "decode:json"]
MINUTE_US = 60_000_000


def _timestamps(micros: np.ndarray) -> pa.Array:
    """Microseconds since the epoch as a UTC timestamp array."""
    return pa.array(micros.astype("int64"), pa.timestamp("us", tz="UTC"))


def operator_kpis(windows: np.ndarray, rng: np.random.Generator, now_us: int) -> dict[str, Any]:
    """One operator_kpis row per window and operator: sums and counts, averages derived from them."""
    starts = np.repeat(windows, len(OPERATORS))
    count = rng.integers(20, 200, starts.size)
    signal_sum = (count * rng.uniform(-110, -60, starts.size)).astype("int64")
    precision_count = (count * rng.uniform(0.5, 1.0, starts.size)).astype("int64") + 1
    precision_sum = np.round(precision_count * rng.uniform(3, 30, starts.size), 6)
    return {
        "window_start": _timestamps(starts),
        "window_end": _timestamps(starts + MINUTE_US),
        "operator": pa.array(np.tile(OPERATORS, windows.size)),
        "signal_sum": signal_sum,
        "signal_count": count,
        "avg_signal": signal_sum / count,
        "precision_sum": pa.array(precision_sum).cast(pa.decimal128(38, 6), safe=False),
        "precision_count": precision_count,
        "avg_gps_precision_m": precision_sum / precision_count,
        "updated_at": _timestamps(np.full(starts.size, now_us)),
    }


def postal_status_counts(windows: np.ndarray, rng: np.random.Generator, now_us: int) -> dict[str, Any]:
    """postal_status_counts rows per window, postal code and status (zero counts left out)."""
    cells = windows.size * len(POSTAL_CODES)
    starts = np.repeat(windows, len(POSTAL_CODES) * len(STATUSES))
    postal = np.tile(np.repeat(POSTAL_CODES, len(STATUSES)), windows.size)
    status = np.tile([s for s, _ in STATUSES], cells)
    names = np.tile([n for _, n in STATUSES], cells)
    counts = np.where(status == 0, rng.poisson(5, starts.size), rng.poisson(0.3, starts.size))
    keep = counts > 0
    return {
        "window_start": _timestamps(starts[keep]),
        "window_end": _timestamps(starts[keep] + MINUTE_US),
        "postal_code": pa.array(postal[keep]),
        "status": pa.array(status[keep].astype("int32")),
        "status_name": pa.array(names[keep]),
        "event_count": counts[keep].astype("int64"),
        "updated_at": _timestamps(np.full(int(keep.sum()), now_us)),
    }


def dq_results(start_us: int, end_us: int, rng: np.random.Generator) -> dict[str, Any]:
    """One dq_results row per 5-second silver batch, about 2 % quarantined."""
    validated = np.arange(start_us, end_us, 5_000_000)
    rows_in = rng.integers(50, 500, validated.size)
    quarantined = rng.binomial(rows_in, 0.02)
    duplicate = rng.binomial(rows_in - quarantined, 0.01)
    return {
        "query_id": pa.array(np.full(validated.size, "bench")),
        "batch_id": np.arange(validated.size, dtype="int64"),
        "validated_at": _timestamps(validated),
        "suite_name": pa.array(np.full(validated.size, "silver.network_events")),
        "suite_version": pa.array(np.full(validated.size, "1")),
        "rows_in": rows_in,
        "rows_valid": rows_in - quarantined - duplicate,
        "rows_quarantined": quarantined,
        "rows_duplicate": duplicate,
        "rows_with_extra_fields": np.zeros(validated.size, dtype="int64"),
        "success": pa.array(quarantined == 0),
        "expectations": pa.nulls(validated.size),
    }


def quarantine(start_us: int, end_us: int, rng: np.random.Generator, rows: int) -> dict[str, Any]:
    """``rows`` quarantined records with one or two reasons each."""
    at = np.sort(rng.integers(start_us, end_us, rows))
    reasons = [list(rng.choice(REASONS, size=int(rng.integers(1, 3)), replace=False)) for _ in range(rows)]
    return {
        "data": pa.array([b"{}"] * rows, pa.binary()),
        "shard_id": pa.array(np.full(rows, "shardId-000000000000")),
        "sequence_number": pa.array(np.arange(rows).astype(str)),
        "arrival_time": _timestamps(at),
        "ingest_time": _timestamps(at),
        "reasons": pa.array(reasons, pa.list_(pa.string())),
        "suite_version": pa.array(np.full(rows, "1")),
        "quarantined_at": _timestamps(at),
        "replayed_at": pa.nulls(rows, pa.timestamp("us", tz="UTC")),
    }


def outages(now_us: int, rng: np.random.Generator, rows: int) -> dict[str, Any]:
    """``rows`` outages over the last week; those still running at ``now`` are open."""
    start = now_us - rng.integers(10, 7 * 24 * 60, rows) * MINUTE_US
    length = rng.integers(5, 120, rows) * MINUTE_US
    end = start + length
    ends = [None if still_open else int(moment) for still_open, moment in zip(end > now_us, end, strict=True)]
    return {
        "postal_code": pa.array(rng.choice(POSTAL_CODES, rows)),
        "outage_start": _timestamps(start),
        "outage_end": pa.array(ends, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "readings": rng.integers(20, 200, rows),
        "bad_readings": rng.integers(10, 20, rows),
        "devices_affected": rng.integers(3, 30, rows),
        "worst_bad_share": rng.uniform(0.5, 1.0, rows),
        "updated_at": _timestamps(np.full(rows, now_us)),
    }


def silver_events(start_us: int, end_us: int, rng: np.random.Generator, per_second: int) -> dict[str, Any]:
    """``per_second`` silver readings for each second of ``[start_us, end_us)``."""
    rows = int((end_us - start_us) / 1_000_000 * per_second)
    at = np.sort(rng.integers(start_us, end_us, rows))
    status = rng.choice([0, 0, 0, 0, 1, 2], rows).astype("int32")
    return {
        "event_id": pa.array(np.arange(rows).astype(str)),
        "schema_version": np.ones(rows, dtype="int32"),
        "event_time": _timestamps(at),
        "device_id": pa.array(rng.integers(0, 5000, rows).astype(str)),
        "lat": rng.uniform(40, 41, rows),
        "lon": rng.uniform(-4, -3, rows),
        "signal": rng.integers(-110, -60, rows).astype("int32"),
        "network": pa.array(np.full(rows, "4G")),
        "operator": pa.array(rng.choice(OPERATORS, rows)),
        "operator_raw": pa.nulls(rows, pa.string()),
        "status": status,
        "status_name": pa.array(np.array([n for _, n in STATUSES])[status]),
        "speed": rng.uniform(0, 30, rows),
        "satellites": rng.integers(3, 12, rows).astype("int32"),
        "gps_precision_m": rng.uniform(3, 30, rows),
        "location_provider": pa.array(np.full(rows, "gps")),
        "activity": pa.array(np.full(rows, "still")),
        "postal_code": pa.array(rng.choice(POSTAL_CODES, rows)),
        "extra_fields": pa.nulls(rows, pa.list_(pa.string())),
        "shard_id": pa.array(np.full(rows, "shardId-000000000000")),
        "sequence_number": pa.array(np.arange(rows).astype(str)),
        "arrival_time": _timestamps(at),
        "ingest_time": _timestamps(at),
        "processed_time": _timestamps(at),
    }


def build(settings: Settings, *, days: int, commits_per_day: int, silver_hours: int) -> None:
    """Create the tables with Spark (unless the jobs did), then append a week of rows with pyiceberg."""
    from catalog.tables import ALL_TABLES
    from pipelines.adapters.iceberg import bootstrap_tables, pyiceberg_catalog

    catalog = pyiceberg_catalog(settings) if settings.catalog_db.is_file() else None
    if catalog is None or not all(catalog.table_exists(t.identifier) for t in ALL_TABLES):
        from pipelines.spark import build_spark

        spark = build_spark(settings, "telcopulse-bench", cores=1)
        bootstrap_tables(spark, settings)
        spark.stop()
        catalog = pyiceberg_catalog(settings)
    rng = np.random.default_rng(7)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now_us = int(now.timestamp() * 1_000_000)
    start_us = now_us - days * 24 * 60 * MINUTE_US

    def append(table_id: str, columns: dict[str, Any]) -> None:
        table = catalog.load_table(table_id)
        table.append(pa.Table.from_pydict(columns, schema=table.schema().as_arrow()))

    chunk_minutes = 24 * 60 // commits_per_day
    started = time.perf_counter()
    for chunk_start in range(start_us, now_us, chunk_minutes * MINUTE_US):
        windows = np.arange(chunk_start, min(chunk_start + chunk_minutes * MINUTE_US, now_us), MINUTE_US)
        append(OPERATOR_KPIS.identifier, operator_kpis(windows, rng, now_us))
        append(POSTAL_STATUS_COUNTS.identifier, postal_status_counts(windows, rng, now_us))
    append(DQ_RESULTS.identifier, dq_results(start_us, now_us, rng))
    append(QUARANTINE.identifier, quarantine(start_us, now_us, rng, 20_000))
    append(POSTAL_OUTAGES.identifier, outages(now_us, rng, 300))
    silver_start = now_us - silver_hours * 60 * MINUTE_US
    for hour_start in range(silver_start, now_us, 60 * MINUTE_US):
        append(SILVER_EVENTS.identifier, silver_events(hour_start, hour_start + 60 * MINUTE_US, rng, 100))
    append(
        BRONZE_EVENTS.identifier,
        {
            "data": pa.array([b"{}"], pa.binary()),
            "stream_name": ["telcopulse-events"],
            "shard_id": ["shardId-000000000000"],
            "sequence_number": ["1"],
            "partition_key": ["d"],
            "arrival_time": _timestamps(np.array([now_us])),
            "ingest_time": _timestamps(np.array([now_us])),
        },
    )
    log.info("built %d days of gold in %.0f s", days, time.perf_counter() - started)


def measure(run: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` runs after one warm-up run (extension loading, first metadata read)."""
    run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


RANGES = {"15 min": timedelta(minutes=15), "1 h": timedelta(hours=1), "24 h": timedelta(hours=24)}
FILTERS = {"all operators": (), "3 operators": tuple(OPERATORS[:3])}


def dashboard_latency(
    settings: Settings,
    *,
    days: int = 7,
    commits_per_day: int = 24,
    silver_hours: int = 2,
    repeat: int = 30,
    add_rows: bool = False,
) -> dict[str, Any]:
    """Build the lake if ``settings.home`` has none (or ``add_rows``), then time every panel query."""
    if add_rows or not settings.catalog_db.is_file():
        build(settings, days=days, commits_per_day=commits_per_day, silver_hours=silver_hours)

    from pipelines.adapters.duckdb_engine import DuckDBQueryEngine

    engine = DuckDBQueryEngine(settings)
    sizes = {
        name: engine.query(f"SELECT count(*) AS n FROM {name}").column("n")[0].as_py()
        for name in (OPERATOR_KPIS.identifier, POSTAL_STATUS_COUNTS.identifier, SILVER_EVENTS.identifier)
    }
    now = datetime.now(UTC)
    cases: list[dict[str, Any]] = []
    for range_name, span in RANGES.items():
        for filter_name, operators in FILTERS.items():
            chosen = Filters(now - span, now, operators)
            page = []
            for name, query in queries.PANEL_QUERIES.items():
                samples = measure(lambda q=query, f=chosen: q(engine, f), repeat)  # type: ignore[misc]
                page.append(statistics.median(samples))
                cases.append(
                    {
                        "query": name,
                        "range": range_name,
                        "filter": filter_name,
                        "p50_ms": round(statistics.median(samples), 1),
                        "p95_ms": round(p95(samples), 1),
                    }
                )
            cases.append(
                {
                    "query": "(page, sum of p50)",
                    "range": range_name,
                    "filter": filter_name,
                    "p50_ms": round(sum(page), 1),
                }
            )
    engine.close()
    per_query = [case for case in cases if "p95_ms" in case]
    kpis = [case for case in per_query if case["query"] == "operator_kpis"]
    return {
        "days": days,
        "commits_per_day": commits_per_day,
        "rows": sizes,
        "repeat": repeat,
        "cases": cases,
        "worst_p95_ms": max(case["p95_ms"] for case in per_query),
        "operator_kpis_p95_ms": max(case["p95_ms"] for case in kpis),
        "page_p50_ms_24h": next(
            case["p50_ms"] for case in cases if case["query"].startswith("(page") and case["range"] == "24 h"
        ),
    }
