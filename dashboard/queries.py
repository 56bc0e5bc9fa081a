"""Every query of the dashboard, over the QueryEngine port: the same SQL runs on DuckDB and on Athena.

Rules that hold for every query here:
- user values (time range, operators) are bound ``?`` parameters; only the *number* of placeholders and
  constants chosen in this module are ever written into the SQL text;
- averages are ``sum(sum) / sum(count)`` over gold windows, never averages of averages;
- a window belongs to a range when ``range.start <= window_start < range.end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pandas as pd

from pipelines.ports import QueryEngine

OPERATOR_LOOKBACK = timedelta(days=7)
# Gold's label for a reading without operator or postal code (pipelines.gold.schema.UNKNOWN; a test keeps
# them equal; importing it here would pull Spark into the dashboard's image).
UNKNOWN = "unknown"
MINUTE_BUCKETS_UP_TO = timedelta(hours=2)

# Freshness is judged per layer by its newest Iceberg commit; gold by its per-batch tables (outages commit
# only when an outage changes), silver by the table it writes every batch even when no row is valid.
LAYER_SNAPSHOT_TABLES = {
    "bronze": ("telcopulse_bronze.network_events",),
    "silver": ("telcopulse_silver.network_events", "telcopulse_silver.dq_results"),
    "gold": (
        "telcopulse_gold.operator_kpis",
        "telcopulse_gold.postal_status_counts",
        "telcopulse_gold.postal_window_health",
    ),
}


@dataclass(frozen=True)
class Filters:
    """What the user picked: a UTC time range ``[start, end)`` and operators (empty means every operator)."""

    start: datetime
    end: datetime
    operators: tuple[str, ...] = ()

    @property
    def span(self) -> timedelta:
        return self.end - self.start


class Level(StrEnum):
    OK = "ok"
    LAGGING = "lagging"
    STALE = "stale"
    NO_DATA = "no data"


def freshness_level(age: timedelta | None, max_age: timedelta) -> Level:
    """Lagging (amber) past half the allowed age, stale (red) past it: the limit `telcopulse status` uses."""
    if age is None:
        return Level.NO_DATA
    if age > max_age:
        return Level.STALE
    if age > max_age / 2:
        return Level.LAGGING
    return Level.OK


def _in_operators(column: str, operators: tuple[str, ...]) -> tuple[str, list[Any]]:
    """``AND column IN (?, ?)``: one placeholder per operator, the names themselves bound."""
    if not operators:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in operators)})", list(operators)


def _frame(engine: QueryEngine, sql: str, params: list[Any]) -> pd.DataFrame:
    return engine.query(sql, params).to_pandas()


def _bucket_unit(span: timedelta) -> str:
    return "minute" if span <= MINUTE_BUCKETS_UP_TO else "hour"


def operator_kpis(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Average signal and GPS precision per operator in the range: sum of sums / sum of counts."""
    operator_sql, operator_params = _in_operators("operator", filters.operators)
    sql = f"""
        SELECT
            operator,
            CAST(sum(signal_sum) AS DOUBLE) / NULLIF(sum(signal_count), 0) AS avg_signal,
            CAST(sum(precision_sum) AS DOUBLE) / NULLIF(sum(precision_count), 0) AS avg_gps_precision_m,
            CAST(sum(signal_count) AS BIGINT) AS readings,
            count(*) AS windows
        FROM telcopulse_gold.operator_kpis
        WHERE window_start >= ? AND window_start < ?{operator_sql}
        GROUP BY operator
        ORDER BY operator
    """
    return _frame(engine, sql, [filters.start, filters.end, *operator_params])


