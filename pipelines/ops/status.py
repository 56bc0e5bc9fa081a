"""`telcopulse status`: per layer — running, last commit, lag, freshness, DQ pass rate — and a health verdict.

Lag is what waits upstream of a layer: Kinesis records after bronze's committed positions, or bronze
(silver) append snapshots after silver's (gold's) checkpointed offset. Freshness is how long the oldest
waiting input has waited (0 when nothing waits), so it only turns bad while input arrives. A layer is
unhealthy if its job is not running, its lag or freshness passes its threshold, its stream cannot resume,
or (silver) its DQ pass rate over recent batches is under the minimum. `observe` does the I/O; `assess`
is the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.tables import (
    BRONZE_EVENTS,
    DQ_RESULTS,
    OPERATOR_KPIS,
    POSTAL_HEALTH,
    POSTAL_OUTAGES,
    POSTAL_STATUS_COUNTS,
    QUARANTINE,
    SILVER_EVENTS,
)
from pipelines import ledger
from pipelines.errors import TelcoPulseError
from pipelines.ops.checkpoints import ArrowFiles, CheckpointFiles, read_position
from pipelines.ops.history import Backlog, History, backlog_after, newest_stamps
from pipelines.settings import Runtime, Settings

LAYERS = ("bronze", "silver", "gold")
# The pass rate is judged over the batches of this span before silver's newest: one bad batch of a few
# rows must not flip a health check, a sustained drop must.
DQ_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Layer:
    """Where a layer reads from and what it writes (the writer name is its ledger stamp and job name)."""

    name: str
    tables: tuple[str, ...]
    upstream_table: str | None


PIPELINE = (
    Layer("bronze", (BRONZE_EVENTS.identifier,), None),
    Layer("silver", (SILVER_EVENTS.identifier, QUARANTINE.identifier, DQ_RESULTS.identifier), BRONZE_EVENTS.identifier),
    Layer(
        "gold",
        tuple(t.identifier for t in (OPERATOR_KPIS, POSTAL_STATUS_COUNTS, POSTAL_HEALTH, POSTAL_OUTAGES)),
        SILVER_EVENTS.identifier,
    ),
)


@dataclass(frozen=True)
class Thresholds:
    """The health rules' limits (settings ``max_lag_records``, ``max_freshness_seconds``, ``min_dq_pass_rate``)."""

    max_lag_records: int
    max_freshness_seconds: float
    min_dq_pass_rate: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(settings.max_lag_records, settings.max_freshness_seconds, settings.min_dq_pass_rate)


@dataclass(frozen=True)
class LayerObservation:
    """What was seen of one layer; ``running`` is None where it cannot be known (Glue runs the jobs on AWS)."""

    layer: str
    running: bool | None = None
    pid: int | None = None
    last_commit_at: datetime | None = None
    backlog: Backlog | None = None
    dq_pass_rate: float | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerStatus:
    layer: str
    running: bool | None
    pid: int | None
    last_commit_at: datetime | None
    lag_records: int | None
    lag_at_least: bool
    freshness_s: float | None
    dq_pass_rate: float | None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["last_commit_at"] = self.last_commit_at.isoformat() if self.last_commit_at else None
        body["problems"] = list(self.problems)
        body["healthy"] = self.healthy
        return body


