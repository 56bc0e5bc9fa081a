"""Delta Lake table histories read from the transaction log (``_delta_log``), no Spark: `status` and DuckDB.

A Delta table's log holds one JSON file per commit (``<version, 20 digits>.json``, one action per line) and,
every few commits, a Parquet checkpoint of the table's files; the oldest commits are cleaned after a
checkpoint. Each kept commit becomes a ``SnapshotInfo`` in the Iceberg vocabulary that the history rules
(``pipelines.ops.history``) are written in:

- the version is the snapshot id and the previous version its parent (the oldest kept one has none);
- ``append``: WRITE or STREAMING UPDATE in append mode; ``overwrite``: MERGE, UPDATE and overwriting writes;
  ``delete``: DELETE and TRUNCATE; ``replace``: OPTIMIZE and every other commit that changes no data (table
  creation, VACUUM, properties), of which a stream reads nothing;
- the summary: the ledger stamp (``commitInfo.userMetadata``, a JSON object of strings) plus Iceberg's
  ``added-records`` (rows appended or inserted), ``added-data-files``, ``total-records`` and
  ``total-data-files``; the totals replay the add and remove actions with their ``stats.numRecords``, from
  the table's creation or, once old commits were cleaned, from the oldest kept checkpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
from pyarrow import fs

from pipelines.ops.history import APPEND, History, SnapshotInfo
from pipelines.settings import Settings

LOG_DIR = "_delta_log"
COMMIT_FILE = re.compile(r"(\d{20})\.json")
# A classic checkpoint: one file, or parts ``<version>.checkpoint.<part>.<parts>.parquet``.
CHECKPOINT_FILE = re.compile(r"(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet")

OVERWRITE = "overwrite"
DELETE = "delete"
REPLACE = "replace"
# Delta operations whose Iceberg name does not follow from their actions alone.
_WRITES = frozenset(
    {
        "WRITE",
        "STREAMING UPDATE",
        "CREATE TABLE AS SELECT",
        "REPLACE TABLE AS SELECT",
        "CREATE OR REPLACE TABLE AS SELECT",
    }
)
_OVERWRITES = frozenset({"MERGE", "UPDATE"})
_DELETES = frozenset({"DELETE", "TRUNCATE"})
# The operation metric that counts the rows a commit adds to the table (writes: numOutputRows).
_NEW_ROWS_METRIC = {"MERGE": "numTargetRowsInserted"}


@dataclass(frozen=True)
class DataFile:
    """A file named by an add or remove action: its identity in the table (path and deletion vector), its
    live rows (None without statistics) and whether the action changes data (False for compaction)."""

    key: str
    records: int | None
    data_change: bool = True


@dataclass(frozen=True)
class Commit:
    """One commit file: its ``commitInfo`` and the files it adds and removes."""

    version: int
    info: Mapping[str, Any]
    added: tuple[DataFile, ...] = ()
    removed: tuple[DataFile, ...] = ()

    @property
    def delta_operation(self) -> str:
        return str(self.info.get("operation", ""))

    @property
    def committed_at(self) -> datetime:
        millis = self.info.get("inCommitTimestamp", self.info.get("timestamp", 0))
        return datetime.fromtimestamp(int(millis) / 1000, UTC)

    @property
    def operation(self) -> str:
        """Iceberg's name for what the commit did to the data (see the module's docstring)."""
        name = self.delta_operation
        if name in _DELETES:
            return DELETE
        if name in _OVERWRITES:
            return OVERWRITE
        changes_adds = any(f.data_change for f in self.added)
        changes_removes = any(f.data_change for f in self.removed)
        if name in _WRITES:
            parameters = self.info.get("operationParameters") or {}
            mode = str(parameters.get("mode", parameters.get("outputMode", "Append")))
            return APPEND if mode == "Append" and not changes_removes else OVERWRITE
        if changes_removes:
            return OVERWRITE if changes_adds else DELETE
        return APPEND if changes_adds else REPLACE

    @property
    def added_records(self) -> int:
        """Rows new to the table: appended, or inserted by a MERGE; none for deletes and rewrites."""
        operation = self.operation
        if operation in (DELETE, REPLACE):
            return 0
        metrics = self.info.get("operationMetrics") or {}
        counted = metrics.get(_NEW_ROWS_METRIC.get(self.delta_operation, "numOutputRows"))
        if counted is not None:
            return int(counted)
        if operation == APPEND:
            return sum(f.records or 0 for f in self.added)
        return 0

    @property
    def stamp(self) -> dict[str, str]:
        """The ledger stamp of ``userMetadata``; empty when the commit carries none (or not a JSON object)."""
        text = self.info.get("userMetadata")
        try:
            body = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}


def _records(action: Mapping[str, Any]) -> int | None:
    stats = action.get("stats")
    counted = json.loads(stats).get("numRecords") if stats else (action.get("stats_parsed") or {}).get("numRecords")
    if counted is None:
        return None
    vector = action.get("deletionVector") or {}
    return int(counted) - int(vector.get("cardinality") or 0)


def data_file(action: Mapping[str, Any]) -> DataFile:
    """The file of an add or remove action; a deletion vector makes another file of the same path."""
    vector = action.get("deletionVector")
    key = str(action["path"])
    if vector:
        key += f"#{vector.get('storageType')}{vector.get('pathOrInlineDv')}@{vector.get('offset')}"
    return DataFile(key, _records(action), bool(action.get("dataChange", True)))


def parse_commit(version: int, text: str) -> Commit:
    """One commit file's actions (one JSON object a line); actions other than commitInfo/add/remove are skipped."""
    info: Mapping[str, Any] = {}
    added: list[DataFile] = []
    removed: list[DataFile] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
        elif "add" in action:
            added.append(data_file(action["add"]))
        elif "remove" in action:
            removed.append(data_file(action["remove"]))
    return Commit(version, info, tuple(added), tuple(removed))


