"""`telcopulse bench`: every stage in order, one report.

Stages, each on its own home and loopback kinesalite:
1. backlog (one home): the producers put the workload flat out (what kinesalite accepts), a bare reader
   reads it back (what it serves), then bronze, silver and gold each drain the backlog in front of them
   alone; the JSON-lines file of the same records feeds DuckDB's one-pass limit;
2. live (a second home): all jobs running, the simulator stepping its rate up; freshness probes at 1k and
   5k records/s; files and snapshots per hour, before and after `telcopulse maintain`;
3. dashboard (a third home, or the backlog home in a smoke run): panel query latency on a week of gold.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.bench import drains, files, limit, live
from pipelines.bench.charts import write_png
from pipelines.bench.harness import JobRun, job_env, local_stack
from pipelines.bench.live import StepPlan
from pipelines.bench.report import cpu_budget, judge, machine_facts, versions, write_json
from pipelines.bench.workload import reading_pool, readings, write_jsonl
from pipelines.settings import Settings

log = logging.getLogger(__name__)
QUIET_LOAD = 1.5
DRAIN_EVENT_RATE = 5000.0  # the backlog's event times are spaced as a fleet sending 5k readings/s


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one run: ``full()`` for the figures, ``smoke()`` to keep the harness working in CI."""

    mode: str
    records: int
    put_producers: int
    drain_idle_s: float
    drain_timeout_s: float
    steps: tuple[StepPlan, ...]
    warmup_records: int
    poll_s: float
    catch_up_bound_s: float
    dashboard_days: int
    dashboard_commits_per_day: int
    dashboard_repeat: int
    shards: int = 2
    trigger_seconds: float = 1.0
    run_maintain: bool = True
    shared_jobs: bool = False  # smoke: one set of jobs drains the backlog together, then runs the steps
    settle_s: float = 180.0  # wait up to this long for a quiet machine before starting
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def full(cls, *, records: int = 500_000, step_seconds: float = 60.0) -> BenchConfig:
        rates = (250.0, 500.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0, 12500.0, 15000.0)
        return cls(
            mode="full",
            records=records,
            put_producers=2,
            drain_idle_s=5.0,
            drain_timeout_s=3600.0,
            steps=tuple(StepPlan(rate, step_seconds, freshness=rate in (1000.0, 5000.0)) for rate in rates),
            warmup_records=5000,
            poll_s=0.25,  # a catalog read; DuckDB is asked only after a commit
            catch_up_bound_s=30.0,
            dashboard_days=7,
            dashboard_commits_per_day=24,
            dashboard_repeat=30,
        )

    @classmethod
    def smoke(cls) -> BenchConfig:
        return cls(
            mode="smoke",
            records=2000,
            put_producers=1,
            drain_idle_s=1.0,
            drain_timeout_s=300.0,
            # A burst of 400 records: over 0.2 s it falls within one bronze trigger (of 1 s) more often than
            # not, and then each layer catches up in one batch (a burst over two triggers took a second round).
            steps=(StepPlan(2000.0, 0.2, freshness=True),),
            warmup_records=0,
            poll_s=0.5,
            catch_up_bound_s=30.0,
            dashboard_days=1,
            dashboard_commits_per_day=2,
            dashboard_repeat=2,
            run_maintain=False,
            shared_jobs=True,
            settle_s=0.0,
        )


def _backlog(config: BenchConfig, root: Path, jsonl: Path) -> dict[str, Any]:
    """Stage 1: kinesalite's ceilings, then each layer's drain of the backlog, in one home."""
    figures: dict[str, Any] = {}
    with local_stack(root / "backlog", shards=config.shards, trigger_seconds=config.trigger_seconds) as settings:
        # A smoke run starts its jobs first: their JVMs come up while the backlog is put and read back.
        jobs = drains.start_together(settings, live.LAYERS) if config.shared_jobs else {}
        try:
            log.info("kinesis: putting %d records with %d producers", config.records, config.put_producers)
            put = drains.put_ceiling(settings, jsonl, records=config.records, producers=config.put_producers)
            log.info("kinesis: read back by a bare reader")
            bare = drains.bare_read(settings, records=config.records, max_records=settings.bronze_max_batch_records)
            figures["kinesis"] = {"put": put, "bare_read": bare}
            if jobs:
                log.info("bronze, silver and gold: draining the backlog together")
                figures["drain"] = drains.drain_together(
                    settings, jobs, expected_rows=put["records"], timeout_s=config.drain_timeout_s
                )
        except BaseException:
            for job in jobs.values():
                job.stop()
            raise
        if jobs:
            figures["live"] = _live(config, settings, root, jobs=jobs)  # stops the jobs
        else:
            figures["drain"] = {}
            expected = put["records"]
            for layer in live.LAYERS:
                log.info("%s: draining the backlog", layer)
                figures["drain"][layer] = drains.drain_layer(
                    settings,
                    layer,
                    expected_rows=expected,
                    idle_s=config.drain_idle_s,
                    timeout_s=config.drain_timeout_s,
                )
                expected = figures["drain"][layer]["rows_out"]
                log.info("%s: %.0f records/s", layer, figures["drain"][layer]["rows_per_s"])
    silver, gold = figures["drain"]["silver"], figures["drain"]["gold"]
    figures["pipeline"] = {
        "definition": "records / (silver drain span + gold drain span): a preloaded bronze backlog through silver "
        "and then gold, each job alone on the machine",
        "rows_per_s": round(silver["rows"] / (silver["span_s"] + gold["span_s"]), 1),
        "steady_rows_per_s": round(1 / (1 / silver["steady_rows_per_s"] + 1 / gold["steady_rows_per_s"]), 1)
        if silver["steady_rows_per_s"] and gold["steady_rows_per_s"]
        else None,
    }
    return figures


