"""Hostile load: 1,200 malformed records mixed into a normal stream; no job crashes, every one is quarantined
with its reason, and every valid reading is in silver exactly once."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pipelines.producer.hostile import hostile_stream
from tests.conftest import local_stack
from tests.faults.conftest import FaultReport
from tests.faults.harness import QUARANTINE, JobProcess, Producer, audit, drained, keep_logs, wait_until
from tests.helpers import read_table

# Minutes of real processes: far beyond the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
HOSTILE_RECORDS = 1200


def test_hostile_records_never_crash_a_job_and_all_land_in_quarantine(
    tmp_path: Path, fault_report: FaultReport
) -> None:
    started = time.monotonic()
    hostile = hostile_stream(HOSTILE_RECORDS, seed=8)
    expected = {raw: reason for _, raw, reason in hostile}
    with local_stack(tmp_path / "home", window_seconds=10) as settings, ExitStack() as cleanup:
        jobs = [JobProcess(settings, name) for name in ("bronze", "silver", "gold")]
        producer = Producer(settings, rate=80, seed=9, hostile=[raw for _, raw, _ in hostile], hostile_per_tick=30)
        cleanup.callback(producer.stop)
        cleanup.callback(lambda: [job.kill9() for job in jobs if job.alive()])
        for job in jobs:
            job.start()
        producer.start()
        # 30 hostile records every half second among 40 valid ones: the hostile part lasts ~20 s.
        assert wait_until(lambda: len(producer.sent) >= HOSTILE_RECORDS * 2 + 1000 or producer.error, timeout=600)
        producer.stop()
        assert producer.error is None and producer.failed == 0
        assert wait_until(lambda: drained(settings) or not all(j.alive() for j in jobs), timeout=900, every=3)
        crashed = [{"job": j.job, "exit_code": j.process.returncode, "tail": j.tail()} for j in jobs if not j.alive()]  # type: ignore[union-attr]
        stop_codes = {j.job: j.stop() for j in jobs}
        counts = audit(settings, sent=producer.sent, hostile=set(expected))
        keep_logs(settings, "hostile_load")
        wrong_reason = [
            {"reasons": row["reasons"], "expected": expected[row["data"]]}
            for row in read_table(settings, QUARANTINE).select(["data", "reasons"]).to_pylist()
            if expected.get(row["data"]) not in row["reasons"]
        ]
    section: dict[str, Any] = {
        "runtime_s": round(time.monotonic() - started, 1),
        "hostile_kinds": len({reason for _, _, reason in hostile}),
        "jobs_crashed": crashed,
        "clean_stop_exit_codes": stop_codes,
        "quarantined_with_wrong_reason": wrong_reason[:20],
        "counts": counts,
    }
    section["passed"] = (
        not crashed and not wrong_reason and not counts["broken_rules"] and set(stop_codes.values()) == {0}
    )
    fault_report.add("hostile_load", section)

    assert not crashed, crashed
    assert counts["hostile_sent"] >= HOSTILE_RECORDS
    assert counts["quarantine_rows"] == counts["hostile_sent"]  # resends of a hostile record are quarantined too
    assert counts["broken_rules"] == [], counts
    assert wrong_reason == []
    assert set(stop_codes.values()) == {0}, stop_codes
