from __future__ import annotations

import json
from pathlib import Path

from pipelines.bench.joblogs import drain_of, phase_totals, read_batches, rows_done_by


def _line(batch_id: int, rows: int, ts: str, duration: float, layer: str = "silver", **extra: object) -> str:
    return json.dumps(
        {"ts": ts, "event": "batch", "layer": layer, "batch_id": batch_id, "rows_in": rows, "rows_out": rows,
         "duration_s": duration, **extra}
    )  # fmt: skip


def test_read_batches_keeps_batches_with_rows_of_the_layer(tmp_path: Path) -> None:
    log = tmp_path / "silver.jsonl"
    log.write_text(
        "\n".join(
            [
                json.dumps({"ts": "2026-11-23T10:00:00+00:00", "message": "started"}),
                _line(0, 100, "2026-11-23T10:00:02+00:00", 2.0),
                _line(1, 0, "2026-11-23T10:00:03+00:00", 0.1),
                _line(2, 50, "2026-11-23T10:00:05+00:00", 1.0, layer="gold"),
                "not json",
            ]
        )
    )

    batches = read_batches(log, layer="silver")

    assert [(b.batch_id, b.rows_in) for b in batches] == [(0, 100)]
    assert batches[0].ended - batches[0].started == 2.0


def test_drain_of_spans_first_start_to_last_end(tmp_path: Path) -> None:
    log = tmp_path / "gold.jsonl"
    log.write_text(
        "\n".join(
            [
                _line(0, 100, "2026-11-23T10:00:02+00:00", 2.0, layer="gold"),
                _line(1, 300, "2026-11-23T10:00:08+00:00", 3.0, layer="gold"),
            ]
        )
    )
    batches = read_batches(log)

    drain = drain_of(batches)

    assert (drain.rows, drain.batches, drain.span_s, drain.busy_s) == (400, 2, 8.0, 5.0)
    assert drain.rows_per_s == 50.0
    assert rows_done_by(batches, batches[0].ended) == 100


def test_phase_totals_sum_each_phase_over_the_batches(tmp_path: Path) -> None:
    log = tmp_path / "silver.jsonl"
    log.write_text(
        "\n".join(
            [
                _line(0, 100, "2026-11-23T10:00:02+00:00", 2.0, phases={"parse_route": 1.25, "write_dq": 0.5}),
                _line(1, 100, "2026-11-23T10:00:04+00:00", 2.0, phases={"parse_route": 1.5}),
                _line(2, 100, "2026-11-23T10:00:06+00:00", 2.0),
            ]
        )
    )

    assert phase_totals(read_batches(log)) == {"parse_route": 2.75, "write_dq": 0.5}
