"""ReadAheadSource: the next batch is read while the caller writes, and only ever from the caller's positions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from threading import Lock

import pyarrow as pa

from pipelines.adapters.read_ahead import ReadAheadSource
from pipelines.ports import StreamBatch


class CountingSource:
    """A stream of numbered records on one shard; records each read it serves (position, limit)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.reads: list[tuple[int, int]] = []
        self._lock = Lock()

    def read(self, positions: Mapping[str, str], *, max_records: int) -> StreamBatch:
        with self._lock:
            start = int(positions.get("shard-0", "0"))
            end = min(self.total, start + max_records)
            self.reads.append((start, max_records))
            return StreamBatch(pa.table({"n": list(range(start, end))}), {"shard-0": str(end)})

    def close(self) -> None:
        pass


def test_batches_follow_the_callers_positions_and_a_smaller_read_ahead_is_taken() -> None:
    inner = CountingSource(total=30)
    source = ReadAheadSource(inner, depth=1)

    first = source.read({}, max_records=5)
    second = source.read(first.positions, max_records=10)  # read ahead with 5: still a valid batch
    third = source.read(second.positions, max_records=10)
    source.close()

    assert [b.records.column("n").to_pylist() for b in (first, second, third)] == [
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
        list(range(10, 20)),
    ]
    assert inner.reads[:3] == [(0, 5), (5, 5), (10, 10)]


def test_a_read_ahead_from_other_positions_is_discarded() -> None:
    """After a failed commit the caller asks again from where it stood: the batch read ahead is not used."""
    inner = CountingSource(total=30)
    source = ReadAheadSource(inner)

    first = source.read({}, max_records=5)
    again = source.read({}, max_records=5)
    source.close()

    assert again.records.column("n").to_pylist() == first.records.column("n").to_pylist() == [0, 1, 2, 3, 4]


def test_a_small_first_batch_is_followed_by_a_full_size_read_ahead() -> None:
    inner = CountingSource(total=30)
    source = ReadAheadSource(inner)

    first = source.read({}, max_records=5, ahead_records=20)
    second = source.read(first.positions, max_records=20, ahead_records=20)
    source.close()

    assert second.records.column("n").to_pylist() == list(range(5, 25))
    assert inner.reads[:2] == [(0, 5), (5, 20)]


def test_a_read_ahead_larger_than_the_next_ask_is_discarded() -> None:
    """A batch must never exceed what the caller asks for: a bigger read-ahead is read again at the ask."""
    inner = CountingSource(total=30)
    source = ReadAheadSource(inner)

    first = source.read({}, max_records=5, ahead_records=20)
    second = source.read(first.positions, max_records=10)
    source.close()

    assert second.records.column("n").to_pylist() == list(range(5, 15))


def test_after_a_short_batch_the_next_read_waits_for_the_period_and_a_full_one_does_not() -> None:
    inner = CountingSource(total=25)
    source = ReadAheadSource(inner)

    began = time.monotonic()
    full = source.read({}, max_records=10, pace_s=30.0)  # a backlog: the next read starts at once
    second = source.read(full.positions, max_records=10, pace_s=0.5)
    after_full = time.monotonic() - began
    short = source.read(second.positions, max_records=10, pace_s=0.5)  # 20..24: drained
    began_short = time.monotonic()
    empty = source.read(short.positions, max_records=10, pace_s=0.5)
    waited = time.monotonic() - began_short
    source.close()

    assert [b.size for b in (full, second, short, empty)] == [10, 10, 5, 0]
    assert after_full < 5.0  # not the 30 s period: a full batch is followed at once
    assert waited >= 0.4  # the read after the short batch began half a second after it


def test_a_backlog_is_read_up_to_depth_batches_ahead_while_the_caller_writes() -> None:
    inner = CountingSource(total=100)
    source = ReadAheadSource(inner, depth=2)

    first = source.read({}, max_records=10)
    deadline = time.monotonic() + 5.0
    while len(inner.reads) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the caller "writes" its batch; the reader goes on meanwhile
    time.sleep(0.1)
    read_while_writing = list(inner.reads)
    second = source.read(first.positions, max_records=10)
    third = source.read(second.positions, max_records=10)
    source.close()

    assert read_while_writing == [(0, 10), (10, 10), (20, 10)]  # two ahead, not more
    assert [b.records.column("n").to_pylist() for b in (second, third)] == [
        list(range(10, 20)),
        list(range(20, 30)),
    ]


def test_batches_read_ahead_are_all_discarded_when_the_caller_asks_from_elsewhere() -> None:
    inner = CountingSource(total=100)
    source = ReadAheadSource(inner, depth=3)

    first = source.read({}, max_records=10)
    second = source.read(first.positions, max_records=10)
    again = source.read(first.positions, max_records=10)  # second's commit failed: asked again
    after = source.read(again.positions, max_records=10)
    source.close()

    assert again.records.column("n").to_pylist() == second.records.column("n").to_pylist() == list(range(10, 20))
    assert after.records.column("n").to_pylist() == list(range(20, 30))


def test_a_read_ahead_behind_a_short_batch_waits_for_the_period() -> None:
    """At the end of a backlog the batch read after a short one is paced like any read after a short one."""
    inner = CountingSource(total=15)
    source = ReadAheadSource(inner, depth=2)

    full = source.read({}, max_records=10, pace_s=0.5)  # reads 10..14 (short) and then, chained, 15..
    short = source.read(full.positions, max_records=10, pace_s=0.5)
    began = time.monotonic()
    empty = source.read(short.positions, max_records=10, pace_s=0.5)
    waited = time.monotonic() - began
    source.close()

    assert [b.size for b in (full, short, empty)] == [10, 5, 0]
    assert waited >= 0.3  # the chained read waited half a second after the short one came back


def test_a_failed_read_ahead_surfaces_once_and_the_next_read_starts_afresh() -> None:
    class FailingOnce(CountingSource):
        failed = False

        def read(self, positions: Mapping[str, str], *, max_records: int) -> StreamBatch:
            if positions.get("shard-0") == "10" and not self.failed:
                self.failed = True
                raise ConnectionError("stream went away")
            return super().read(positions, max_records=max_records)

    inner = FailingOnce(total=100)
    source = ReadAheadSource(inner, depth=2)

    first = source.read({}, max_records=10)
    try:
        source.read(first.positions, max_records=10)
        raised = False
    except ConnectionError:
        raised = True
    retried = source.read(first.positions, max_records=10)
    source.close()

    assert raised
    assert retried.records.column("n").to_pylist() == list(range(10, 20))
