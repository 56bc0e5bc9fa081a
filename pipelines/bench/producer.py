"""A benchmark producer in its own process: puts records at a rate (or flat out) and logs probe put times.

Run by the benchmark, not by users: ``python -m pipelines.bench.producer <spec-json>``. It prepares its
records first, prints ``ready``, waits for a line on stdin (so that several producers start together),
then sends through the same ``send`` and ``BotoKinesisSink`` as ``telcopulse produce`` and prints a JSON
summary. Records come from a JSON-lines file slice or are stamped from the reading pool.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.bench.workload import Template, reading_pool, readings
from pipelines.ports import PutReport
from pipelines.producer.records import Record
from pipelines.producer.send import send
from pipelines.settings import Settings


@dataclass(frozen=True)
class ProducerSpec:
    """What one producer sends: a file slice (``jsonl``) or ``count`` pool readings, at ``rate`` or flat out."""

    home: str
    kinesis_port: int
    count: int
    rate: float | None = None
    jsonl: str | None = None
    first: int = 0
    prefix: str = "bench"
    event_rate: float = 1000.0
    probe_every: int = 0
    probe_log: str | None = None


class TimedSink:
    """A sink that notes when each probe's PutRecords call returned (wall clock, for other processes)."""

    def __init__(self, inner: BotoKinesisSink, probes: dict[bytes, str]):
        self._inner = inner
        self._probes = probes
        self.put_at: dict[str, float] = {}

    def put(self, records: Sequence[tuple[str, bytes]]) -> PutReport:
        report = self._inner.put(records)
        now = time.time()
        for _, data in records:
            probe = self._probes.get(data)
            if probe is not None:
                self.put_at[probe] = now
        return report


def _file_records(path: Path, first: int, count: int) -> list[Record]:
    with path.open("rb") as handle:
        lines = list(islice(handle, first, first + count))
    records = []
    for line in lines:
        data = line.rstrip(b"\n")
        start = data.index(b'"device_id":"') + 13
        records.append(Record(data[start : data.index(b'"', start)].decode(), data))
    return records


def _stamped(spec: ProducerSpec, pool: list[Template], probes: dict[bytes, str]) -> Iterator[Record]:
    made = readings(
        pool,
        count=spec.count,
        start=datetime.now(UTC),
        rate=spec.event_rate,
        prefix=spec.prefix,
        first=spec.first,
        probe_every=spec.probe_every,
    )
    for record, probe in made:
        if probe:
            probes[record.data] = probe
        yield record


def main() -> None:
    spec = ProducerSpec(**json.loads(sys.argv[1]))
    settings = Settings(home=Path(spec.home), kinesis_port=spec.kinesis_port)
    # File records are read before the clock starts; pool records are stamped as they go, so that their
    # event times follow the wall clock (a few µs each).
    from_file = _file_records(Path(spec.jsonl), spec.first, spec.count) if spec.jsonl else None
    pool = reading_pool() if from_file is None else []
    probes: dict[bytes, str] = {}
    sink = TimedSink(BotoKinesisSink(kinesis_client(settings), settings.stream_name), probes)
    print("ready", flush=True)
    sys.stdin.readline()
    started, cpu_started = time.time(), time.process_time()
    records: Iterable[Record] = from_file if from_file is not None else _stamped(spec, pool, probes)
    summary = send(records, sink, rate=spec.rate)
    if spec.probe_log:
        Path(spec.probe_log).write_text(json.dumps(sink.put_at))
    cpu_s = time.process_time() - cpu_started  # every thread of the process: boto3's too
    print(json.dumps({**summary.as_dict(), "started": started, "cpu_s": cpu_s, "spec": asdict(spec)}), flush=True)


if __name__ == "__main__":
    main()
