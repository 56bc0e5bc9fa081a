"""A stream source that reads the next batch while the caller writes the current one.

Bronze spends a batch's time in two places that can overlap: GetRecords (the stream server and boto3's
parsing) and the Spark write and commit. After handing out a non-empty batch, ``ReadAheadSource`` starts
reading the batch after it in a background thread; the caller's next ``read`` takes that batch if it asks
from the positions it was read from, and otherwise (say, after a failed commit) discards it and reads
afresh. Positions still come only from the caller, so exactly-once is the caller's as before. The inner
source is never used by two threads at once. A batch read ahead with a smaller ``max_records`` than the
caller now asks for is still a valid batch, and is taken.

Pacing: once a read comes back short of its limit (the stream is drained), the read after it waits until
``pace_s`` after this one began, so that a trickle is committed once per period rather than in a commit
every few hundred milliseconds; a backlog is read back to back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from threading import Event

from pipelines.ports import StreamBatch, StreamSource


class ReadAheadSource:
    """Wraps a ``StreamSource``; reads one batch ahead after each non-empty batch."""

    def __init__(self, inner: StreamSource):
        self._inner = inner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._pending: tuple[dict[str, str], int, Future[StreamBatch]] | None = None
        self._closing = Event()

    def read(
        self,
        positions: Mapping[str, str],
        *,
        max_records: int,
        ahead_records: int | None = None,
        pace_s: float = 0.0,
    ) -> StreamBatch:
        """The batch after ``positions``: the one read ahead if it was read from there, else a fresh read.

        The batch after it is then read ahead with ``ahead_records`` (default ``max_records``): a caller whose
        first batch is kept small reads its second at full size. If this batch is short of ``max_records``,
        that read starts ``pace_s`` after this call.
        """
        called = time.monotonic()
        batch = None
        if self._pending is not None:
            read_from, read_max, future = self._pending
            self._pending = None
            ahead = future.result()  # also when discarded: the inner source must be idle again
            if read_from == dict(positions) and read_max <= max_records:
                batch = ahead
        if batch is None:
            batch = self._inner.read(positions, max_records=max_records)
        if batch.size > 0:
            following = dict(batch.positions)
            size = ahead_records or max_records
            start_at = called + pace_s if batch.size < max_records else called
            self._pending = (following, size, self._executor.submit(self._read_at, start_at, following, size))
        return batch

    def _read_at(self, start_at: float, positions: Mapping[str, str], max_records: int) -> StreamBatch:
        self._closing.wait(max(0.0, start_at - time.monotonic()))
        return self._inner.read(positions, max_records=max_records)

    def close(self) -> None:
        self._closing.set()
        if self._pending is not None:
            self._pending[2].cancel()
            self._pending = None
        self._executor.shutdown(wait=True)
        self._inner.close()