def _maintain_available() -> bool:
    from pipelines.cli import app

    return any(
        (command.name or getattr(command.callback, "__name__", "")) == "maintain" for command in app.registered_commands
    )


def _live(
    config: BenchConfig, settings: Settings, root: Path, *, jobs: dict[str, JobRun] | None = None
) -> dict[str, Any]:
    """Stage 2: the stepped end-to-end run with freshness probes; files and snapshots, then maintenance."""
    result = live.run_live(
        settings,
        list(config.steps),
        work_dir=root / "live-work",
        warmup_records=config.warmup_records,
        poll_s=config.poll_s,
        catch_up_bound_s=config.catch_up_bound_s,
        jobs=jobs,
    )
    result["freshness"] = {f"{step['rate']:.0f}": step["freshness"] for step in result["steps"] if "freshness" in step}
    started, ended = result["window"]
    result["files"] = {"before_maintain": files.table_files(settings, since=started, until=ended)}
    if config.run_maintain and _maintain_available():
        log.info("maintain: compacting and expiring the live home's tables")
        command = [sys.executable, "-m", "pipelines.cli", "maintain", "--retain-hours", "0", "--json"]
        run = subprocess.run(command, env=job_env(settings), capture_output=True, text=True, timeout=1800)
        result["files"]["maintain_returncode"] = run.returncode
        result["files"]["after_maintain"] = files.table_files(settings, since=started, until=ended)
    else:
        result["files"]["after_maintain"] = None
        result["files"]["note"] = (
            "maintain skipped in a smoke run" if not config.run_maintain else "telcopulse maintain is absent"
        )
    return result


def _live_stage(config: BenchConfig, root: Path) -> dict[str, Any]:
    """Stage 2 on its own home and kinesalite."""
    with local_stack(root / "live", shards=config.shards, trigger_seconds=config.trigger_seconds) as settings:
        return _live(config, settings, root)


def _dashboard(config: BenchConfig, root: Path) -> dict[str, Any]:
    """Stage 3: dashboard query latency on ``dashboard_days`` of gold."""
    from pipelines.bench.dashboard import dashboard_latency

    home = root / ("backlog" if config.mode == "smoke" else "dashboard")
    return dashboard_latency(
        Settings(home=home),
        days=config.dashboard_days,
        commits_per_day=config.dashboard_commits_per_day,
        silver_hours=1 if config.mode == "smoke" else 2,
        repeat=config.dashboard_repeat,
        add_rows=config.mode == "smoke",
    )


def _await_quiet(limit_s: float) -> None:
    """Wait (up to ``limit_s``) for the 1-minute load average to fall under ``QUIET_LOAD``: a run right after
    another, or after a test suite, would otherwise start on a machine still busy with their tail."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] >= QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)


def run_bench(config: BenchConfig, *, out_dir: Path, work_root: Path | None = None, keep: bool = False) -> Path:
    """Run every stage, write ``<out_dir>/<date>.json`` and ``.png``; returns the JSON's path."""
    root = Path(tempfile.mkdtemp(prefix="telcopulse-bench-", dir=work_root))
    _await_quiet(config.settle_s)
    started = time.time()
    machine = machine_facts()
    if machine["load_average"][0] >= QUIET_LOAD:
        log.warning(
            "load average %.2f >= %.1f: figures will be taken under load", machine["load_average"][0], QUIET_LOAD
        )
    report: dict[str, Any] = {
        "schema_version": 1,
        "date": datetime.now(UTC).date().isoformat(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": config.mode,
        "machine": machine,
        "versions": versions(),
        "config": asdict(config),
    }
    try:
        jsonl = root / "records.jsonl"
        start = datetime.now(UTC) - timedelta(seconds=config.records / DRAIN_EVENT_RATE + 60)
        write_jsonl(
            jsonl, readings(reading_pool(), count=config.records, start=start, rate=DRAIN_EVENT_RATE, prefix="drain")
        )
        report |= _backlog(config, root, jsonl)
        report["duckdb_one_pass"] = limit.duckdb_one_pass(
            jsonl, records=config.records, window_seconds=60, threads=max(1, machine["cores"] or 1)
        )
        if "live" not in report:
            report["live"] = _live_stage(config, root)
        report["dashboard"] = _dashboard(config, root)
    finally:
        report["machine"]["load_average_after"] = list(machine_facts()["load_average"])
        report["seconds"] = round(time.time() - started, 1)
        if keep:
            log.info("kept the bench homes")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report["machine"]["quiet"] = report["machine"]["load_average"][0] < QUIET_LOAD
    report["cpu_budget"] = cpu_budget(report)
    report["targets"], report["misses"] = judge(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{report['date']}.json"
    write_json(path, report)
    write_png(path.with_suffix(".png"), report)
    return path