@dataclass(frozen=True)
class Checkpoint:
    """The table's live files as of ``version``: file key -> rows (None without statistics)."""

    version: int
    files: Mapping[str, int | None]


def _summary(commit: Commit, live: Mapping[str, int | None] | None) -> dict[str, str]:
    summary = {
        **commit.stamp,
        "added-records": str(commit.added_records),
        "added-data-files": str(len(commit.added)),
    }
    if live is not None:
        summary["total-data-files"] = str(len(live))
        if all(n is not None for n in live.values()):
            summary["total-records"] = str(sum(n or 0 for n in live.values()))
    return summary


def replay(commits: Sequence[Commit], checkpoint: Checkpoint | None = None) -> tuple[SnapshotInfo, ...]:
    """Kept commits, oldest first, as snapshots; totals from version 0 on, or from ``checkpoint`` on.

    Args:
        commits: consecutive commits; the first one's parent is unknown (None) unless it is version 0.
        checkpoint: the table state at a version from the first commit's parent on, when the log no longer
            starts at version 0. Commits before it get no totals.
    """
    if not commits:
        return ()
    live: dict[str, int | None] | None = {} if commits[0].version == 0 else None
    if checkpoint is not None and checkpoint.version == commits[0].version - 1:
        live = dict(checkpoint.files)
    snapshots: list[SnapshotInfo] = []
    for commit in commits:
        if live is not None:
            for removed in commit.removed:
                live.pop(removed.key, None)
            live.update((added.key, added.records) for added in commit.added)
        if checkpoint is not None and commit.version == checkpoint.version:
            live = dict(checkpoint.files)
        snapshots.append(
            SnapshotInfo(
                snapshot_id=commit.version,
                parent_id=commit.version - 1 if snapshots else None,
                committed_at=commit.committed_at,
                operation=commit.operation,
                summary=_summary(commit, live),
            )
        )
    return tuple(snapshots)


