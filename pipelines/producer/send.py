"""Send records to a stream sink in PutRecords-sized batches at a bounded rate."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from pipelines.ports import PutReport, StreamSink
from pipelines.producer.records import Record

BATCH = 500


@dataclass
class SendSummary:
    sent: int
    retried: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        return (
            f"sent={self.sent} retried={self.retried} failed={self.failed} "
            f"seconds={self.seconds:.2f} rate={self.rate:.0f}/s"
        )


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def send(
    records: Iterable[Record],
    sink: StreamSink,
    *,
    rate: float | None = None,
    total: int | None = None,
    progress: bool = False,
) -> SendSummary:
    """Put ``records``; with ``rate``, never faster than ``rate`` records per second on average."""
    report = PutReport()
    started = time.monotonic()
    count = 0
    for batch in _batches(records, BATCH if rate is None else max(1, min(BATCH, int(rate / 10) or 1))):
        if rate:
            ahead = started + count / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # the rate limiter: a producer, not a job, may wait for its schedule
        report.add(sink.put([(r.partition_key, r.data) for r in batch]))
        count += len(batch)
        if progress:
            of = f"/{total}" if total else ""
            sys.stderr.write(f"\rsent {report.sent}{of} retried {report.retried} failed {report.failed}")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
    return SendSummary(report.sent, report.retried, report.failed, time.monotonic() - started)
