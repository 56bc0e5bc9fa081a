"""The edges of TelcoPulse: small protocols, one adapter per technology behind each.

Jobs and transforms see only these; ``pipelines.adapters`` picks the implementation from ``Settings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class StreamBatch:
    """Records read from a stream and where each shard now stands (last sequence number read)."""

    records: pa.Table
    positions: dict[str, str]

    @property
    def size(self) -> int:
        return self.records.num_rows


class StreamSource(Protocol):
    """A sharded stream read from explicit positions, so that positions can live in the sink's commit."""

    def read(self, positions: Mapping[str, str], *, max_records: int) -> StreamBatch:
        """Records after ``positions`` (from the start of a shard without one), across every shard."""
        ...

    def close(self) -> None: ...


class StreamSink(Protocol):
    """Where producers put records."""

    def put(self, records: Sequence[tuple[str, bytes]]) -> PutReport:
        """Put (partition key, data) pairs; retries failed entries, returns what happened."""
        ...


@dataclass
class PutReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, other: PutReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed


class QueryEngine(Protocol):
    """SQL over the lakehouse tables under their Glue names (``telcopulse_gold.operator_kpis``)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run ``sql`` with positional ``?`` parameters bound by the engine, never formatted in."""
        ...
