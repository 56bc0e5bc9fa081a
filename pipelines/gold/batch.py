"""One gold micro-batch: additive deltas MERGEd into the KPI tables, then outages recomputed where touched.

The three additive MERGEs are independent and run side by side (``ledger.write_all``); the outage MERGE
reads window health, so it runs after them.

Every MERGE is stamped (query id, batch id, source range) and skipped when its stamp is already in the
table, so a replayed batch never counts twice. The ON clause bounds the target to the batch's windows,
so a MERGE reads the few day-partitions the batch touches, not the table.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from catalog.tables import OPERATOR_KPIS, POSTAL_HEALTH, POSTAL_OUTAGES, POSTAL_STATUS_COUNTS
from pipelines import ledger
from pipelines.faults import crash_point
from pipelines.gold.schema import POSTAL_OUTAGES as POSTAL_OUTAGES_SCHEMA
from pipelines.gold.transform import (
    OutageRule,
    bad_window,
    detect_outages,
    operator_kpi_deltas,
    postal_health_deltas,
    postal_status_deltas,
)
from pipelines.logs import Phases, lag_seconds, log_batch
from pipelines.settings import Settings

log = logging.getLogger(__name__)
WRITER = "gold"
SOURCE_RANGE = "telcopulse.source-range"
LATE_ROWS = "telcopulse.late-rows"


SILVER_COLUMNS = (
    "event_time",
    "processed_time",
    "operator",
    "signal",
    "gps_precision_m",
    "postal_code",
    "status",
    "status_name",
    "device_id",
)


@dataclass(frozen=True)
class AdditiveMerge:
    """One KPI table's MERGE of a batch: its deltas, the keys they match on, the columns they add to."""

    table: str
    deltas: DataFrame
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    extra_updates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldTables:
    operator_kpis: str
    postal_status_counts: str
    postal_window_health: str
    postal_outages: str


def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value.replace(tzinfo=None).isoformat(sep=' ')}'"


def additive_merge_sql(
    target: str,
    source: str,
    *,
    keys: tuple[str, ...],
    sums: tuple[str, ...],
    extra_updates: dict[str, str],
    lo: datetime,
    hi: datetime,
) -> str:
    """MERGE that adds ``sums`` of matching rows and inserts new ones, bounded to windows in [lo, hi]."""
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    updates = [f"{c} = t.{c} + s.{c}" for c in sums] + [f"{c} = {e}" for c, e in extra_updates.items()]
    return (
        f"MERGE INTO {target} t USING {source} s "
        f"ON {on} AND t.window_start BETWEEN {_ts(lo)} AND {_ts(hi)} "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(updates)}, updated_at = s.updated_at "
        "WHEN NOT MATCHED THEN INSERT *"
    )


def _added(column: str) -> str:
    return f"(t.{column} + s.{column})"


KPI_AVERAGES = {
    "avg_signal": f"{_added('signal_sum')} / nullif({_added('signal_count')}, 0)",
    "avg_gps_precision_m": f"CAST({_added('precision_sum')} / nullif({_added('precision_count')}, 0) AS DOUBLE)",
}


