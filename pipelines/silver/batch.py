"""One silver micro-batch: transforms in order, then stamped commits to silver and quarantine, then dq_results."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines import ledger
from pipelines.adapters.gx_validator import ExpectationOutcome
from pipelines.faults import crash_point
from pipelines.logs import Phases, lag_seconds, log_batch
from pipelines.settings import Settings
from pipelines.silver import schema
from pipelines.silver.audit import GxAudit
from pipelines.silver.rules import Rule, bind_params, param_columns, route_by_rules, rules_of, unexpected_counts
from pipelines.silver.transform import (
    canonical_operators,
    drop_duplicate_events,
    drop_seen_events,
    normalize_operator,
    parse_events,
    to_quarantine_rows,
    to_silver_rows,
)
from pipelines.spark import per_session

log = logging.getLogger(__name__)
WRITER = "silver"
# Up to this many valid rows, a batch's ids are broadcast to match silver's (``drop_seen_events``): tens of MB.
BROADCAST_IDS_MAX = 500_000
ROWS_PER_TASK = 10_000


def typed_and_routed(
    bronze: DataFrame, *, suite: Mapping[str, Any], canonical: Mapping[str, str], params: Mapping[str, Any]
) -> DataFrame:
    """The whole pure part of silver: parse -> normalize -> route by the suite's rules."""
    return (
        bronze.transform(parse_events)
        .transform(lambda df: normalize_operator(df, canonical=canonical))
        .transform(lambda df: route_by_rules(df, rules=rules_of(suite), params=params))
    )


