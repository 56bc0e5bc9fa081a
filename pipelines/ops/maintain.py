"""`telcopulse maintain`: compact, rewrite manifests, expire snapshots, remove orphans — without breaking
exactly-once or a streaming reader.

Expiry keeps (the rule, per table):
1. every snapshot newer than the retention (``--retain-hours``), less a clock-skew margin;
2. each writer's newest stamped snapshot, which the ledger reads to resume (bronze's shard positions) or
   to skip a replayed batch: it is tagged ``ledger-<writer>`` before expiry, and Iceberg never expires a
   tagged snapshot;
3. for a table read as a stream (bronze by silver, silver by gold): the reader's checkpointed snapshot
   and everything after it — Iceberg's streaming source fails if its snapshot is gone and walks the
   history from there. A reader without a checkpoint would start at the oldest snapshot, so such a table
   expires nothing until its reader has started.
Compaction and manifest rewrites commit *replace* snapshots, which streaming readers skip.

Delta Lake tables (``TELCOPULSE_TABLE_FORMAT=delta``) get the same rule with Delta's tools: ``OPTIMIZE``
(``ZORDER BY`` the table's sort columns) compacts, with a commit that changes no data and that streaming
readers skip; ``VACUUM`` deletes the files no version younger than the cutoff needs, orphans included; the
cutoff is the same as the expiry's above (the retention, or the stream reader's checkpointed version).
The log itself (and with it the ledger's stamps) is trimmed by Delta at its checkpoints after
``delta.logRetentionDuration`` (30 days); the idempotent-write markers stay in every checkpoint.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES, BRONZE_EVENTS, SILVER_EVENTS, TableDef
from pipelines.errors import TelcoPulseError
from pipelines.ledger import RETRYABLE
from pipelines.ops.checkpoints import CheckpointFiles, CheckpointPosition, HadoopFiles, read_position
from pipelines.ops.history import History, newest_stamps
from pipelines.settings import Settings

log = logging.getLogger(__name__)
LEDGER_TAG_PREFIX = "ledger-"
# Which job reads each table as a stream; its checkpoint is <checkpoints>/<job>.
STREAM_READERS = {BRONZE_EVENTS.identifier: "silver", SILVER_EVENTS.identifier: "gold"}
# Iceberg's remove_orphan_files refuses younger files: a file a writer has written but not yet committed
# looks like an orphan.
MIN_ORPHAN_AGE = timedelta(hours=24)
MAX_ATTEMPTS = 5


class MaintenancePolicyError(TelcoPulseError):
    """A maintenance setting would endanger the tables (an orphan age under Iceberg's 24 h minimum)."""


@dataclass(frozen=True)
class MaintenancePolicy:
    """How much history to keep and how small a file group must be to compact.

    Args:
        retain: snapshots younger than this are never expired.
        orphan_age: files not referenced by any snapshot are removed once older than this (>= 24 h).
        clock_skew: margin for writers whose clocks run ahead or behind this one.
        min_input_files: compact a partition once it has at least this many small files.
    """

    retain: timedelta = timedelta(hours=24)
    orphan_age: timedelta = timedelta(days=3)
    clock_skew: timedelta = timedelta(minutes=1)
    min_input_files: int = 5

    def __post_init__(self) -> None:
        if self.orphan_age < MIN_ORPHAN_AGE:
            raise MaintenancePolicyError(
                f"orphan age {self.orphan_age} is under {MIN_ORPHAN_AGE}: files still being written would be deleted"
            )
        if self.retain < timedelta(0) or self.clock_skew < timedelta(0):
            raise MaintenancePolicyError("retention and clock skew cannot be negative")


@dataclass(frozen=True)
class ExpiryPlan:
    """Expire snapshots older than ``older_than`` (None: none), after tagging ``tags`` (name -> snapshot)."""

    older_than: datetime | None
    tags: dict[str, int]
    reason: str


def plan_expiry(
    history: History,
    *,
    reader: str | None,
    position: CheckpointPosition | None,
    policy: MaintenancePolicy,
    now: datetime,
) -> ExpiryPlan:
    """The expiry rule of one table (see the module docstring), from its history and its reader's position.

    Args:
        history: the table's kept snapshots.
        reader: the job that reads the table as a stream, or None.
        position: that job's checkpoint position (None or ``exists=False``: it has not started).
        policy: retention and clock-skew margin.
        now: the time the maintenance run started; later commits are younger than any cutoff.
    """
    tags = {f"{LEDGER_TAG_PREFIX}{w}": s.snapshot_id for w, s in sorted(newest_stamps(history.snapshots).items())}
    cutoff = now - policy.retain - policy.clock_skew
    reason = f"older than the {policy.retain} retention"
    if reader is not None:
        if position is None or not position.exists or position.read_to is None:
            return ExpiryPlan(None, tags, f"{reader} has no checkpoint yet: it will start at the oldest snapshot")
        read_from = history.by_id(position.read_to.snapshot_id)
        if read_from is None:
            return ExpiryPlan(None, tags, f"{reader}'s checkpointed snapshot is gone: rebuild {reader} first")
        if read_from.committed_at - policy.clock_skew < cutoff:
            cutoff = read_from.committed_at - policy.clock_skew
            reason = f"older than {reader}'s checkpointed snapshot {read_from.snapshot_id}"
    return ExpiryPlan(cutoff, tags, reason)


@dataclass
class TableReport:
    """What maintenance did to one table."""

    table: str
    rewritten_data_files: int = 0
    added_data_files: int = 0
    rewritten_manifests: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    expired_older_than: str | None = None
    expiry_rule: str = ""
    snapshots_before: int = 0
    snapshots_after: int = 0
    deleted_files: int = 0
    orphan_files_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _literal(moment: datetime) -> str:
    """A Spark TIMESTAMP literal (the session is UTC); procedure arguments must be literals."""
    return f"TIMESTAMP '{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def _call(spark: SparkSession, sql: str) -> list[Any]:
    """Run a procedure; a commit conflict with a running job or a busy local catalog is retried.

    A conflicting maintenance commit fails as a whole and changes nothing, so running it again is safe.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return spark.sql(sql).collect()
        except Exception as exc:
            marker = next((m for m in RETRYABLE if m in str(exc)), None)
            if marker is None or attempt == MAX_ATTEMPTS:
                raise
            log.warning("maintenance step conflicted (%s, attempt %d), will retry: %s", marker, attempt, sql[:80])
            time.sleep(min(0.5 * 2**attempt, 10.0) * (1 + random.random()))
    return []


def compaction_options(table: TableDef, policy: MaintenancePolicy) -> dict[str, str]:
    """rewrite_data_files options: bin-pack small files, commit per group; merge-on-read tables apply deletes."""
    options = {"min-input-files": str(policy.min_input_files), "partial-progress.enabled": "true"}
    if table.properties.get("write.merge.mode") == "merge-on-read":
        options |= {"delete-file-threshold": "1", "remove-dangling-deletes": "true"}
    return options


def maintain_table(
    spark: SparkSession,
    settings: Settings,
    table: TableDef,
    policy: MaintenancePolicy,
    *,
    now: datetime,
    files: CheckpointFiles,
) -> TableReport:
    """Compact, rewrite manifests, tag the ledger snapshots, expire by the rule, remove orphans: one table."""
    from pipelines.adapters.iceberg_history import SparkHistory

    if settings.is_delta:
        return maintain_delta_table(spark, settings, table, policy, now=now, files=files)
    name, qualified = table.identifier, settings.table(table.identifier)
    procedures = f"{settings.catalog_name}.system"
    report = TableReport(name)
    options = ", ".join(f"'{k}', '{v}'" for k, v in compaction_options(table, policy).items())
    compacted = _call(spark, f"CALL {procedures}.rewrite_data_files(table => '{name}', options => map({options}))")
    if compacted:
        report.rewritten_data_files = int(compacted[0]["rewritten_data_files_count"])
        report.added_data_files = int(compacted[0]["added_data_files_count"])
    manifests = _call(spark, f"CALL {procedures}.rewrite_manifests(table => '{name}')")
    if manifests:
        report.rewritten_manifests = int(manifests[0]["rewritten_manifests_count"])

    history = SparkHistory(spark, settings).history(name)
    reader = STREAM_READERS.get(name)
    position = read_position(files, f"{settings.checkpoints.rstrip('/')}/{reader}") if reader else None
    plan = plan_expiry(history, reader=reader, position=position, policy=policy, now=now)
    for tag, snapshot_id in plan.tags.items():
        _call(spark, f"ALTER TABLE {qualified} CREATE OR REPLACE TAG `{tag}` AS OF VERSION {snapshot_id}")
    report.tags, report.expiry_rule = plan.tags, plan.reason
    report.snapshots_before = len(history.snapshots)
    if plan.older_than is not None:
        report.expired_older_than = plan.older_than.isoformat()
        expired = _call(
            spark,
            f"CALL {procedures}.expire_snapshots(table => '{name}', older_than => {_literal(plan.older_than)}, "
            "retain_last => 1)",
        )
        if expired:
            report.deleted_files = sum(int(v) for v in expired[0].asDict().values())
    report.snapshots_after = len(SparkHistory(spark, settings).history(name).snapshots)
    orphans = _call(
        spark,
        f"CALL {procedures}.remove_orphan_files(table => '{name}', older_than => {_literal(now - policy.orphan_age)})",
    )
    report.orphan_files_removed = len(orphans)
    log.info("maintained %s: %s", name, report.as_dict())
    return report


def maintain_delta_table(
    spark: SparkSession,
    settings: Settings,
    table: TableDef,
    policy: MaintenancePolicy,
    *,
    now: datetime,
    files: CheckpointFiles,
) -> TableReport:
    """Delta's maintenance of one table: OPTIMIZE, then VACUUM with the expiry rule's cutoff."""
    from pipelines.adapters.iceberg_history import SparkHistory

    name, qualified = table.identifier, settings.table(table.identifier)
    report = TableReport(name)
    zorder = f" ZORDER BY ({', '.join(table.sorted_by)})" if table.sorted_by else ""
    optimized = _call(spark, f"OPTIMIZE {qualified}{zorder}")
    if optimized and optimized[0]["metrics"] is not None:
        report.rewritten_data_files = int(optimized[0]["metrics"]["numFilesRemoved"])
        report.added_data_files = int(optimized[0]["metrics"]["numFilesAdded"])
    history = SparkHistory(spark, settings).history(name)
    reader = STREAM_READERS.get(name)
    position = read_position(files, f"{settings.checkpoints.rstrip('/')}/{reader}") if reader else None
    newest = history.by_id(history.current_id) if history.current_id is not None else None
    if position is not None and position.read_to is not None and newest is not None:
        if position.read_to.is_past(newest):  # read to the end: the newest version bounds the cutoff
            position = replace(position, read_to=replace(position.read_to, snapshot_id=newest.snapshot_id))
    plan = plan_expiry(history, reader=reader, position=position, policy=policy, now=now)
    report.expiry_rule = plan.reason
    report.snapshots_before = report.snapshots_after = len(history.snapshots)
    if plan.older_than is not None:
        report.expired_older_than = plan.older_than.isoformat()
        # VACUUM counts its retention back from its own clock, in whole hours (it rounds a fraction): measured
        # now and rounded up, so that nothing younger than the cutoff (files the OPTIMIZE above removed,
        # those a reader still needs) is ever deleted.
        hours = max(0, math.ceil((datetime.now(UTC) - plan.older_than).total_seconds() / 3600))
        # The rule above decides what is safe to delete; Delta's own guard (refuse under 7 days) would not let
        # a 24 h retention run at all.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        retain = f"RETAIN {hours} HOURS"
        doomed = _call(spark, f"VACUUM {qualified} {retain} DRY RUN")
        _call(spark, f"VACUUM {qualified} {retain}")
        report.deleted_files = len(doomed)
    log.info("maintained %s: %s", name, report.as_dict())
    return report


def maintain(
    spark: SparkSession,
    settings: Settings,
    policy: MaintenancePolicy,
    *,
    tables: Sequence[TableDef] = ALL_TABLES,
    now: datetime | None = None,
) -> list[TableReport]:
    """Maintain ``tables`` one after the other; the same code runs locally and as the Glue maintenance job."""
    now = now or datetime.now(UTC)
    files = HadoopFiles(spark)
    return [maintain_table(spark, settings, table, policy, now=now, files=files) for table in tables]