def status_counts(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Readings per postal code and network status in the range.

    Gold has no operator column, so with an operator filter the counts come from silver's readings of the
    same range (the rows gold counted), with gold's label for a missing operator or postal code.
    """
    if filters.operators:
        operator_sql, operator_params = _in_operators("operator", filters.operators)
        sql = f"""
            SELECT postal_code, status_name, count(*) AS readings
            FROM (
                SELECT coalesce(postal_code, ?) AS postal_code, coalesce(operator, ?) AS operator, status_name
                FROM telcopulse_silver.network_events
                WHERE event_time >= ? AND event_time < ?
            ) AS labelled
            WHERE 1 = 1{operator_sql}
            GROUP BY postal_code, status_name
            ORDER BY postal_code, status_name
        """
        return _frame(engine, sql, [UNKNOWN, UNKNOWN, filters.start, filters.end, *operator_params])
    sql = """
        SELECT postal_code, status_name, CAST(sum(event_count) AS BIGINT) AS readings
        FROM telcopulse_gold.postal_status_counts
        WHERE window_start >= ? AND window_start < ?
        GROUP BY postal_code, status_name
        ORDER BY postal_code, status_name
    """
    return _frame(engine, sql, [filters.start, filters.end])


def outages(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Every open outage (whenever it started) and the outages that ended inside the range, open first.

    Outages are per postal code across all operators: the operator filter does not apply.
    """
    sql = """
        SELECT
            postal_code,
            outage_start,
            outage_end,
            outage_end IS NULL AS is_open,
            readings,
            bad_readings,
            devices_affected,
            worst_bad_share,
            updated_at
        FROM telcopulse_gold.postal_outages
        WHERE outage_end IS NULL OR (outage_end >= ? AND outage_start < ?)
        ORDER BY CASE WHEN outage_end IS NULL THEN 0 ELSE 1 END, outage_start DESC, postal_code
    """
    return _frame(engine, sql, [filters.start, filters.end])


def gold_freshness(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Newest gold window and last gold update (for the selected operators), whatever the time range."""
    operator_sql, operator_params = _in_operators("operator", filters.operators)
    sql = f"""
        SELECT max(window_start) AS newest_window_start, max(window_end) AS newest_window_end,
               max(updated_at) AS last_updated, count(*) AS windows
        FROM telcopulse_gold.operator_kpis
        WHERE 1 = 1{operator_sql}
    """
    return _frame(engine, sql, operator_params)


def layer_commits(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Newest Iceberg commit per layer, from the tables' ``$snapshots`` metadata (no data files read)."""
    parts = []
    for layer, tables in LAYER_SNAPSHOT_TABLES.items():
        for table in tables:
            namespace, name = table.split(".")
            snapshots = f'{namespace}."{name}$snapshots"'
            parts.append(f"SELECT '{layer}' AS layer, max(committed_at) AS last_commit FROM {snapshots}")
    sql = f"""
        SELECT layer, max(last_commit) AS last_commit
        FROM ({" UNION ALL ".join(parts)}) AS commits
        GROUP BY layer
    """
    frame = _frame(engine, sql, [])
    order = {layer: i for i, layer in enumerate(LAYER_SNAPSHOT_TABLES)}
    return frame.sort_values("layer", key=lambda layers: layers.map(order)).reset_index(drop=True)


def dq_pass_rate(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Silver pass rate per minute (ranges up to 2 h) or hour: (rows_in - rows_quarantined) / rows_in.

    Duplicates are redeliveries that dedup drops, not quality failures (as in v_dq_pass_rate_hourly).
    """
    unit = _bucket_unit(filters.span)
    sql = f"""
        SELECT
            date_trunc('{unit}', validated_at) AS bucket,
            CAST(sum(rows_in) AS BIGINT) AS rows_in,
            CAST(sum(rows_quarantined) AS BIGINT) AS rows_quarantined,
            CAST(sum(rows_in) - sum(rows_quarantined) AS DOUBLE) / NULLIF(sum(rows_in), 0) AS pass_rate,
            count(*) AS batches
        FROM telcopulse_silver.dq_results
        WHERE validated_at >= ? AND validated_at < ?
        GROUP BY date_trunc('{unit}', validated_at)
        ORDER BY bucket
    """
    return _frame(engine, sql, [filters.start, filters.end])


def quarantine_reasons(engine: QueryEngine, filters: Filters) -> pd.DataFrame:
    """Quarantined records per reason in the range; a record with two reasons counts under both."""
    sql = """
        SELECT r.reason, count(*) AS records
        FROM telcopulse_silver.quarantine AS q
        CROSS JOIN UNNEST(q.reasons) AS r (reason)
        WHERE q.quarantined_at >= ? AND q.quarantined_at < ?
        GROUP BY r.reason
        ORDER BY records DESC, r.reason
    """
    return _frame(engine, sql, [filters.start, filters.end])


def known_operators(engine: QueryEngine, now: datetime) -> list[str]:
    """Operators seen in gold over the last week: the choices of the operator filter."""
    sql = """
        SELECT DISTINCT operator FROM telcopulse_gold.operator_kpis
        WHERE window_start >= ?
        ORDER BY operator
    """
    return [str(name) for name in _frame(engine, sql, [now - OPERATOR_LOOKBACK])["operator"]]


def overall_pass_rate(series: pd.DataFrame) -> float | None:
    """The range's pass rate from the per-bucket sums (divide last), None without input rows."""
    rows_in = int(series["rows_in"].sum()) if not series.empty else 0
    if rows_in == 0:
        return None
    return (rows_in - int(series["rows_quarantined"].sum())) / rows_in


def age(moment: Any, now: datetime) -> timedelta | None:
    """How long ago ``moment`` was (None when there is none yet)."""
    if moment is None or pd.isna(moment):
        return None
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return max(now - stamp.to_pydatetime(), timedelta(0))


PANEL_QUERIES = {
    query.__name__: query
    for query in (
        operator_kpis,
        status_counts,
        outages,
        gold_freshness,
        layer_commits,
        dq_pass_rate,
        quarantine_reasons,
    )
}
