"""Contract-v1 records for the benchmark: simulated readings, cheap enough to make a million a second.

The simulator (``pipelines.producer.simulate``) draws each reading from the sample's distributions, which
costs ~30 µs a record. The benchmark draws a pool of such readings once and stamps each record with a
fresh ``event_id`` and ``event_time``, so that producing at 15k records/s costs the producer little CPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.producer.records import SCHEMA_VERSION, Record
from pipelines.producer.simulate import FleetModel, simulate
from pipelines.settings import SAMPLE_CSV

POOL_SIZE = 20_000
PROBE_PREFIX = "bench-probe-"


@dataclass(frozen=True)
class Template:
    """A reading without identity: its partition key and the JSON after ``event_time``."""

    partition_key: str
    tail: bytes
    operator: str


def reading_pool(*, size: int = POOL_SIZE, devices: int = 2000, seed: int = 9) -> list[Template]:
    """``size`` simulated readings from ``devices`` phones, stripped of event id and time."""
    model = FleetModel.learn(SAMPLE_CSV)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pool = []
    for record in simulate(model, rate=1000.0, duration_s=size / 1000.0, devices=devices, seed=seed, start=start):
        payload = json.loads(record.data)
        for key in ("schema_version", "event_id", "event_time"):
            payload.pop(key)
        tail = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        pool.append(Template(record.partition_key, tail[1:], str(payload.get("operator") or "")))
    return pool


def _iso(moment: datetime) -> bytes:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


def stamp(template: Template, *, event_id: str, event_time: datetime, operator: str | None = None) -> Record:
    """One record: the template's reading under ``event_id`` at ``event_time`` (and, for probes, ``operator``)."""
    tail = template.tail
    if operator is not None:
        tail = tail.replace(
            b'"operator":' + json.dumps(template.operator).encode(), b'"operator":' + json.dumps(operator).encode(), 1
        )
    head = b'{"schema_version":%d,"event_id":"%s","event_time":"%s",' % (
        SCHEMA_VERSION,
        event_id.encode(),
        _iso(event_time),
    )
    return Record(template.partition_key, head + tail)


def readings(
    pool: list[Template],
    *,
    count: int,
    start: datetime,
    rate: float,
    prefix: str,
    first: int = 0,
    probe_every: int = 0,
) -> Iterator[tuple[Record, str | None]]:
    """``count`` records with event times ``1/rate`` apart from ``start``; every ``probe_every``-th is a probe.

    A probe carries a unique operator (``bench-probe-<prefix>-<n>``), so that its arrival in silver and in
    gold's operator KPIs can be seen through the query engine. Yields (record, probe name or None).
    """
    step = timedelta(seconds=1.0 / rate)
    for index in range(first, first + count):
        template = pool[index % len(pool)]
        event_id = f"{prefix}-{index:010d}"
        probe = f"{PROBE_PREFIX}{prefix}-{index:010d}" if probe_every and index % probe_every == 0 else None
        yield stamp(template, event_id=event_id, event_time=start + step * index, operator=probe), probe


def write_jsonl(path: Path, records: Iterator[tuple[Record, str | None]]) -> int:
    """Write records as JSON lines (partition key in a side file is not needed: the device id is in the line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as out:
        for record, _ in records:
            out.write(record.data + b"\n")
            written += 1
    return written
