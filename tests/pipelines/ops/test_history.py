"""The history rules: what waits to be read, when a stream has caught up, which stamps the ledger needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.ops.history import (
    Backlog,
    DeltaStreamOffset,
    History,
    SnapshotInfo,
    StreamOffset,
    backlog_after,
    caught_up,
    main_ancestry,
    newest_append,
    newest_stamps,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def snap(
    sid: int, parent: int | None, op: str = "append", records: int = 10, files: int = 1, **summary: str
) -> SnapshotInfo:
    return SnapshotInfo(
        snapshot_id=sid,
        parent_id=parent,
        committed_at=T0 + timedelta(seconds=sid),
        operation=op,
        summary={
            "added-records": str(records if op == "append" else 0),
            "added-data-files": str(files if op == "append" else 0),
            "total-records": str(records * sid),
            "total-data-files": str(files * sid),
            **summary,
        },
    )


# 1 append, 2 append, 3 replace (compaction), 4 append, 5 delete, 6 append (empty)
HISTORY = [
    snap(1, None),
    snap(2, 1),
    snap(3, 2, "replace"),
    snap(4, 3, records=7),
    snap(5, 4, "delete"),
    snap(6, 5, records=0, files=0),
]


def test_main_ancestry_follows_parents_back_from_current_oldest_first() -> None:
    unrelated = snap(9, 1)  # a snapshot off the main line (e.g. a tagged one whose children were expired)

    assert [s.snapshot_id for s in main_ancestry([*HISTORY, unrelated], 6)] == [1, 2, 3, 4, 5, 6]
    assert [s.snapshot_id for s in main_ancestry(HISTORY[2:], 6)] == [3, 4, 5, 6]  # older ones expired
    assert main_ancestry(HISTORY, None) == []


@pytest.mark.parametrize(
    ("read_to", "records", "snapshots", "oldest"),
    [
        (None, 27, 3, 1),  # a stream not started reads every kept append
        (StreamOffset(1, 0), 27, 3, 1),  # started at 1: nothing of it read yet
        (StreamOffset(1, 1), 17, 2, 2),  # 1 read
        (StreamOffset(2, 1), 7, 1, 4),  # replace 3 is skipped, 4 waits
        (StreamOffset(4, 1), 0, 0, None),  # delete 5 skipped, 6 is empty
        (StreamOffset(6, 0), 0, 0, None),
        (StreamOffset(3, 0, scan_all_files=True), 7, 1, 4),  # a replace is skipped even when scanning all
        (StreamOffset(2, 0, scan_all_files=True), 27, 2, 2),  # the whole table as of 2 (20), then 4
        (StreamOffset(2, 1, scan_all_files=True), 27, 2, 2),  # part of 2's files: counted whole (upper bound)
    ],
)
def test_backlog_after_counts_unread_appends(
    read_to: StreamOffset | None, records: int, snapshots: int, oldest: int | None
) -> None:
    backlog = backlog_after(main_ancestry(HISTORY, 6), read_to)

    assert (backlog.records, backlog.snapshots) == (records, snapshots)
    assert backlog.oldest_waiting_since == (T0 + timedelta(seconds=oldest) if oldest else None)
    assert backlog.resumable


def test_backlog_after_an_expired_snapshot_is_not_resumable() -> None:
    assert backlog_after(main_ancestry(HISTORY[2:], 6), StreamOffset(1, 1)) == Backlog(records=0, resumable=False)


def test_caught_up_once_every_append_up_to_the_target_is_read() -> None:
    ancestry = main_ancestry(HISTORY, 6)

    assert not caught_up(ancestry, StreamOffset(1, 1), 2)
    assert caught_up(ancestry, StreamOffset(2, 1), 2)
    assert caught_up(ancestry, StreamOffset(2, 1), 3)  # a replace needs no reading
    assert caught_up(ancestry, StreamOffset(4, 0), 2)  # past the target
    assert not caught_up(ancestry, StreamOffset(4, 0), 4)
    assert not caught_up(ancestry, None, 1)


def test_newest_stamps_per_writer_ignore_unstamped_snapshots() -> None:
    stamped = [
        snap(1, None, **{"telcopulse.writer": "bronze"}),
        snap(2, 1, **{"telcopulse.writer": "bronze"}),
        snap(3, 2, "replace"),
        snap(4, 3, **{"telcopulse.writer": "silver-replay"}),
    ]

    assert {w: s.snapshot_id for w, s in newest_stamps(stamped).items()} == {"bronze": 2, "silver-replay": 4}


def test_newest_append_skips_maintenance_snapshots() -> None:
    assert newest_append(main_ancestry(HISTORY[:3], 3)) == HISTORY[1]
    assert newest_append([]) is None


def test_stream_offset_json_is_what_iceberg_reads() -> None:
    offset = StreamOffset(42, 3, scan_all_files=True)

    assert offset.json() == '{"version": 1, "snapshot_id": 42, "position": 3, "scan_all_files": true}'
    assert StreamOffset.from_json(offset.json()) == offset


def test_history_finds_snapshots_by_id() -> None:
    history = History(tuple(HISTORY), 6)

    assert history.by_id(4) == HISTORY[3] and history.by_id(99) is None
    assert [s.snapshot_id for s in history.ancestry] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("read_to", "records", "oldest"),
    [
        (DeltaStreamOffset(7, 0), 0, None),  # 6 read whole: Delta's offset names the next version
        (DeltaStreamOffset(5, 0), 0, None),  # the delete is skipped (skipChangeCommits), 6 is empty
        (DeltaStreamOffset(4, 0), 7, 4),  # nothing of 4 read yet
        (DeltaStreamOffset(3, 0, scan_all_files=True), 37, 3),  # a starting snapshot is read whole, even a replace
        (DeltaStreamOffset(2, 1, scan_all_files=True), 27, 2),  # part of a starting snapshot: counted whole
    ],
)
def test_backlog_after_a_delta_offset(read_to: StreamOffset, records: int, oldest: int | None) -> None:
    backlog = backlog_after(main_ancestry(HISTORY, 6), read_to)

    assert backlog.records == records and backlog.resumable
    assert backlog.oldest_waiting_since == (T0 + timedelta(seconds=oldest) if oldest else None)


def test_a_delta_offset_past_the_newest_version_is_caught_up_but_an_iceberg_id_is_not() -> None:
    ancestry = main_ancestry(HISTORY, 6)

    assert caught_up(ancestry, DeltaStreamOffset(7, 0), 6)
    assert caught_up(ancestry, DeltaStreamOffset(7, 0), 4)
    assert not caught_up(ancestry, DeltaStreamOffset(4, 0), 4)
    # Iceberg's snapshot ids are not versions: an unknown id is an expired snapshot, as before.
    assert backlog_after(ancestry, StreamOffset(7, 0)) == Backlog(records=0, resumable=False)
    assert not caught_up(ancestry, StreamOffset(7, 0), 6)


def test_a_delta_offset_before_the_oldest_kept_version_cannot_resume() -> None:
    kept = main_ancestry(HISTORY[2:], 6)  # versions 1 and 2 cleaned from the log

    assert backlog_after(kept, DeltaStreamOffset(2, 1)) == Backlog(records=0, resumable=False)
    assert backlog_after(kept, DeltaStreamOffset(8, 0)) == Backlog(records=0, resumable=False)  # never written


def test_delta_stream_offset_json_is_what_delta_reads() -> None:
    offset = DeltaStreamOffset(42, 3, scan_all_files=True, reservoir_id="r-1")

    assert json.loads(offset.json()) == {
        "sourceVersion": 1,
        "reservoirId": "r-1",
        "reservoirVersion": 42,
        "index": 2,
        "isStartingVersion": True,
    }
    assert DeltaStreamOffset.from_json(offset.json()) == offset
