"""Drain figures from a job's own JSON-lines log: one ``event: batch`` line per micro-batch.

A line is written when its batch has committed (``ts``) and says how long the batch took (``duration_s``),
so the span from the first batch's start to the last batch's end excludes the JVM's start-up and the idle
wait at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Batch:
    """One micro-batch as its job logged it (wall-clock seconds since the epoch)."""

    batch_id: int
    rows_in: int
    rows_out: int
    started: float
    ended: float
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds per phase, as the job logged them

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def read_batches(path: Path, *, layer: str | None = None) -> list[Batch]:
    """Batches with input rows in ``path``, oldest first (empty batches carry no throughput)."""
    if not path.exists():
        return []
    batches = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("event") != "batch" or (layer and entry.get("layer") != layer):
            continue
        rows = int(entry.get("rows_in") or 0)
        if rows <= 0:
            continue
        ended = datetime.fromisoformat(entry["ts"]).timestamp()
        rows_out = int(entry.get("rows_out") or 0)
        phases = {str(k): float(v) for k, v in (entry.get("phases") or {}).items()}
        batches.append(
            Batch(int(entry["batch_id"]), rows, rows_out, ended - float(entry["duration_s"]), ended, phases)
        )
    return sorted(batches, key=lambda batch: batch.ended)


@dataclass(frozen=True)
class Drain:
    """A backlog drained: rows, the busy span (first batch start to last batch end) and batch statistics."""

    rows: int
    rows_out: int
    batches: int
    started: float
    ended: float
    busy_s: float  # sum of batch durations: the rest of the span is trigger waits and planning

    @property
    def span_s(self) -> float:
        return self.ended - self.started

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.span_s if self.span_s > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rows": self.rows,
            "rows_out": self.rows_out,
            "batches": self.batches,
            "span_s": round(self.span_s, 3),
            "busy_s": round(self.busy_s, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "mean_batch_rows": round(self.rows / self.batches, 1) if self.batches else 0,
        }


def drain_of(batches: list[Batch]) -> Drain:
    """The drain those batches make up (they must be non-empty)."""
    return Drain(
        rows=sum(b.rows_in for b in batches),
        rows_out=sum(b.rows_out for b in batches),
        batches=len(batches),
        started=min(b.started for b in batches),
        ended=max(b.ended for b in batches),
        busy_s=sum(b.seconds for b in batches),
    )


def phase_totals(batches: list[Batch]) -> dict[str, float]:
    """Seconds per phase summed over ``batches`` (phases a job logs: where its batches' time goes)."""
    totals: dict[str, float] = {}
    for batch in batches:
        for name, seconds in batch.phases.items():
            totals[name] = round(totals.get(name, 0.0) + seconds, 3)
    return totals


def rows_done_by(batches: list[Batch], moment: float) -> int:
    """Rows of the batches that had committed at ``moment``."""
    return sum(b.rows_in for b in batches if b.ended <= moment)