@dataclass(frozen=True)
class StatusReport:
    checked_at: datetime
    layers: tuple[LayerStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(layer.healthy for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "healthy": self.healthy,
            "layers": [layer.as_dict() for layer in self.layers],
        }


def assess(observation: LayerObservation, thresholds: Thresholds, *, now: datetime) -> LayerStatus:
    """The health rule of one layer: every threshold passed or failing check becomes a named problem."""
    problems = list(observation.errors)
    if observation.running is False:
        problems.append(f"{observation.layer} is not running")
    backlog = observation.backlog
    freshness = None
    if backlog is not None:
        waiting_since = backlog.oldest_waiting_since
        freshness = max(0.0, (now - waiting_since).total_seconds()) if backlog.records and waiting_since else 0.0
        if not backlog.resumable:
            problems.append(
                f"{observation.layer} cannot resume: its checkpointed snapshot is no longer in the table "
                f"(rebuild the layer)"
            )
        if backlog.records > thresholds.max_lag_records:
            problems.append(f"lag {backlog.records} records > {thresholds.max_lag_records}")
        if freshness > thresholds.max_freshness_seconds:
            problems.append(f"oldest waiting input is {freshness:.0f} s old > {thresholds.max_freshness_seconds:g} s")
    rate = observation.dq_pass_rate
    if rate is not None and rate < thresholds.min_dq_pass_rate:
        problems.append(f"DQ pass rate {rate:.3f} < {thresholds.min_dq_pass_rate:g}")
    return LayerStatus(
        layer=observation.layer,
        running=observation.running,
        pid=observation.pid,
        last_commit_at=observation.last_commit_at,
        lag_records=backlog.records if backlog is not None else None,
        lag_at_least=backlog.capped if backlog is not None else False,
        freshness_s=round(freshness, 1) if freshness is not None else None,
        dq_pass_rate=round(rate, 4) if rate is not None else None,
        problems=tuple(problems),
    )


def render_text(report: StatusReport) -> str:
    """One line per layer for people; `--json` gives machines the same facts."""
    lines = []
    for s in report.layers:
        running = {True: f"running (pid {s.pid})", False: "NOT RUNNING", None: "running: unknown"}[s.running]
        commit = s.last_commit_at.strftime("%Y-%m-%d %H:%M:%S") if s.last_commit_at else "never"
        lag = "?" if s.lag_records is None else f"{'>=' if s.lag_at_least else ''}{s.lag_records}"
        fresh = "?" if s.freshness_s is None else f"{s.freshness_s:g}s"
        dq = "" if s.dq_pass_rate is None else f"  dq pass {s.dq_pass_rate:.1%}"
        verdict = "ok" if s.healthy else "UNHEALTHY: " + "; ".join(s.problems)
        lines.append(f"{s.layer:<7} {running:<20} last commit {commit}  lag {lag}  freshness {fresh}{dq}  {verdict}")
    lines.append("healthy" if report.healthy else "unhealthy")
    return "\n".join(lines)


def _guard(errors: list[str], what: str, read: Callable[[], Any]) -> Any:
    """Run one observation; a failure becomes a problem of the layer instead of aborting the check."""
    try:
        return read()
    except (TelcoPulseError, OSError, ValueError, KeyError) as exc:
        errors.append(f"cannot read {what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    except Exception as exc:  # noqa: BLE001 - catalog and stream clients raise their own kinds; report, don't crash
        errors.append(f"cannot read {what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return None


def observe(
    settings: Settings,
    *,
    lake: Any = None,
    stream: Any = None,
    files: CheckpointFiles | None = None,
    layers: Sequence[Layer] = PIPELINE,
) -> list[LayerObservation]:
    """Read every layer's facts: job lock, ledger stamps, checkpoints, stream and DQ results (no Spark).

    Args:
        settings: which catalog, stream, checkpoints and run directory to look at.
        lake: a ``PyIcebergHistory`` (default: opened on ``settings``' catalog), or with Delta tables a
            ``DeltaLogHistory`` (default: reading each table's ``_delta_log``).
        stream: a ``BotoKinesisBacklog`` (default: on ``settings``' stream).
        files: checkpoint files (default: pyarrow, local or S3).
        layers: the layers to observe.
    """
    observer = _Observer(settings, lake, stream, files or ArrowFiles())
    return [observer.layer(layer) for layer in layers]


class _Observer:
    """One status check's reads; each table's history is read once and shared by the layers that need it."""

    def __init__(self, settings: Settings, lake: Any, stream: Any, files: CheckpointFiles) -> None:
        self._settings = settings
        self._stream = stream
        self._files = files
        self._histories: dict[str, History | None] = {}
        self._catalog_errors: list[str] = []
        self._lake = lake
        lake_root = _local_lake_root(settings)
        if settings.runtime is Runtime.LOCAL and not lake_root.exists():
            what = "Delta tables" if settings.is_delta else "catalog"
            self._catalog_errors.append(f"no {what} at {lake_root}: the pipeline has not run here")
        elif lake is None:
            self._lake = _guard(self._catalog_errors, "the catalog", lambda: _open_history(settings))

    def _history(self, identifier: str, errors: list[str]) -> History | None:
        if self._lake is None:
            return None
        if identifier not in self._histories:
            self._histories[identifier] = _guard(errors, identifier, lambda: self._lake.history(identifier))
        return self._histories[identifier]

    def layer(self, layer: Layer) -> LayerObservation:
        errors = list(self._catalog_errors)
        running, pid = _running(self._settings, layer.name)
        stamps = {}
        for table in layer.tables:
            history = self._history(table, errors)
            stamp = newest_stamps(history.snapshots).get(layer.name) if history else None
            if stamp is not None:
                stamps[table] = stamp
        last_commit = max((s.committed_at for s in stamps.values()), default=None)
        if layer.upstream_table is None:
            own = stamps.get(layer.tables[0])
            backlog = self._stream_backlog(ledger.positions_of(own.summary) if own else {}, errors)
        else:
            backlog = self._table_backlog(layer, errors)
        rate = self._dq_pass_rate(last_commit, errors) if layer.name == "silver" else None
        return LayerObservation(layer.name, running, pid, last_commit, backlog, rate, tuple(errors))

    def _stream_backlog(self, positions: dict[str, str], errors: list[str]) -> Backlog | None:
        from pipelines.adapters.kinesis_backlog import BotoKinesisBacklog

        cap = self._settings.max_lag_records + 1  # enough to judge the threshold, never more
        source = self._stream or BotoKinesisBacklog.from_settings(self._settings)
        return _guard(errors, "the stream", lambda: source.backlog(positions, cap=cap))

    def _table_backlog(self, layer: Layer, errors: list[str]) -> Backlog | None:
        assert layer.upstream_table is not None
        upstream = self._history(layer.upstream_table, errors)
        checkpoint = f"{self._settings.checkpoints.rstrip('/')}/{layer.name}"
        position = _guard(errors, f"checkpoint {checkpoint}", lambda: read_position(self._files, checkpoint))
        if upstream is None or position is None:
            return None
        return backlog_after(upstream.ancestry, position.read_to)

    def _dq_pass_rate(self, last_commit: datetime | None, errors: list[str]) -> float | None:
        if self._lake is None or last_commit is None:
            return None
        since = last_commit - DQ_WINDOW
        counts = _guard(errors, "dq_results", lambda: self._lake.dq_counts(DQ_RESULTS.identifier, since))
        return counts[1] / counts[0] if counts and counts[0] else None


def _local_lake_root(settings: Settings) -> Path:
    """What exists locally once the pipeline has run: the Iceberg catalog, or the folder of the Delta tables."""
    return settings.table_path(BRONZE_EVENTS.identifier).parents[1] if settings.is_delta else settings.catalog_db


def _open_history(settings: Settings) -> Any:
    """The tables' histories without Spark: each Delta table's log, or the Iceberg catalog through pyiceberg."""
    if settings.is_delta:
        from pipelines.adapters.delta_history import DeltaLogHistory

        return DeltaLogHistory(settings)
    from pipelines.adapters.iceberg_history import PyIcebergHistory

    return PyIcebergHistory(settings)


def _running(settings: Settings, job: str) -> tuple[bool | None, int | None]:
    if settings.runtime is not Runtime.LOCAL:
        return None, None
    pid = lock_holder(settings.run_dir, job)
    return pid is not None, pid


def lock_holder(run_dir: Path, job: str) -> int | None:
    """The pid holding ``job``'s lock, found without touching the lock (a probe must never make a job refuse).

    Linux lists every flock in ``/proc/locks`` (``1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ...``);
    elsewhere the lock itself is probed.
    """
    path = run_dir / f"{job}.lock"
    if not path.exists():
        return None
    locks = Path("/proc/locks")
    if not locks.exists():
        from pipelines.local.locks import running_pid

        return running_pid(run_dir, job)
    inode = str(path.stat().st_ino)
    for line in locks.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == inode:
            return int(parts[4])
    return None


def check(settings: Settings, *, now: datetime | None = None, **observers: Any) -> StatusReport:
    """Observe every layer and judge it against ``settings``' thresholds."""
    now = now or datetime.now(UTC)
    thresholds = Thresholds.from_settings(settings)
    layers = tuple(assess(o, thresholds, now=now) for o in observe(settings, **observers))
    return StatusReport(now, layers)


def to_json(report: StatusReport) -> str:
    return json.dumps(report.as_dict(), indent=2)
