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
    source = ReadAheadSource(inner)

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