class GoldBatch:
    """Callable for ``foreachBatch`` over silver appends."""

    def __init__(
        self,
        *,
        query_id: str,
        tables: GoldTables,
        window_seconds: int,
        rule: OutageRule,
        outage_lookback: timedelta,
        late_after: timedelta,
        source_range: object = None,
    ):
        self._query_id = query_id
        self._tables = tables
        self._seconds = window_seconds
        self._rule = rule
        self._lookback = outage_lookback
        self._late_after = late_after
        self._source_range = source_range
        self.rows_merged = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, query_id: str, source_range: Callable[[int], str] | None = None
    ) -> GoldBatch:
        """The gold micro-batch with the tables and rules that ``settings`` name."""
        return cls(
            query_id=query_id,
            tables=GoldTables(
                *(
                    settings.table(t.identifier)
                    for t in (OPERATOR_KPIS, POSTAL_STATUS_COUNTS, POSTAL_HEALTH, POSTAL_OUTAGES)
                )
            ),
            window_seconds=settings.window_seconds,
            rule=OutageRule(
                settings.outage_min_readings,
                settings.outage_min_devices,
                settings.outage_min_bad_share,
                settings.outage_close_after_healthy_windows,
            ),
            outage_lookback=timedelta(hours=settings.outage_lookback_hours),
            late_after=timedelta(seconds=settings.late_after_seconds),
            source_range=source_range,
        )

    def process(self, silver: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        phases = Phases()
        spark = silver.sparkSession
        now = datetime.now(UTC)
        silver = silver.select(*SILVER_COLUMNS).persist()
        try:
            stats = silver.agg(
                F.count(F.lit(1)),
                F.min("event_time"),
                F.max("event_time"),
                F.sum(F.when(F.col("event_time") < F.lit(now - self._late_after), 1).otherwise(0)),
                F.min("processed_time"),
            ).first()
            assert stats is not None
            rows, first_event, last_event, late = int(stats[0]), stats[1], stats[2], int(stats[3] or 0)
            if rows == 0:
                return
            phases.mark("stats")
            extra = {LATE_ROWS: str(late)}
            if callable(self._source_range):
                extra[SOURCE_RANGE] = str(self._source_range(batch_id))
            stamp = ledger.Stamp(WRITER, self._query_id, batch_id, extra)
            lo = first_event - timedelta(seconds=self._seconds)
            hi = last_event
            merges = self._additive_merges(silver, now)
            ledger.write_all(
                [partial(self._merge, spark, stamp, m, lo=lo, hi=hi) for m in merges],
                tables=[m.table for m in merges],
            )
            phases.mark("merge_kpis_counts_health")
            crash_point("gold.after-health", batch_id)
            self._recompute_outages(spark, stamp, silver, lo=lo, hi=hi, now=now)
            phases.mark("merge_postal_outages")
        finally:
            silver.unpersist()
        self.rows_merged += rows
        log_batch(
            log,
            layer=WRITER,
            batch_id=batch_id,
            rows_in=rows,
            rows_out=rows,
            rows_quarantined=0,
            late_rows=late,
            duration_s=round(time.monotonic() - started, 3),
            lag_s=lag_seconds(stats[4]),
            phases=phases.seconds,
        )

    def _additive_merges(self, silver: DataFrame, now: datetime) -> list[AdditiveMerge]:
        """The batch's deltas for the three additive KPI tables (independent of each other)."""
        return [
            AdditiveMerge(
                self._tables.operator_kpis,
                operator_kpi_deltas(silver, seconds=self._seconds, updated_at=now),
                keys=("window_start", "operator"),
                sums=("signal_sum", "signal_count", "precision_sum", "precision_count"),
                extra_updates=KPI_AVERAGES,
            ),
            AdditiveMerge(
                self._tables.postal_status_counts,
                postal_status_deltas(silver, seconds=self._seconds, updated_at=now),
                keys=("window_start", "postal_code", "status", "status_name"),
                sums=("event_count",),
            ),
            AdditiveMerge(
                self._tables.postal_window_health,
                postal_health_deltas(silver, seconds=self._seconds, updated_at=now),
                keys=("window_start", "postal_code"),
                sums=("readings", "bad_readings"),
                extra_updates={"device_ids": "array_sort(array_union(t.device_ids, s.device_ids))"},
            ),
        ]

    def _merge(
        self, spark: SparkSession, stamp: ledger.Stamp, merge: AdditiveMerge, *, lo: datetime, hi: datetime
    ) -> None:
        view = f"gold_deltas_{re.findall(r'[A-Za-z0-9_]+', merge.table)[-1]}"  # the table's own name, either format
        merge.deltas.createOrReplaceTempView(view)
        sql = additive_merge_sql(
            merge.table, view, keys=merge.keys, sums=merge.sums, extra_updates=merge.extra_updates, lo=lo, hi=hi
        )
        ledger.run_once(spark, merge.table, stamp, sql)

    def _recompute_outages(
        self,
        spark: SparkSession,
        stamp: ledger.Stamp,
        silver: DataFrame,
        *,
        lo: datetime,
        hi: datetime,
        now: datetime,
    ) -> None:
        """Outages of the touched postal codes, recomputed from window health around the touched windows.

        The recomputed outages replace the table's outages of those codes from ``start`` on. Most batches
        change none (no outage opens, grows or closes), and then no MERGE runs: when those codes have no
        outage in scope and no bad window, nothing is recomputed (one small query); otherwise both sides,
        a few rows, are compared here, and the MERGE, with its scan, join and commit, runs only if more than
        ``updated_at`` differs. A batch without a MERGE leaves no stamp in ``postal_outages``; a replay
        decides alike.
        """
        touched = [
            r[0] for r in silver.where(F.col("postal_code").isNotNull()).select("postal_code").distinct().collect()
        ]
        if not touched:
            return
        start = lo - self._lookback
        of_touched = spark.table(self._tables.postal_outages).where(F.col("postal_code").isin(touched))
        open_since = (
            of_touched.where(F.col("outage_end").isNull() | (F.col("outage_end") >= F.lit(start)))
            .agg(F.min("outage_start"))
            .first()
        )
        if open_since is not None and open_since[0] is not None:
            start = min(start, open_since[0])  # both naive UTC, as Spark returns timestamps in a UTC session
        health = spark.table(self._tables.postal_window_health).where(
            F.col("postal_code").isin(touched) & (F.col("window_start") >= F.lit(start))
        )
        if (open_since is None or open_since[0] is None) and health.where(bad_window(self._rule)).isEmpty():
            return  # no outage of these codes in scope, and no bad window to open one: nothing to recompute
        recomputed = detect_outages(health, rule=self._rule, updated_at=now).persist()
        try:
            current = of_touched.where(F.col("outage_start") >= F.lit(start))
            if _comparable(recomputed) == _comparable(current):
                log.debug("gold batch %d: outages of %d postal codes unchanged", stamp.batch_id, len(touched))
                return
            recomputed.createOrReplaceTempView("gold_outages_recomputed")
            codes = ", ".join("'" + code.replace("'", "''") + "'" for code in touched)
            sql = (
                f"MERGE INTO {self._tables.postal_outages} t USING gold_outages_recomputed s "
                "ON t.postal_code = s.postal_code AND t.outage_start = s.outage_start "
                "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
                f"WHEN NOT MATCHED BY SOURCE AND t.postal_code IN ({codes}) AND t.outage_start >= {_ts(start)} "
                "THEN DELETE"
            )
            ledger.run_once(spark, self._tables.postal_outages, stamp, sql)
        finally:
            recomputed.unpersist()


def _comparable(outages: DataFrame) -> set[tuple[Any, ...]]:
    """Outage rows as a set of tuples of every column but ``updated_at``, times in epoch microseconds.

    Microseconds, not Python datetimes: ``collect`` turns timestamps into the process's local wall clock,
    which repeats in the hour that daylight saving time turns back.
    """
    columns = [
        F.unix_micros(field.name).alias(field.name) if isinstance(field.dataType, TimestampType) else F.col(field.name)
        for field in POSTAL_OUTAGES_SCHEMA.fields
        if field.name != "updated_at"
    ]
    return {tuple(row) for row in outages.select(*columns).collect()}
