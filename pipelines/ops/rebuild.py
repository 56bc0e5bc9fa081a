"""`telcopulse rebuild silver|gold [--from T]`: recompute a layer from the layer below, exactly once.

Silver is rebuilt by its own job under a new query id: the layer's job is stopped (its lock is taken
for the whole rebuild), its rows are deleted, its checkpoint is moved aside and a new one is *seeded*
with the Iceberg streaming offset to start from — bronze's newest append with ``scan_all_files`` (the
whole table, even after maintenance expired older snapshots) or, with ``--from T``, the first bronze
append whose records arrived at or after T minus ``max_future_minutes`` (every reading with an event time
at or after T arrived then or later; earlier-looking ones were quarantined as from the future). Bronze is
appended in arrival order, so that append and everything after it are exactly the records deleted from
silver and quarantine; the rebuild checks this before it deletes anything. The job then reads up to the
bronze snapshot current at the start (bronze may keep running) and stops; when started again later it
continues from there. Gold is then rebuilt from the earliest event-time window any deleted or rebuilt
silver row touched.

Gold is rebuilt by a batch pass: gold first reads silver up to its end (so every window before T is
complete), its rows from window T on are deleted, silver as of that snapshot is re-aggregated day by day
through the gold job's own micro-batch code under a new query id, and gold's checkpoint is replaced by one
that continues exactly where the old one stood.

A rebuild that fails part-way is simply run again: every step is idempotent (deletes, then recomputation
under a fresh query id). Silver's plan (the earliest window gold must recompute) is kept in
``<checkpoints>/rebuild-silver.json`` until gold is done, so a rerun never forgets a window.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Event, Thread
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from catalog.tables import (
    BRONZE_EVENTS,
    OPERATOR_KPIS,
    POSTAL_HEALTH,
    POSTAL_OUTAGES,
    POSTAL_STATUS_COUNTS,
    QUARANTINE,
    SILVER_EVENTS,
)
from pipelines import ledger
from pipelines.errors import TelcoPulseError
from pipelines.ops.checkpoints import START_OFFSET, HadoopFiles, read_position
from pipelines.ops.history import (
    APPEND,
    SnapshotInfo,
    StreamOffset,
    backlog_after,
    caught_up,
    newest_append,
)
from pipelines.settings import Runtime, Settings

log = logging.getLogger(__name__)
SILVER_PLAN = "rebuild-silver.json"
GOLD_WINDOW_TABLES = (OPERATOR_KPIS, POSTAL_STATUS_COUNTS, POSTAL_HEALTH)
DRAIN_IDLE_S = 3.0


class RebuildRefusedError(TelcoPulseError):
    """A rebuild cannot be exact as asked (names why and what to do instead); nothing was changed."""


@dataclass
class RebuildReport:
    """What a rebuild did: where it started, what it deleted and recomputed."""

    layer: str
    since: str | None
    started_from: str | None = None
    deleted_rows: dict[str, int] = field(default_factory=dict)
    rows_recomputed: int = 0
    gold: RebuildReport | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_floor(moment: datetime, seconds: int) -> datetime:
    """The start of the tumbling window holding ``moment`` (windows are aligned to the epoch, as gold's)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def first_append_arriving_from(
    appends: Sequence[tuple[SnapshotInfo, datetime | None]], arrival_from: datetime
) -> SnapshotInfo | None:
    """The first append whose records arrived at or after ``arrival_from``, in history order.

    Args:
        appends: bronze's appends, oldest first, each with the earliest arrival (ingest) time it added.
        arrival_from: the first arrival time to rebuild.

    Raises:
        RebuildRefusedError: a later append holds records that arrived earlier (bronze is not in arrival
            order), so the appends from there on are not exactly the records to rebuild.
    """
    start = next((i for i, (_, first) in enumerate(appends) if first is not None and first >= arrival_from), None)
    if start is None:
        return None
    early = [s.snapshot_id for s, first in appends[start:] if first is not None and first < arrival_from]
    if early:
        raise RebuildRefusedError(
            f"bronze snapshots {early[:3]} hold records that arrived before {arrival_from.isoformat()} after "
            "later ones: rebuild silver whole (without --from)"
        )
    return appends[start][0]


@contextmanager
def stopped_jobs(settings: Settings, jobs: Sequence[str], *, confirmed: bool = False) -> Iterator[None]:
    """Hold ``jobs``' locks for the whole rebuild: refused if one runs, and none can start meanwhile.

    On AWS the jobs are Glue job runs that no local lock sees: the operator confirms they are stopped.
    """
    if settings.runtime is not Runtime.LOCAL:
        if not confirmed:
            raise RebuildRefusedError(f"stop the Glue jobs of {', '.join(jobs)} first, then pass --jobs-stopped")
        yield
        return
    from pipelines.local.locks import job_lock

    with ExitStack() as stack:
        for job in jobs:
            stack.enter_context(job_lock(settings.run_dir, job))
        yield


