"""The history rules: what waits to be read, when a stream has caught up, which stamps the ledger needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.ops.history import (
    Backlog,
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