def tasks_for(rows: int, cores: int) -> int:
    """How many tasks parse a batch: one per core, one more per ``ROWS_PER_TASK`` rows beyond that.

    A live batch of bronze arrives as one task per file (bronze commits about once a second, a file per
    core). Each task generates the code of silver's wide projections anew: a 33,000-row batch in 14 tasks
    cost ~20% more than in 4, and live at 1,000 records/s (batches of ~5,000 rows) one task per core rather
    than two cut silver's CPU per million records by 8%. A backlog's batches keep a task per 10,000 rows: in
    ten tasks, a 250,000-row batch left a core idle while the last ones finished.
    """
    return max(cores, -(-rows // ROWS_PER_TASK))


def suite_params(max_ingest_time: datetime | None, *, max_future_minutes: int) -> dict[str, str]:
    """Suite parameters of a batch; derived from the batch itself so that a replay judges alike."""
    anchor = max_ingest_time or datetime.now(UTC)
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    return {"max_event_time": (anchor + timedelta(minutes=max_future_minutes)).isoformat()}


@dataclass
class BatchCounts:
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    rows_with_extra_fields: int
    unexpected: tuple[int, ...] = ()  # per rule of the suite, in suite order
    first_valid_event: datetime | None = None
    last_valid_event: datetime | None = None


class SilverBatch:
    """Callable for ``foreachBatch``; holds what every batch shares (suite, GX audit, tables)."""

    def __init__(
        self,
        settings: Settings,
        *,
        query_id: str,
        suite: Mapping[str, Any],
        suite_version: str,
        canonical_operator_names: list[str],
        audit: GxAudit,
        tables: tuple[str, str, str],
    ):
        self._settings = settings
        self._query_id = query_id
        self._suite = suite
        self._suite_version = suite_version
        self._canonical = canonical_operators(canonical_operator_names)
        self._rules = rules_of(suite)
        self._audit = audit
        self._silver, self._quarantine, self._dq = tables
        self.rows_written = 0

    def process(self, bronze: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        phases = Phases()
        spark = bronze.sparkSession
        stamp = ledger.Stamp(WRITER, self._query_id, batch_id)
        done = {
            table: ledger.committed_summary(spark, table, stamp) for table in (self._silver, self._quarantine, self._dq)
        }
        # A batch without rejected rows commits nothing to quarantine: silver and dq_results tell it is done.
        if done[self._silver] and done[self._dq]:
            log.info("silver batch %d already committed everywhere: skipped", batch_id)
            return
        phases.mark("ledger")
        size = bronze.agg(F.count(F.lit(1)), F.max("ingest_time"), F.min("ingest_time")).first()
        assert size is not None
        phases.mark("size")
        if size[0] == 0:
            return  # an empty trigger: nothing to commit, and a replay of it is empty too
        max_ingest = size[1]
        params = suite_params(max_ingest, max_future_minutes=self._settings.max_future_minutes)
        bronze = bronze.coalesce(tasks_for(size[0], spark.sparkContext.defaultParallelism))
        routed = typed_and_routed(bronze, suite=self._suite, canonical=self._canonical, params=params)
        # Only quarantine keeps the raw bytes: valid rows are cached without them (a third of a row's size).
        routed = routed.withColumn(
            "data", F.when(F.size(schema.REASONS) > 0, F.col("data")).otherwise(F.lit(bytearray()))
        ).persist()
        audited = False  # an audit of this batch releases the cached rows itself, once it has collected them
        try:
            counts = self._count(routed, params)
            phases.mark("parse_route")
            now = datetime.now(UTC)
            written: dict[str, int] = {}

            def write_silver() -> None:
                written["duplicates"] = self._write_silver(routed, stamp, done[self._silver], now, counts)
                crash_point("silver.after-silver", batch_id)

            def write_quarantine() -> None:
                if counts.rows_quarantined and not done[self._quarantine]:
                    self._write_quarantine(routed, stamp, now)

            # The two commits are independent: side by side (see ``ledger.write_all``).
            ledger.write_all([write_silver, write_quarantine], tables=[self._silver, self._quarantine])
            duplicates = written["duplicates"]
            phases.mark("write_silver_quarantine")
            crash_point("silver.after-quarantine", batch_id)
            if not done[self._dq]:
                outcomes = self._outcomes(counts)
                if self._audit.due():
                    typed = routed.select(*schema.TYPED_COLUMNS)
                    self._audit.submit(typed, params, outcomes, batch_id=batch_id, release=routed.unpersist)
                    audited = True
                ledger.append_once(self._dq_row(spark, stamp, counts, duplicates, outcomes, now), self._dq, stamp)
                phases.mark("write_dq")
        finally:
            if not audited:
                routed.unpersist()
        log_batch(
            log,
            layer=WRITER,
            batch_id=batch_id,
            rows_in=counts.rows_in,
            rows_out=counts.rows_valid - duplicates,
            rows_quarantined=counts.rows_quarantined,
            rows_duplicate=duplicates,
            duration_s=round(time.monotonic() - started, 3),
            lag_s=lag_seconds(size[2]),
            phases=phases.seconds,
        )

    def _count(self, routed: DataFrame, params: Mapping[str, Any]) -> BatchCounts:
        """Row counts and each rule's unexpected count, in one pass over the routed batch."""
        row = bind_params(routed, params).agg(*_count_columns(tuple(self._rules), tuple(sorted(params)))).first()
        assert row is not None
        rows_in, valid = int(row["rows_in"]), int(row["rows_valid"] or 0)
        unexpected = tuple(int(row[f"_unexpected_{index}"] or 0) for index in range(len(self._rules)))
        return BatchCounts(
            rows_in,
            valid,
            rows_in - valid,
            int(row["extra"] or 0),
            unexpected,
            row["first_valid_event"],
            row["last_valid_event"],
        )

    def _write_silver(
        self, routed: DataFrame, stamp: ledger.Stamp, done: Mapping[str, str] | None, now: datetime, counts: BatchCounts
    ) -> int:
        """Append the new valid readings; returns how many valid rows were recognised duplicates.

        One pass: drop ids silver already holds within the horizon (in whole hours) of the batch's event
        times, deduplicate within the batch, append. What was written is read back from the commit's own summary
        (``added-records``), so a replayed batch reports the same figures without writing again.
        """
        if not done:
            rows = to_silver_rows(routed.where(F.size(schema.REASONS) == 0), processed_time=now)
            if counts.first_valid_event is not None and counts.last_valid_event is not None:
                horizon = timedelta(hours=self._settings.dedup_horizon_hours)
                low, high = _whole_hours(counts.first_valid_event - horizon, counts.last_valid_event + horizon)
                seen = routed.sparkSession.table(self._silver).where(F.col("event_time").between(low, high))
                # Before deduplicating within the batch (the same rows either way: both keep or drop whole ids),
                # so that the batch's ids are read from the cached batch, not computed twice.
                rows = drop_seen_events(rows, seen, broadcast_batch=counts.rows_valid <= BROADCAST_IDS_MAX)
            rows = drop_duplicate_events(rows)
            wrote = ledger.append_once(rows, self._silver, stamp)
            done = ledger.committed_summary(routed.sparkSession, self._silver, stamp)
            self.rows_written += _added_records(done) if wrote else 0
        return counts.rows_valid - _added_records(done)

    def _write_quarantine(self, routed: DataFrame, stamp: ledger.Stamp, now: datetime) -> None:
        """Append the batch's rejected rows with their reasons."""
        rejected = routed.where(F.size(schema.REASONS) > 0)
        ledger.append_once(
            to_quarantine_rows(rejected, suite_version=self._suite_version, quarantined_at=now), self._quarantine, stamp
        )

    def _outcomes(self, counts: BatchCounts) -> list[ExpectationOutcome]:
        """The suite's outcome for the batch: the rules' counts (GX's own, tested; audited by ``GxAudit``)."""
        return [
            ExpectationOutcome(rule.reason, rule.severity, count == 0, counts.rows_in, count)
            for rule, count in zip(self._rules, counts.unexpected, strict=True)
        ]

    def _dq_row(
        self,
        spark: Any,
        stamp: ledger.Stamp,
        counts: BatchCounts,
        duplicates: int,
        outcomes: list[ExpectationOutcome],
        now: datetime,
    ) -> DataFrame:
        critical_ok = all(o.success for o in outcomes if o.severity == "critical")
        row = (
            stamp.query_id,
            stamp.batch_id,
            now,
            self._suite["name"],
            self._suite_version,
            counts.rows_in,
            counts.rows_valid,
            counts.rows_quarantined,
            duplicates,
            counts.rows_with_extra_fields,
            critical_ok and counts.rows_quarantined == 0,
            [(o.expectation, o.severity, o.success, o.element_count, o.unexpected_count) for o in outcomes],
        )
        return spark.createDataFrame([row], DQ_RESULTS_SCHEMA)


@per_session
def _count_columns(rules: tuple[Rule, ...], names: tuple[str, ...]) -> list[Column]:
    """``_count``'s aggregates over a routed batch with its parameters bound (``bind_params``)."""
    valid = F.size(schema.REASONS) == 0
    return [
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.when(valid, 1).otherwise(0)).alias("rows_valid"),
        F.sum(F.when(F.size(schema.EXTRA_FIELDS) > 0, 1).otherwise(0)).alias("extra"),
        F.min(F.when(valid, F.col("event_time"))).alias("first_valid_event"),
        F.max(F.when(valid, F.col("event_time"))).alias("last_valid_event"),
        *unexpected_counts(list(rules), param_columns(names)),
    ]


def _whole_hours(low: datetime, high: datetime) -> tuple[datetime, datetime]:
    """``[low, high]`` widened to whole hours: the bounds change once an hour, not every batch.

    They prune silver's files by event time, so they are literals, and generated code spells timestamp
    literals out: bounds of their own made Spark compile the scan's stage again every batch.
    """
    floor = low.replace(minute=0, second=0, microsecond=0)
    ceiling = high.replace(minute=0, second=0, microsecond=0)
    return floor, ceiling if ceiling == high else ceiling + timedelta(hours=1)


def _added_records(summary: Mapping[str, str] | None) -> int:
    return int((summary or {}).get("added-records", "0"))


DQ_RESULTS_SCHEMA = (
    "query_id string, batch_id bigint, validated_at timestamp, suite_name string, suite_version string, "
    "rows_in bigint, rows_valid bigint, rows_quarantined bigint, rows_duplicate bigint, "
    "rows_with_extra_fields bigint, success boolean, "
    "expectations array<struct<expectation: string, severity: string, success: boolean, "
    "element_count: bigint, unexpected_count: bigint>>"
)
