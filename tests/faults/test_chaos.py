"""kill -9 of every job at random moments while a fleet produces, a kinesalite restart, a second copy of each
job and a maintenance run on the live tables — then every record is where it belongs, exactly once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipelines.local import stack
from pipelines.ops.status import lock_holder, observe
from pipelines.producer.hostile import HOSTILE
from tests.conftest import local_stack
from tests.faults.conftest import FaultReport
from tests.faults.harness import JobProcess, Producer, audit, drained, job_env, keep_logs, wait_until

# Minutes of real processes: far beyond the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

JOBS = ("bronze", "silver", "gold")
KILLS_PER_JOB = int(os.environ.get("TELCOPULSE_FAULT_KILLS", "10"))
RATE = float(os.environ.get("TELCOPULSE_FAULT_RATE", "60"))
SEED = int(os.environ.get("TELCOPULSE_FAULT_SEED", "20261123"))
PHASE_TIMEOUT_S = 25 * 60


@dataclass
class KillPlan:
    """When to kill a job next: every third kill at a random moment of its start-up, the others at a random
    moment within 3 s after its next batch (mid-batch, mid-commit or idle).

    Waiting for a batch guarantees the pipeline progresses between kills, however slow the machine.
    """

    rng: random.Random
    job: JobProcess
    kills: list[dict[str, Any]] = field(default_factory=list)
    at: float | None = None
    baseline: int = 0
    mode: str = ""

    def restarted(self) -> None:
        self.mode = "start-up" if len(self.kills) % 3 == 2 else "after-batch"
        self.baseline = self.job.batches()
        self.at = self.job.started_at + self.rng.uniform(1, 10) if self.mode == "start-up" else None

    def due(self, now: float) -> bool:
        if self.at is None and (self.job.batches() > self.baseline or now - self.job.started_at > 300):
            self.at = now + self.rng.uniform(0, 3)
        return self.at is not None and now >= self.at


def _second_copy(settings: Any, job: JobProcess) -> dict[str, Any]:
    """Start a second copy of a running job: it must refuse, and the first must keep running."""
    copy = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", job.job, "--until-idle", "1"],
        env=job_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {
        "job": job.job,
        "exit_code": copy.returncode,
        "refused": copy.returncode == 2 and "already running" in copy.stderr,
        "first_still_running": job.alive(),
        "message": copy.stderr.strip().splitlines()[-1] if copy.stderr.strip() else "",
    }


def test_kill_9_restarts_and_two_copies_lose_and_duplicate_nothing(tmp_path: Path, fault_report: FaultReport) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    section: dict[str, Any] = {"seed": SEED, "kills_per_job": KILLS_PER_JOB, "rate_per_s": RATE, "passed": False}
    with local_stack(tmp_path / "home", window_seconds=10) as settings, ExitStack() as cleanup:
        hostile = [raw for _, raw, _ in HOSTILE]
        producer = Producer(settings, rate=RATE, seed=SEED, hostile=hostile, hostile_per_tick=1)
        producer.start()
        jobs = {name: JobProcess(settings, name) for name in JOBS}
        plans = {name: KillPlan(rng, job) for name, job in jobs.items()}
        cleanup.callback(producer.stop)
        cleanup.callback(lambda: [job.kill9() for job in jobs.values() if job.alive()])
        for name, job in jobs.items():
            job.start()
            plans[name].restarted()
        crashes: list[dict[str, Any]] = []
        lag_samples: list[dict[str, Any]] = []
        copies: list[dict[str, Any]] = []
        kinesalite_restart: dict[str, Any] = {}
        maintenance: subprocess.Popen[bytes] | None = None
        next_sample = 0.0
        total = KILLS_PER_JOB * len(JOBS)
        while sum(len(p.kills) for p in plans.values()) < total:
            now = time.monotonic()
            assert now - started < PHASE_TIMEOUT_S, f"kill phase too slow: {[len(p.kills) for p in plans.values()]}"
            assert producer.error is None, producer.error
            for name, job in jobs.items():
                plan = plans[name]
                if not job.alive():
                    crashes.append({"job": name, "exit_code": job.process.returncode, "tail": job.tail(15)})  # type: ignore[union-attr]
                    job.start()
                    plan.restarted()
                elif len(plan.kills) < KILLS_PER_JOB and plan.due(now):
                    kill = {
                        "job": name,
                        "at_s": round(now - started, 1),
                        "uptime_s": round(now - job.started_at, 1),
                        "mode": plan.mode,
                        "batches_logged": job.batches(),
                    }
                    job.kill9()
                    plan.kills.append(kill)
                    job.start()
                    plan.restarted()
            done = sum(len(p.kills) for p in plans.values())
            if not kinesalite_restart and done >= 0.4 * total:
                down_at = time.monotonic()
                stack.down(settings)
                stack.up(settings)  # the same data directory: the stream and its records survive
                kinesalite_restart = {
                    "at_s": round(down_at - started, 1),
                    "down_s": round(time.monotonic() - down_at, 1),
                }
            if maintenance is None and done >= 0.5 * total:
                with (settings.logs_dir / "maintain.out").open("ab") as out:
                    maintenance = subprocess.Popen(
                        [sys.executable, "-m", "pipelines.cli", "maintain", "--retain-hours", "0", "--json"],
                        env=job_env(settings),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
            if done >= 0.6 * total:
                for name, job in jobs.items():
                    checked = any(c["job"] == name for c in copies)
                    if not checked and job.alive() and lock_holder(settings.run_dir, name) == job.pid:
                        copies.append(_second_copy(settings, job))
            if now >= next_sample:
                next_sample = now + 30
                lag_samples.append(
                    {"at_s": round(now - started, 1)}
                    | {o.layer: o.backlog.records if o.backlog else None for o in observe(settings)}
                )
            time.sleep(0.25)
        kill_phase_s = time.monotonic() - started
        producer.stop()
        assert producer.error is None and producer.failed == 0, (producer.error, producer.failed)
        assert maintenance is not None and maintenance.wait(timeout=900) == 0, (
            settings.logs_dir / "maintain.out"
        ).read_text()[-3000:]
        assert wait_until(lambda: drained(settings), timeout=900, every=3), "the jobs did not drain"
        healthy = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "status", "--json"],
            env=job_env(settings),
            capture_output=True,
            text=True,
        )
        stop_codes = {name: job.stop() for name, job in jobs.items()}
        stopped = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "status", "--json"],
            env=job_env(settings),
            capture_output=True,
            text=True,
        )
        counts = audit(settings, sent=producer.sent, hostile=set(hostile))
        keep_logs(settings, "kill_9_restarts_two_copies")

        section |= {
            "runtime_s": round(time.monotonic() - started, 1),
            "kill_phase_s": round(kill_phase_s, 1),
            "kills": [k for p in plans.values() for k in p.kills],
            "kills_by_job": {name: len(p.kills) for name, p in plans.items()},
            "unexpected_exits": crashes,
            "kinesalite_restart": kinesalite_restart,
            "second_copies": copies,
            "maintenance_during_run": [
                json.loads(line)
                for line in (settings.logs_dir / "maintain.out").read_text().splitlines()
                if line.startswith("{")
            ],
            "lag_samples": lag_samples,
            "status_exit_code_running_drained": healthy.returncode,
            "status_exit_code_stopped": stopped.returncode,
            "clean_stop_exit_codes": stop_codes,
            "counts": counts,
        }
        section["passed"] = (
            not counts["broken_rules"]
            and not crashes
            and all(c["refused"] and c["first_still_running"] for c in copies)
            and len(copies) == len(JOBS)
            and healthy.returncode == 0
            and stopped.returncode == 1
            and set(stop_codes.values()) == {0}
        )
        fault_report.add("kill_9_restarts_two_copies", section)

    assert counts["broken_rules"] == [], counts
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    assert {name: len(p.kills) for name, p in plans.items()} == dict.fromkeys(JOBS, KILLS_PER_JOB)
    assert not crashes, crashes
    assert len(copies) == len(JOBS) and all(c["refused"] and c["first_still_running"] for c in copies), copies
    assert healthy.returncode == 0, healthy.stdout
    assert stopped.returncode == 1 and all(
        any("not running" in p for p in layer["problems"]) for layer in json.loads(stopped.stdout)["layers"]
    )
    assert set(stop_codes.values()) == {0}, stop_codes
