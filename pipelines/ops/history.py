"""A table's snapshot history and a stream's place in it: the facts `status`, `maintain` and `rebuild` share.

Pure: snapshots come from an adapter (pyiceberg, Spark's metadata tables, or a Delta log read in Iceberg's
vocabulary) and offsets from a checkpoint reader. Iceberg's streaming source reads only *append* snapshots (it
skips replace, delete and overwrite snapshots with the options the jobs set), so only appends ever wait to be
read; Delta's source with ``skipChangeCommits`` likewise reads only the versions that add data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipelines.ledger import WRITER

APPEND = "append"


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot: its place in the history, its operation and its summary (where the ledger stamps live)."""

    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    summary: Mapping[str, str] = field(default_factory=dict)

    def _count(self, key: str) -> int:
        value = self.summary.get(key)
        return int(value) if value is not None and str(value).lstrip("-").isdigit() else 0

    @property
    def added_records(self) -> int:
        return self._count("added-records")

    @property
    def added_files(self) -> int:
        return self._count("added-data-files")

    @property
    def total_records(self) -> int:
        return self._count("total-records")

    @property
    def total_files(self) -> int:
        return self._count("total-data-files")

    @property
    def writer(self) -> str | None:
        return self.summary.get(WRITER)


@dataclass(frozen=True)
class StreamOffset:
    """Iceberg's streaming offset: files before ``position`` of ``snapshot_id`` are read.

    With ``scan_all_files`` the position counts every live file of the snapshot (a stream that starts
    with the whole table), otherwise only the files the snapshot added.
    """

    snapshot_id: int
    position: int
    scan_all_files: bool = False

    def json(self) -> str:
        """The JSON Iceberg's ``StreamingOffset`` reads and writes (version 1)."""
        return json.dumps(
            {
                "version": 1,
                "snapshot_id": self.snapshot_id,
                "position": self.position,
                "scan_all_files": self.scan_all_files,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> StreamOffset:
        body = json.loads(text)
        return cls(int(body["snapshot_id"]), int(body["position"]), bool(body.get("scan_all_files", False)))

    def reads_whole(self, snapshot: SnapshotInfo) -> bool:
        """Whether the stream reads the files of its offset's own snapshot: Iceberg reads only appends."""
        return snapshot.operation == APPEND

    def is_past(self, newest: SnapshotInfo) -> bool:
        """Whether the offset names a snapshot after ``newest``, i.e. everything is read: never for Iceberg."""
        return False


@dataclass(frozen=True)
class DeltaStreamOffset(StreamOffset):
    """Delta Lake's streaming offset (``reservoirVersion``, ``index``, ``isStartingVersion``) in Iceberg's terms.

    ``snapshot_id`` is the table version, ``position`` the files of it read (``index + 1``) and
    ``scan_all_files`` says the version is the stream's starting snapshot, read whole whatever its commit
    was. Once a version is read to its end, Delta's offset names the next version, which does not exist
    until the table commits again.
    """

    reservoir_id: str = ""

    def json(self) -> str:
        """The JSON Delta's ``DeltaSourceOffset`` reads and writes (source version 1)."""
        return json.dumps(
            {
                "sourceVersion": 1,
                "reservoirId": self.reservoir_id,
                "reservoirVersion": self.snapshot_id,
                "index": self.position - 1,
                "isStartingVersion": self.scan_all_files,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DeltaStreamOffset:
        body = json.loads(text)
        return cls(
            snapshot_id=int(body["reservoirVersion"]),
            position=int(body["index"]) + 1,
            scan_all_files=bool(body.get("isStartingVersion", False)),
            reservoir_id=str(body.get("reservoirId", "")),
        )

    def reads_whole(self, snapshot: SnapshotInfo) -> bool:
        return self.scan_all_files or snapshot.operation == APPEND

    def is_past(self, newest: SnapshotInfo) -> bool:
        return self.snapshot_id == newest.snapshot_id + 1 and self.position <= 0


@dataclass(frozen=True)
class Backlog:
    """What waits to be read: records, the append snapshots holding them, and since when the oldest waits.

    ``resumable`` is False when the reader's snapshot is no longer in the table: Iceberg's streaming
    source cannot resume from an expired snapshot, so nothing is read until the layer is rebuilt.
    ``capped`` says counting stopped at a cap: there are at least ``records``.
    """

    records: int
    snapshots: int = 0
    oldest_waiting_since: datetime | None = None
    resumable: bool = True
    capped: bool = False


@dataclass(frozen=True)
class History:
    """Every snapshot a table still keeps, and which one is current (None: the table has none)."""

    snapshots: tuple[SnapshotInfo, ...]
    current_id: int | None

    @property
    def ancestry(self) -> list[SnapshotInfo]:
        return main_ancestry(self.snapshots, self.current_id)

    def by_id(self, snapshot_id: int) -> SnapshotInfo | None:
        return next((s for s in self.snapshots if s.snapshot_id == snapshot_id), None)


def main_ancestry(snapshots: Iterable[SnapshotInfo], current_id: int | None) -> list[SnapshotInfo]:
    """The current snapshot and its ancestors, oldest first, as far back as snapshots are kept."""
    by_id = {s.snapshot_id: s for s in snapshots}
    chain: list[SnapshotInfo] = []
    cursor = by_id.get(current_id) if current_id is not None else None
    while cursor is not None:
        chain.append(cursor)
        cursor = by_id.get(cursor.parent_id) if cursor.parent_id is not None else None
    return chain[::-1]


def _unread_in_offset_snapshot(snapshot: SnapshotInfo, offset: StreamOffset) -> int:
    """Records of the offset's own snapshot not yet read; a partly read snapshot counts whole (an upper bound)."""
    if not offset.reads_whole(snapshot):
        return 0  # Iceberg skips it, even when asked to scan all of its files
    files = snapshot.total_files if offset.scan_all_files else snapshot.added_files
    records = snapshot.total_records if offset.scan_all_files else snapshot.added_records
    return records if offset.position < files else 0


def backlog_after(ancestry: Sequence[SnapshotInfo], read_to: StreamOffset | None) -> Backlog:
    """Records a stream has yet to read when it has read up to ``read_to`` (None: a stream not started yet).

    A stream that has not started reads every append still in the history, from the oldest kept one.

    Args:
        ancestry: the table's current snapshot and its ancestors, oldest first (``main_ancestry``).
        read_to: the end offset of the reader's last committed batch, or the initial offset it will start at.
    """
    if read_to is None:
        pending = [(s, s.added_records) for s in ancestry if s.operation == APPEND]
    else:
        index = _offset_index(ancestry, read_to)
        if index is None:
            return Backlog(records=0, resumable=not ancestry)
        if index == len(ancestry):
            return Backlog(records=0)
        pending = [(ancestry[index], _unread_in_offset_snapshot(ancestry[index], read_to))]
        pending += [(s, s.added_records) for s in ancestry[index + 1 :] if s.operation == APPEND]
    waiting = [(s, n) for s, n in pending if n > 0]
    return Backlog(
        records=sum(n for _, n in waiting),
        snapshots=len(waiting),
        oldest_waiting_since=waiting[0][0].committed_at if waiting else None,
    )


def caught_up(ancestry: Sequence[SnapshotInfo], read_to: StreamOffset | None, target_id: int) -> bool:
    """True once a stream has read every append up to and including snapshot ``target_id``."""
    ids = [s.snapshot_id for s in ancestry]
    index = _offset_index(ancestry, read_to) if read_to is not None else None
    if read_to is None or target_id not in ids or index is None:
        return False
    if index > ids.index(target_id):
        return True
    return backlog_after(ancestry[: ids.index(target_id) + 1], read_to).records == 0


def _offset_index(ancestry: Sequence[SnapshotInfo], read_to: StreamOffset) -> int | None:
    """Where ``read_to`` points in ``ancestry``: its snapshot's index, ``len(ancestry)`` when it points past the
    newest snapshot (Delta, after reading the newest version), None when its snapshot is no longer kept."""
    index = next((i for i, s in enumerate(ancestry) if s.snapshot_id == read_to.snapshot_id), None)
    if index is None and ancestry and read_to.is_past(ancestry[-1]):
        return len(ancestry)
    return index


def newest_stamps(snapshots: Iterable[SnapshotInfo]) -> dict[str, SnapshotInfo]:
    """Each writer's newest stamped snapshot: what the exactly-once ledger reads to resume or skip."""
    newest: dict[str, SnapshotInfo] = {}
    for snapshot in snapshots:
        writer = snapshot.writer
        if writer is None:
            continue
        known = newest.get(writer)
        if known is None or (snapshot.committed_at, snapshot.snapshot_id) > (known.committed_at, known.snapshot_id):
            newest[writer] = snapshot
    return newest


def newest_append(ancestry: Sequence[SnapshotInfo]) -> SnapshotInfo | None:
    """The newest append in the history: a stream started on it with ``scan_all_files`` reads the whole table."""
    return next((s for s in reversed(ancestry) if s.operation == APPEND), None)