def _checkpoint(settings: Settings, job: str) -> str:
    return f"{settings.checkpoints.rstrip('/')}/{job}"


def replace_checkpoint(files: HadoopFiles, settings: Settings, job: str, seed: StreamOffset | None) -> str | None:
    """Move ``job``'s checkpoint aside (kept for inspection) and seed a new one to start at ``seed``.

    A new checkpoint means a new query id, so the ledger treats every batch of the rebuild as new.
    Returns where the old checkpoint went (None if there was none).
    """
    root = _checkpoint(settings, job)
    aside = f"{root}.replaced-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    moved = files.move(root, aside)
    if seed is not None:
        files.write_text(f"{root}/{START_OFFSET}", seed.json())
    log.info("checkpoint %s %s; new one starts at %s", root, f"moved to {aside}" if moved else "was absent", seed)
    return aside if moved else None


def _delete(spark: SparkSession, table: str, predicate: str, stamp: ledger.Stamp) -> int:
    """Delete the rows a rebuild recomputes, in one stamped commit; returns how many there were."""
    count = int(spark.sql(f"SELECT count(*) FROM {table} WHERE {predicate}").first()[0])  # type: ignore[index]
    if count:
        ledger.run_once(spark, table, stamp, f"DELETE FROM {table} WHERE {predicate}")
    return count