class DeltaLog:
    """One table's ``_delta_log`` through pyarrow: a local folder, or a ``file://`` / ``s3://`` location."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/")
        if "://" in self.location:
            self._fs, root = fs.FileSystem.from_uri(self.location)
        else:
            self._fs, root = fs.LocalFileSystem(), self.location
        self._log = f"{root.rstrip('/')}/{LOG_DIR}"

    def commit_uri(self, version: int) -> str:
        """Where commit ``version`` lives, in the table location's own terms."""
        return f"{self.location}/{LOG_DIR}/{version:020d}.json"

    def _commit_path(self, version: int) -> str:
        return f"{self._log}/{version:020d}.json"

    def _exists(self, version: int) -> bool:
        return self._fs.get_file_info(self._commit_path(version)).type is fs.FileType.File

    def listing(self) -> tuple[list[int], dict[int, list[str]]]:
        """The kept commit versions, oldest first, and the complete checkpoints: version -> file paths."""
        infos = self._fs.get_file_info(fs.FileSelector(self._log, allow_not_found=True))
        versions: list[int] = []
        parts: dict[int, list[tuple[int, str]]] = {}
        expected: dict[int, int] = {}
        for info in infos:
            if commit := COMMIT_FILE.fullmatch(info.base_name):
                versions.append(int(commit.group(1)))
            elif checkpoint := CHECKPOINT_FILE.fullmatch(info.base_name):
                version = int(checkpoint.group(1))
                parts.setdefault(version, []).append((int(checkpoint.group(2) or 1), info.path))
                expected[version] = int(checkpoint.group(3) or 1)
        complete = {v: [p for _, p in sorted(found)] for v, found in parts.items() if len(found) == expected[v]}
        return sorted(versions), complete

    def newest_version(self, known: int | None = None) -> int | None:
        """The newest commit's version (None: no commit yet); from ``known`` on it probes the next commit files
        instead of listing the log, a few file checks however long the log is."""
        if known is not None and self._exists(known):
            version = known
            while self._exists(version + 1):
                version += 1
            return version
        versions, _ = self.listing()
        return versions[-1] if versions else None

    def read_commit(self, version: int) -> Commit | None:
        """Commit ``version``, or None if its file is gone (cleaned after a checkpoint)."""
        try:
            with self._fs.open_input_stream(self._commit_path(version)) as stream:
                text = bytes(stream.read()).decode("utf-8")
        except FileNotFoundError:
            return None
        return parse_commit(version, text)

    def read_commits(self, versions: Iterable[int]) -> list[Commit]:
        return [commit for version in versions if (commit := self.read_commit(version)) is not None]

    def read_checkpoint(self, version: int, paths: Sequence[str]) -> Checkpoint:
        """The live files that a checkpoint lists (its ``add`` actions)."""
        files: dict[str, int | None] = {}
        for path in paths:
            for action in pq.read_table(path, columns=["add"], filesystem=self._fs).column("add").to_pylist():
                if action:
                    added = data_file(action)
                    files[added.key] = added.records
        return Checkpoint(version, files)

    def snapshots(self) -> tuple[SnapshotInfo, ...]:
        """Every kept commit as a snapshot, oldest first (empty without a log)."""
        versions, checkpoints = self.listing()
        commits = self.read_commits(versions)
        if not commits:
            return ()
        checkpoint = None
        if commits[0].version > 0:
            usable = [v for v in checkpoints if commits[0].version - 1 <= v <= commits[-1].version]
            if usable:
                checkpoint = self.read_checkpoint(min(usable), checkpoints[min(usable)])
        return replay(commits, checkpoint)


class DeltaLogHistory:
    """Histories from each table's Delta log (no Spark, no catalog): the Delta twin of ``PyIcebergHistory``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def log(self, identifier: str) -> DeltaLog:
        return DeltaLog(self._settings.table_location(identifier))

    def history(self, identifier: str) -> History:
        """Every kept version and the newest; an empty history for a folder without a log."""
        snapshots = self.log(identifier).snapshots()
        return History(snapshots, snapshots[-1].snapshot_id if snapshots else None)

    def dq_counts(self, identifier: str, since: datetime) -> tuple[int, int]:
        """Sums of ``rows_in`` and ``rows_valid`` over the data-quality rows validated at or after ``since``."""
        from pipelines.adapters.duckdb_engine import connect

        if self.log(identifier).newest_version() is None:
            return 0, 0
        with connect(self._settings, ("delta",)) as connection:
            row = connection.execute(
                "SELECT coalesce(sum(rows_in), 0), coalesce(sum(rows_valid), 0) FROM delta_scan(?) "
                "WHERE validated_at >= ?",
                [str(self._settings.table_path(identifier)), since.astimezone(UTC)],
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])
