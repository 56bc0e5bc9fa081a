"""A stream source that reads the next batches while the caller writes the current one.

Bronze spends a batch's time in two places that can overlap: GetRecords (the stream server and boto3's
parsing) and the Spark write and commit. After handing out a non-empty batch, ``ReadAheadSource`` starts
reading the batch after it in a background thread; while a backlog lasts (the batch came back full) it
keeps up to ``depth`` batches read ahead, so that a slow write (the process's JIT-cold first one, say)
never leaves the reader idle. The caller's next ``read`` takes the oldest batch read ahead if it asks from
the positions that batch was read from, and otherwise (say, after a failed commit) discards them all and
reads afresh. Positions still come only from the caller, so exactly-once is the caller's as before. The
inner source is never used by two threads at once. A batch read ahead with a smaller ``max_records`` than
the caller now asks for is still a valid batch, and is taken.

Pacing: once a read comes back short of its limit (the stream is drained), the read after it waits until
``pace_s`` after this one began, so that a trickle is committed once per period rather than in a commit
every few hundred milliseconds; a backlog is read back to back.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from threading import Event

from pipelines.ports import StreamBatch, StreamSource


@dataclass(frozen=True)
class _Ahead:
    """A read in flight: from ``positions``, or from where the read ``after`` it ended."""

    positions: Mapping[str, str] | None
    after: Future[StreamBatch] | None
    max_records: int
    future: Future[StreamBatch]

    def reads_from(self) -> dict[str, str]:
        if self.positions is not None:
            return dict(self.positions)
        assert self.after is not None
        return dict(self.after.result().positions)


class ReadAheadSource:
    """Wraps a ``StreamSource``; reads ahead after each non-empty batch, up to ``depth`` batches in a backlog."""

    def __init__(self, inner: StreamSource, *, depth: int = 2):
        self._inner = inner
        self._depth = max(1, depth)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._pending: deque[_Ahead] = deque()
        self._closing = Event()

    def read(
        self,
        positions: Mapping[str, str],
        *,
        max_records: int,
        ahead_records: int | None = None,
        pace_s: float = 0.0,
    ) -> StreamBatch:
        """The batch after ``positions``: the oldest one read ahead if it was read from there, else a fresh read.

        The batch after it is then read ahead with ``ahead_records`` (default ``max_records``): a caller whose
        first batch is kept small reads its second at full size. If this batch is short of ``max_records``,
        that read starts ``pace_s`` after this call; if it is full, reading goes on up to ``depth`` batches.
        """
        called = time.monotonic()
        batch = self._take(positions, max_records)
        if batch is None:
            batch = self._inner.read(positions, max_records=max_records)
        if batch.size == 0:
            return batch
        size = ahead_records or max_records
        if not self._pending:
            start_at = called + pace_s if batch.size < max_records else called
            future = self._executor.submit(self._read_at, start_at, batch.positions, size)
            self._pending.append(_Ahead(dict(batch.positions), None, size, future))
        while batch.size >= max_records and len(self._pending) < self._depth:
            last = self._pending[-1]
            future = self._executor.submit(self._read_after, last.future, last.max_records, size, pace_s)
            self._pending.append(_Ahead(None, last.future, size, future))
        return batch

    def _take(self, positions: Mapping[str, str], max_records: int) -> StreamBatch | None:
        """The oldest batch read ahead if it follows ``positions`` and fits ``max_records``; else discard all."""
        if not self._pending:
            return None
        oldest = self._pending.popleft()
        try:
            batch = oldest.future.result()  # also when discarded: the inner source must be idle again
        except BaseException:
            self._discard()  # the reads after it started from its end
            raise
        if oldest.reads_from() == dict(positions) and oldest.max_records <= max_records:
            return batch
        self._discard()
        return None

    def _discard(self) -> None:
        while self._pending:
            ahead = self._pending.popleft()
            if not ahead.future.cancel():
                ahead.future.exception()  # waits; a failed read ahead is simply not used

    def _read_at(self, start_at: float, positions: Mapping[str, str], max_records: int) -> StreamBatch:
        self._closing.wait(max(0.0, start_at - time.monotonic()))
        return self._inner.read(positions, max_records=max_records)

    def _read_after(
        self, before: Future[StreamBatch], before_max: int, max_records: int, pace_s: float
    ) -> StreamBatch:
        previous = before.result()  # done: the executor runs one read at a time, in order
        if previous.size < before_max:
            self._closing.wait(pace_s)  # the stream was drained: read again a period later
        return self._inner.read(previous.positions, max_records=max_records)

    def close(self) -> None:
        self._closing.set()
        for ahead in self._pending:
            ahead.future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=True)
        self._inner.close()
