"""`telcopulse replay-quarantine`: re-run quarantined records through the current rules after a fix.

Records that now pass are appended to silver and marked ``replayed_at`` in quarantine. A crash between
the two steps is harmless: the next replay finds the rows still unmarked, re-routes them, recognises
their event ids in silver as duplicates (so they are not added twice), and marks them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines import ledger
from pipelines.silver import schema
from pipelines.silver.batch import suite_params, typed_and_routed
from pipelines.silver.transform import drop_duplicate_events, drop_seen_events, to_silver_rows

log = logging.getLogger(__name__)
WRITER = "silver-replay"


@dataclass(frozen=True)
class ReplayReport:
    considered: int
    moved_to_silver: int
    already_in_silver: int
    still_failing: int

    def line(self) -> str:
        return (
            f"considered={self.considered} moved_to_silver={self.moved_to_silver} "
            f"already_in_silver={self.already_in_silver} still_failing={self.still_failing}"
        )


def select_for_replay(quarantine: DataFrame, *, reason: str | None, since: datetime | None) -> DataFrame:
    """Quarantined rows not yet replayed, optionally only those with ``reason`` or quarantined since ``since``."""
    rows = quarantine.where(F.col("replayed_at").isNull())
    if reason:
        rows = rows.where(F.exists(schema.REASONS, lambda r: (r == reason) | r.startswith(reason + ":")))
    if since:
        rows = rows.where(F.col("quarantined_at") >= F.lit(since))
    return rows


def replay_quarantine(
    spark: SparkSession,
    *,
    silver_table: str,
    quarantine_table: str,
    suite: Mapping[str, Any],
    canonical: Mapping[str, str],
    reason: str | None = None,
    since: datetime | None = None,
    max_future_minutes: int = 10,
) -> ReplayReport:
    """Move quarantined records that pass ``suite`` now into silver, exactly once, and mark them replayed."""
    now = datetime.now(UTC)
    candidates = select_for_replay(spark.table(quarantine_table), reason=reason, since=since).select(
        "data", *schema.BRONZE_POINTER
    ).cache()
    considered = candidates.count()
    if considered == 0:
        candidates.unpersist()
        return ReplayReport(0, 0, 0, 0)
    # Judge as the original batch would have: the far-future bound follows the record's ingest time.
    newest_ingest = candidates.agg(F.max("ingest_time")).first()[0]  # type: ignore[index]
    routed = typed_and_routed(
        candidates, suite=suite, canonical=canonical,
        params=suite_params(newest_ingest, max_future_minutes=max_future_minutes),
    ).cache()
    passing = routed.where(F.size(schema.REASONS) == 0)
    first_seen = drop_duplicate_events(passing)
    bounds = first_seen.agg(F.min("event_time"), F.max("event_time")).first()
    fresh = first_seen
    if bounds is not None and bounds[0] is not None:
        seen = spark.table(silver_table).where(
            F.col("event_time").between(F.lit(bounds[0] - timedelta(days=1)), F.lit(bounds[1] + timedelta(days=1)))
        )
        fresh = drop_seen_events(first_seen, seen)
    rows = to_silver_rows(fresh, processed_time=now).cache()
    moved, passed = rows.count(), passing.count()
    run_id = f"replay-{uuid.uuid4()}"
    if moved:
        ledger.append_once(rows, silver_table, ledger.Stamp(WRITER, run_id, 0))
    if passed:
        passing.select("shard_id", "sequence_number").distinct().createOrReplaceTempView("replayed_pointers")
        ledger.run_once(
            spark, quarantine_table, ledger.Stamp(WRITER, run_id, 1),
            f"MERGE INTO {quarantine_table} t USING replayed_pointers s "
            "ON t.shard_id = s.shard_id AND t.sequence_number = s.sequence_number AND t.replayed_at IS NULL "
            f"WHEN MATCHED THEN UPDATE SET replayed_at = TIMESTAMP '{now.replace(tzinfo=None).isoformat(sep=' ')}'",
        )
    for frame in (rows, routed, candidates):
        frame.unpersist()
    report = ReplayReport(considered, moved, passed - moved, considered - passed)
    log.info("replay-quarantine %s", report.line())
    return report