def _ts(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def _min_event_time(spark: SparkSession, table: str, predicate: str) -> datetime | None:
    value = spark.sql(f"SELECT min(event_time) FROM {table} WHERE {predicate}").first()[0]  # type: ignore[index]
    return value.replace(tzinfo=UTC) if value is not None else None


def run_until_caught_up(
    job_run: Callable[..., int],
    settings: Settings,
    *,
    spark: SparkSession,
    job: str,
    upstream: str,
    target_id: int,
) -> int:
    """Run a streaming job in this process until it has read every upstream append up to ``target_id``.

    The upstream job may keep appending; the rebuild stops at the target and the job, started again
    later, continues from its checkpoint.
    """
    from pipelines.adapters.iceberg_history import SparkHistory

    files, histories, stop = HadoopFiles(spark), SparkHistory(spark, settings), Event()
    checkpoint = _checkpoint(settings, job)

    def watch() -> None:
        while not stop.wait(max(settings.trigger_seconds, 1.0)):
            position = read_position(files, checkpoint)
            if position.last_committed_batch is not None and caught_up(
                histories.history(upstream).ancestry, position.read_to, target_id
            ):
                stop.set()

    watcher = Thread(target=watch, name=f"rebuild-{job}-watcher", daemon=True)
    watcher.start()
    try:
        return job_run(settings, until_idle_s=None, stop=stop)
    finally:
        stop.set()
        watcher.join()


class RebuildUnsupportedError(TelcoPulseError):
    """`rebuild` is asked for on Delta Lake tables, which it does not support yet."""


def _require_iceberg(settings: Settings) -> None:
    """Rebuild positions streams on Iceberg snapshots (start offsets, ``all_entries``): Iceberg tables only."""
    if settings.is_delta:
        raise RebuildUnsupportedError(
            "telcopulse rebuild supports Iceberg tables only; with TELCOPULSE_TABLE_FORMAT=delta, recompute silver and "
            "gold by stopping both jobs, deleting their tables' folders and their checkpoints, and starting them again"
        )


def rebuild_silver(
    settings: Settings, *, since: datetime | None, spark: SparkSession | None = None, confirmed: bool = False
) -> RebuildReport:
    """Recompute silver (and quarantine) from bronze — whole, or for records arriving from ``since`` on —
    then bring gold back in line."""
    _require_iceberg(settings)
    with stopped_jobs(settings, ("silver", "gold"), confirmed=confirmed):
        spark = spark or _session(settings)
        return _rebuild_silver(spark, settings, since)


def rebuild_gold(
    settings: Settings, *, since: datetime | None, spark: SparkSession | None = None, confirmed: bool = False
) -> RebuildReport:
    """Recompute gold from silver — whole, or for the windows from ``since`` on.

    Silver must be stopped too: gold first reads silver to its end, and a silver that keeps appending
    has no end.
    """
    _require_iceberg(settings)
    with stopped_jobs(settings, ("silver", "gold"), confirmed=confirmed):
        spark = spark or _session(settings)
        return _rebuild_gold(spark, settings, since)


def _session(settings: Settings) -> SparkSession:
    from pyspark.java_gateway import ensure_callback_server_started

    from pipelines.adapters.iceberg import bootstrap_tables
    from pipelines.spark import build_spark

    spark = build_spark(settings, "telcopulse-rebuild")
    # foreachBatch needs py4j's callback server and cannot start it once a stamped DELETE (a Python
    # callable called from the JVM) has used the gateway's own connection: start it first.
    ensure_callback_server_started(spark.sparkContext._gateway)
    bootstrap_tables(spark, settings)
    return spark


def _bronze_arrivals(
    spark: SparkSession, settings: Settings, appends: list[SnapshotInfo]
) -> list[tuple[SnapshotInfo, datetime | None]]:
    """Each bronze append with the earliest ingest time of the files it added (from file statistics)."""
    rows = spark.sql(
        "SELECT snapshot_id, min(readable_metrics.ingest_time.lower_bound) AS first_arrival "
        f"FROM {settings.table(BRONZE_EVENTS.identifier)}.all_entries WHERE status = 1 GROUP BY snapshot_id"
    ).collect()
    first = {int(r["snapshot_id"]): r["first_arrival"] for r in rows}
    return [(s, first[s.snapshot_id].replace(tzinfo=UTC) if first.get(s.snapshot_id) else None) for s in appends]


def _rebuild_silver(spark: SparkSession, settings: Settings, since: datetime | None) -> RebuildReport:
    from pipelines.adapters.iceberg_history import SparkHistory
    from pipelines.silver import job as silver_job

    started = time.monotonic()
    files = HadoopFiles(spark)
    report = RebuildReport("silver", since.isoformat() if since else None)
    bronze = SparkHistory(spark, settings).history(BRONZE_EVENTS.identifier)
    ancestry = bronze.ancestry
    silver_table = settings.table(SILVER_EVENTS.identifier)
    if since is None:
        start = newest_append(ancestry)
        seed = StreamOffset(start.snapshot_id, 0, scan_all_files=True) if start else None
        predicate = "true"
    else:
        arrival_from = since - timedelta(minutes=settings.max_future_minutes)
        appends = [s for s in ancestry if s.operation == APPEND]
        start = first_append_arriving_from(_bronze_arrivals(spark, settings, appends), arrival_from)
        seed = StreamOffset(start.snapshot_id, 0) if start else None
        predicate = f"ingest_time >= {_ts(arrival_from)}"
        _check_exact(spark, settings, ancestry, start, predicate)
        if start is not None:
            _read_up_to(spark, settings, ancestry, before=start)
    report.started_from = seed.json() if seed else None

    plan_path = f"{settings.checkpoints.rstrip('/')}/{SILVER_PLAN}"
    plan = json.loads(files.read_text(plan_path) or "{}")
    if seed is not None:
        if since is None:
            plan["gold_whole"] = True
        deleted_from = _min_event_time(spark, silver_table, predicate)
        plan["gold_from"] = _iso(earliest(_parse(plan.get("gold_from")), deleted_from))
        files.write_text(plan_path, json.dumps(plan))
        replace_checkpoint(files, settings, "silver", seed)
        rebuild_id = f"silver-rebuild-{uuid.uuid4()}"
        for n, table in enumerate((SILVER_EVENTS, QUARANTINE)):
            stamp = ledger.Stamp("silver-rebuild", rebuild_id, n)
            report.deleted_rows[table.identifier] = _delete(spark, settings.table(table.identifier), predicate, stamp)
    else:
        log.info("no bronze record arrived in the range: silver keeps its rows and its checkpoint")
    if seed is not None and bronze.current_id is not None and backlog_after(ancestry, seed).records > 0:
        report.rows_recomputed = run_until_caught_up(
            silver_job.run,
            settings,
            spark=spark,
            job="silver",
            upstream=BRONZE_EVENTS.identifier,
            target_id=bronze.current_id,
        )
    rebuilt_from = _min_event_time(spark, silver_table, predicate)
    gold_from = earliest(_parse(plan.get("gold_from")), rebuilt_from)
    if plan.get("gold_whole") or gold_from is not None:
        report.gold = _rebuild_gold(spark, settings, None if plan.get("gold_whole") else gold_from)
    files.delete(plan_path)
    report.seconds = round(time.monotonic() - started, 1)
    log.info("rebuilt silver: %s", report.as_dict())
    return report


def _check_exact(
    spark: SparkSession, settings: Settings, ancestry: list[SnapshotInfo], start: SnapshotInfo | None, predicate: str
) -> None:
    """Refuse unless the appends from ``start`` on hold exactly the bronze records matching ``predicate``.

    Raises:
        RebuildRefusedError: older records match too (their snapshots were expired, or bronze is out of
            arrival order); a whole rebuild is then the exact one.
    """
    table = settings.table(BRONZE_EVENTS.identifier)
    matching = int(spark.sql(f"SELECT count(*) FROM {table} WHERE {predicate}").first()[0])  # type: ignore[index]
    index = next((i for i, s in enumerate(ancestry) if start and s.snapshot_id == start.snapshot_id), len(ancestry))
    covered = sum(s.added_records for s in ancestry[index:] if s.operation == APPEND)
    if matching != covered:
        raise RebuildRefusedError(
            f"{matching} bronze records match but the kept appends from there hold {covered}: their snapshots "
            "are older than the kept history; rebuild silver whole (without --from)"
        )


def _read_up_to(spark: SparkSession, settings: Settings, ancestry: list[SnapshotInfo], *, before: SnapshotInfo) -> None:
    """Let the current silver query read every bronze append before ``before`` (under its own query id).

    The rebuilt query starts at ``before``: anything earlier that silver had not read yet would be skipped.

    Raises:
        RebuildRefusedError: silver has never run, so nothing before ``before`` was read either.
    """
    from pipelines.silver import job as silver_job

    position = read_position(HadoopFiles(spark), _checkpoint(settings, "silver"))
    if not position.exists:
        raise RebuildRefusedError("silver has never run in this home: rebuild silver whole (without --from)")
    index = next(i for i, s in enumerate(ancestry) if s.snapshot_id == before.snapshot_id)
    earlier = [s for s in ancestry[:index] if s.operation == APPEND]
    if not earlier or caught_up(ancestry, position.read_to, earlier[-1].snapshot_id):
        return
    log.info("silver has not read bronze up to %s yet: reading there first", before.snapshot_id)
    run_until_caught_up(
        silver_job.run,
        settings,
        spark=spark,
        job="silver",
        upstream=BRONZE_EVENTS.identifier,
        target_id=earlier[-1].snapshot_id,
    )


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _gold_batch(spark: SparkSession, settings: Settings, query_id: str) -> Any:
    """The gold job's micro-batch (the same code and tables as ``pipelines.gold.job``), for a batch pass."""
    from pipelines.gold.batch import GoldBatch

    return GoldBatch.from_settings(settings, query_id=query_id)


def _rebuild_gold(spark: SparkSession, settings: Settings, since: datetime | None) -> RebuildReport:
    from pipelines.adapters.iceberg_history import SparkHistory
    from pipelines.gold import job as gold_job

    started = time.monotonic()
    files = HadoopFiles(spark)
    window_from = window_floor(since, settings.window_seconds) if since else None
    report = RebuildReport("gold", window_from.isoformat() if window_from else None)
    checkpoint = _checkpoint(settings, "gold")
    if window_from is not None and read_position(files, checkpoint).exists:
        gold_job.run(settings, until_idle_s=DRAIN_IDLE_S)  # windows before T stay: they must be complete
    silver = SparkHistory(spark, settings).history(SILVER_EVENTS.identifier)
    ancestry = silver.ancestry
    position = read_position(files, checkpoint)
    if window_from is not None and position.exists and position.read_to is not None:
        if backlog_after(ancestry, position.read_to).records:
            raise RebuildRefusedError("gold did not read silver to its end; is silver still running?")
        seed: StreamOffset | None = position.read_to
    else:
        last = newest_append(ancestry)
        seed = StreamOffset(last.snapshot_id, last.added_files) if last else None
    report.started_from = seed.json() if seed else None

    rebuild_id = f"gold-rebuild-{uuid.uuid4()}"
    windows = f"window_start >= {_ts(window_from)}" if window_from else "true"
    outages = f"outage_start >= {_ts(window_from)}" if window_from else "true"
    for n, (table, predicate) in enumerate([(t, windows) for t in GOLD_WINDOW_TABLES] + [(POSTAL_OUTAGES, outages)]):
        stamp = ledger.Stamp("gold-rebuild", rebuild_id, n)
        report.deleted_rows[table.identifier] = _delete(spark, settings.table(table.identifier), predicate, stamp)
    replace_checkpoint(files, settings, "gold", seed)
    if silver.current_id is not None:
        silver_table = settings.table(SILVER_EVENTS.identifier)
        frame = spark.sql(f"SELECT * FROM {silver_table} VERSION AS OF {silver.current_id}")
        if window_from is not None:
            frame = frame.where(F.col("event_time") >= F.lit(window_from.replace(tzinfo=None)))
        report.rows_recomputed = _aggregate_by_day(frame, _gold_batch(spark, settings, rebuild_id))
    report.seconds = round(time.monotonic() - started, 1)
    log.info("rebuilt gold: %s", report.as_dict())
    return report


def _aggregate_by_day(silver: DataFrame, batch: Any) -> int:
    """Feed silver to gold's micro-batch one event day at a time, in order (each MERGE touches one day)."""
    days = [r[0] for r in silver.select(F.to_date("event_time").alias("d")).distinct().orderBy("d").collect()]
    for batch_id, day in enumerate(days):
        batch.process(silver.where(F.to_date("event_time") == F.lit(day)), batch_id)
    return int(batch.rows_merged)
