"""The live stage: all three jobs running, the simulator stepping its rate up, probes timed end to end.

Each step puts ``rate`` records/s for ``seconds`` (several producer processes above one's reach), then
waits for gold to catch up. A step is *kept up with*, at bounded lag, when the producers achieved the rate
and gold caught up within ``catch_up_bound_s`` after the last put: a pipeline slower than the rate ends the
step (rate - its own) x seconds behind. The growth of gold's lag in the step's second half (the floor of its
sawtooth, once the batches have grown to the new rate) is reported beside it; with one gold commit every
several seconds, a 30 s half holds too few of them to judge by. Lag is read from the jobs' batch logs.

Freshness: some records are probes, each with an operator of its own. A poller asks the dashboard's
engine (DuckDB over the tables' current snapshots) which probes silver and gold's operator KPIs show,
each time the table has committed (the catalog is checked every ``poll_s``); a probe's freshness is the
time from its PutRecords returning to its first sighting.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.tables import OPERATOR_KPIS, SILVER_EVENTS
from pipelines.bench.harness import JobRun, cpu_of, finish, go, kinesalite_pid, start_job, start_producers
from pipelines.bench.joblogs import Batch, read_batches, rows_done_by
from pipelines.bench.procs import TreeSampler, TreeUsage
from pipelines.bench.report import LAYERS
from pipelines.bench.workload import PROBE_PREFIX
from pipelines.settings import Settings

log = logging.getLogger(__name__)
MAX_RATE_PER_PRODUCER = 6000.0
PROBE_LOOKBACK = timedelta(minutes=5)
MILLION = 1_000_000


@dataclass(frozen=True)
class StepPlan:
    """One rate step: put ``rate`` records/s for ``seconds``; time probes if ``freshness``."""

    rate: float
    seconds: float
    freshness: bool = False


@dataclass
class ProbePoller:
    """Polls the query engine for probes until stopped; keeps each probe's first sighting per layer.

    Each layer has a thread and an engine of its own: a probe's sighting in gold never waits for a query
    of silver, which scans the last minutes of readings (p50 0.8 s over both layers at 5,000/s in one thread).
    """

    settings: Settings
    poll_s: float
    seen: dict[str, dict[str, float]] = field(default_factory=lambda: {"silver": {}, "gold": {}})
    polls: int = 0
    query_ms: dict[str, list[float]] = field(default_factory=lambda: {"silver": [], "gold": []})

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(layer,), name=f"probe-poller-{layer}", daemon=True)
            for layer in self.seen
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, layer: str) -> None:
        from pipelines.adapters.duckdb_engine import DuckDBQueryEngine
        from pipelines.errors import QueryEngineError

        engine = DuckDBQueryEngine(self.settings)
        table, time_column = {"silver": (SILVER_EVENTS, "event_time"), "gold": (OPERATOR_KPIS, "window_start")}[layer]
        key = (table.namespace, table.name)
        # As the dashboard does, ask for recent windows only: a scan of the whole tables every poll would
        # take CPU from the jobs being measured. Probes carry event times from the poller's start on.
        since = datetime.now(UTC) - PROBE_LOOKBACK
        sql = f"SELECT DISTINCT operator FROM {table.identifier} WHERE {time_column} >= ? AND operator LIKE ?"
        asked = None  # the table's commit marker when last queried
        seen = self.seen[layer]
        try:
            while not self._stop.is_set():
                # What a query shows changes only with a commit: the table is queried again only once it has
                # committed. Asking every poll cost the machine ~0.2 cores at 5,000/s, taken from the jobs.
                try:
                    marker = engine.markers().get(key)
                except QueryEngineError:
                    marker = None
                if marker is not None and marker != asked:
                    started = time.time()
                    try:
                        names = engine.query(sql, [since, PROBE_PREFIX + "%"]).column("operator").to_pylist()
                    except QueryEngineError as exc:
                        log.debug("probe poll of %s failed: %s", layer, exc)
                    else:
                        seen_at = time.time()
                        asked = marker
                        self.query_ms[layer].append((seen_at - started) * 1000)
                        for name in names:
                            seen.setdefault(name, seen_at)
                with self._lock:
                    self.polls += 1
                self._stop.wait(self.poll_s)
        finally:
            engine.close()


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99 (nearest rank), mean and count."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "p50": round(rank(0.50), 3),
        "p95": round(rank(0.95), 3),
        "p99": round(rank(0.99), 3),
        "mean": round(sum(ordered) / len(ordered), 3),
        "max": round(ordered[-1], 3),
    }


def _layer_batches(settings: Settings) -> dict[str, list[Batch]]:
    return {layer: read_batches(settings.logs_dir / f"{layer}.jsonl", layer=layer) for layer in LAYERS}


def _done(settings: Settings, layer: str, since: float) -> int:
    return sum(b.rows_in for b in read_batches(settings.logs_dir / f"{layer}.jsonl", layer=layer) if b.ended >= since)


def wait_for_gold(settings: Settings, *, rows: int, since: float, timeout_s: float) -> float | None:
    """Seconds until gold has merged ``rows`` rows in batches that ended after ``since`` (None: timed out)."""
    started = time.time()
    while time.time() - started < timeout_s:
        if _done(settings, "gold", since) >= rows:
            return time.time() - started
        time.sleep(0.5)
    return None


def _max_lag(schedule_rate: float, total: int, gold: list[Batch], t0: float, lo: float, hi: float) -> int:
    """Largest (scheduled puts - gold rows) over whole seconds in ``[lo, hi]``, counting from ``t0``."""
    worst, moment = 0, lo
    while moment <= hi:
        put = min(total, int(schedule_rate * (moment - t0)))
        worst = max(worst, put - rows_done_by(gold, moment))
        moment += 1.0
    return worst


def _lag_floor(
    schedule_rate: float, total: int, gold: list[Batch], t0: float, lo: float, hi: float
) -> list[tuple[float, int]]:
    """(moment, scheduled puts - gold rows) just after each gold commit in ``[lo, hi]``: the floor of the lag.

    A micro-batch pipeline's lag is a sawtooth (it grows between commits, drops at each); its floor grows
    only when the pipeline falls behind, so its slope is the growth, free of the batch rhythm.
    """
    return [
        (b.ended, min(total, int(schedule_rate * (b.ended - t0))) - rows_done_by(gold, b.ended))
        for b in gold
        if lo <= b.ended <= hi
    ]


def lag_growth_rps(rate: float, total: int, gold: list[Batch], t0: float, seconds: float) -> float | None:
    """How fast gold's lag floor grew in the second half of a step of ``seconds`` from ``t0`` (records/s).

    The second half only: in the first, the batches grow from the previous step's size to this rate's, and
    the lag with them, even in a pipeline that keeps up. None with fewer than two gold commits there.
    """
    return _slope(_lag_floor(rate, total, gold, t0, t0 + seconds / 2, t0 + seconds))


def _slope(points: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of ``points`` (None with fewer than two)."""
    if len(points) < 2:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def run_step(
    settings: Settings,
    plan: StepPlan,
    jobs: dict[str, JobRun],
    *,
    index: int,
    work_dir: Path,
    poll_s: float,
    catch_up_bound_s: float,
    settle_timeout_s: float | None = None,
    server: TreeUsage | None = None,
) -> dict[str, Any]:
    """Put ``plan.rate`` records/s for ``plan.seconds`` with all jobs running; judge whether they kept up.

    ``server`` is kinesalite's sampled usage: with the producers' own CPU, the step's ``stream_cost`` says
    what the stream took of the machine, beside the jobs' ``cost``.
    """
    producers = max(1, math.ceil(plan.rate / MAX_RATE_PER_PRODUCER))
    total = int(plan.rate * plan.seconds)
    share = -(-total // producers)
    probes_per_s = 2.0 if plan.freshness else 0.0
    probe_every = max(1, int(plan.rate / probes_per_s)) if probes_per_s else 0
    specs: list[dict[str, object]] = [
        {
            "home": str(settings.home),
            "kinesis_port": settings.kinesis_port,
            "count": min(share, total - p * share),
            "rate": plan.rate / producers,
            "prefix": f"s{index}p{p}",
            "event_rate": plan.rate / producers,
            "probe_every": probe_every,
            "probe_log": str(work_dir / f"probes-{index}-{p}.json") if probe_every else None,
        }
        for p in range(producers)
    ]
    processes = start_producers(specs)
    poller = ProbePoller(settings, poll_s) if plan.freshness else None
    if poller:
        poller.start()
    t0 = time.time()
    go(processes)
    summaries = finish(processes)
    put_end = time.time()
    sent = sum(int(s["sent"]) for s in summaries)  # type: ignore[call-overload]
    put_seconds = max(float(s["seconds"]) for s in summaries)  # type: ignore[arg-type]
    timeout = settle_timeout_s if settle_timeout_s is not None else max(60.0, 3 * plan.seconds)
    catch_up = wait_for_gold(settings, rows=sent, since=t0, timeout_s=timeout)
    settled = time.time()
    if poller:
        poller.stop()
    batches = _layer_batches(settings)
    gold = [b for b in batches["gold"] if b.ended >= t0]
    half = plan.seconds / 2
    window = min(10.0, half / 2)
    lag_mid = _max_lag(plan.rate, sent, gold, t0, t0 + half - window, t0 + half)
    lag_end = _max_lag(plan.rate, sent, gold, t0, t0 + plan.seconds - window, t0 + plan.seconds)
    floor = _lag_floor(plan.rate, sent, gold, t0, t0 + half, t0 + plan.seconds)
    slope = lag_growth_rps(plan.rate, sent, gold, t0, plan.seconds)
    # Fewer than two gold commits in the step: no slope; the catch-up time alone judges the step then.
    growth_rps = slope if slope is not None else 0.0
    put_by_end = min(sent, int(plan.rate * plan.seconds))
    behind_at_end = {
        layer: put_by_end - rows_done_by([b for b in layer_batches if b.ended >= t0], t0 + plan.seconds)
        for layer, layer_batches in batches.items()
    }
    achieved = sent / put_seconds if put_seconds > 0 else 0.0
    kept_up = (
        achieved >= 0.95 * plan.rate
        and catch_up is not None
        and catch_up <= catch_up_bound_s
    )
    step: dict[str, Any] = {
        "rate": plan.rate,
        "seconds": plan.seconds,
        "producers": producers,
        "records": sent,
        "failed": sum(int(s["failed"]) for s in summaries),  # type: ignore[call-overload]
        "achieved_rps": round(achieved, 1),
        "catch_up_s": round(catch_up, 2) if catch_up is not None else None,
        "lag_mid_records": lag_mid,
        "lag_end_records": lag_end,
        "lag_growth_rps": round(growth_rps, 1),
        "lag_floor": [[round(moment - t0, 2), lag] for moment, lag in floor],
        "behind_at_end": behind_at_end,
        "gold_rps": round(sent / (settled - t0), 1)
        if catch_up is not None
        else round(_done(settings, "gold", t0) / (settled - t0), 1),
        "kept_up": kept_up,
        "cost": _step_cost(jobs, t0, settled, sent),
        "stream_cost": _stream_cost(server, summaries, t0, settled, sent),
        "batches": {
            layer: {
                "count": len([b for b in layer_batches if t0 <= b.ended <= settled]),
                "mean_rows": _mean([b.rows_in for b in layer_batches if t0 <= b.ended <= settled]),
                "mean_s": _mean([b.seconds for b in layer_batches if t0 <= b.ended <= settled]),
            }
            for layer, layer_batches in batches.items()
        },
        "window": [round(t0, 3), round(put_end, 3), round(settled, 3)],
    }
    if poller:
        step["freshness"] = _freshness(poller, work_dir, index, producers)
    log.info(
        "step %.0f rec/s: achieved %.0f, catch-up %s s, lag growth %.0f rec/s -> %s",
        plan.rate,
        achieved,
        step["catch_up_s"],
        growth_rps,
        "kept up" if kept_up else "fell behind",
    )
    return step


def _mean(values: list[float] | list[int]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _step_cost(jobs: dict[str, JobRun], start: float, end: float, records: int) -> dict[str, Any]:
    cost: dict[str, Any] = {}
    for layer, job in jobs.items():
        cpu = job.usage.cpu_between(start, end)
        cost[layer] = {
            "cpu_s": round(cpu, 2),
            "cores": round(cpu / (end - start), 2) if end > start else None,
            "cpu_s_per_million": round(cpu / records * MILLION, 1) if records else None,
            "cpu_s_by_thread": {k: round(v, 2) for k, v in job.usage.cpu_between_by_kind(start, end).items()},
        }
    return cost


def _stream_cost(
    server: TreeUsage | None, summaries: list[dict[str, object]], start: float, end: float, records: int
) -> dict[str, Any]:
    """What kinesalite and the producers used of the machine over a step: the share the jobs cannot have."""
    used = {
        "kinesalite": server.cpu_between(start, end) if server else None,
        "producers": sum(cpu_of(summary) for summary in summaries),
    }
    return {
        part: {
            "cpu_s": round(cpu, 2),
            "cores": round(cpu / (end - start), 2) if end > start else None,
            "cpu_s_per_million": round(cpu / records * MILLION, 1) if records else None,
        }
        for part, cpu in used.items()
        if cpu is not None
    }


def _freshness(poller: ProbePoller, work_dir: Path, index: int, producers: int) -> dict[str, Any]:
    import json

    put_at: dict[str, float] = {}
    for p in range(producers):
        path = work_dir / f"probes-{index}-{p}.json"
        if path.exists():
            put_at |= json.loads(path.read_text())
    result: dict[str, Any] = {
        "probes": len(put_at),
        "polls": poller.polls,
        "poll_query_ms": {layer: percentiles(ms) for layer, ms in poller.query_ms.items()},
    }
    for layer, seen in poller.seen.items():
        delays = [seen[name] - put for name, put in put_at.items() if name in seen]
        result[layer] = percentiles(delays) | {
            "missing": len(put_at) - len(delays),
            "samples": [round(d, 3) for d in delays],
        }
    return result


def run_live(
    settings: Settings,
    plans: list[StepPlan],
    *,
    work_dir: Path,
    warmup_records: int,
    poll_s: float,
    catch_up_bound_s: float,
    jobs: dict[str, JobRun] | None = None,
) -> dict[str, Any]:
    """Start bronze, silver and gold (or take running ``jobs``); warm them up; run the steps; stop the jobs."""
    work_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or {layer: start_job(settings, layer) for layer in LAYERS}
    server = kinesalite_pid(settings)
    server_sampler = TreeSampler(server) if server else None
    if server_sampler:
        server_sampler.__enter__()
    steps: list[dict[str, Any]] = []
    started = time.time()
    try:
        warm = (
            run_step(
                settings,
                StepPlan(rate=max(1.0, warmup_records / 10.0), seconds=10.0),
                jobs,
                index=0,
                work_dir=work_dir,
                poll_s=poll_s,
                catch_up_bound_s=600.0,
                settle_timeout_s=600.0,
                server=server_sampler.usage if server_sampler else None,
            )
            if warmup_records
            else {"records": 0, "catch_up_s": None}
        )
        failed = False
        for index, plan in enumerate(plans, start=1):
            # After the first step that fell behind, only the freshness rates still run (they are asked for).
            if failed and not plan.freshness:
                continue
            steps.append(
                run_step(
                    settings,
                    plan,
                    jobs,
                    index=index,
                    work_dir=work_dir,
                    poll_s=poll_s,
                    catch_up_bound_s=catch_up_bound_s,
                    server=server_sampler.usage if server_sampler else None,
                )
            )
            failed = failed or not steps[-1]["kept_up"]
    finally:
        for job in jobs.values():
            job.stop()
        if server_sampler:
            server_sampler.stop()
    ended = time.time()
    for layer, job in jobs.items():
        if job.returncode not in (0, None, -15):
            log.warning("%s exited with %s", layer, job.returncode)
    sustained = 0.0
    for step in sorted(steps, key=lambda s: s["rate"]):
        if not step["kept_up"]:
            break
        sustained = step["rate"]
    return {
        "warmup": {k: warm[k] for k in ("records", "catch_up_s")},
        "steps": steps,
        "sustained_rps": sustained,
        "seconds": round(ended - started, 1),
        "peak_rss_mb": {layer: round(job.usage.peak_rss_bytes / 2**20, 1) for layer, job in jobs.items()},
        "kinesalite_cpu_s": round(server_sampler.usage.cpu_s, 2) if server_sampler else None,
        "jvm_warnings": jvm_warnings(settings),
        "window": [round(started, 3), round(ended, 3)],
    }


JVM_WARNINGS = ("CodeCache is full", "OutOfMemoryError")


def jvm_warnings(settings: Settings) -> dict[str, list[str]]:
    """Per job, the JVM warnings its output holds: a full code cache turns HotSpot's compiler off for good."""
    found: dict[str, list[str]] = {}
    for layer in LAYERS:
        path = settings.logs_dir / f"{layer}.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        found[layer] = [warning for warning in JVM_WARNINGS if warning in text]
        if found[layer]:
            log.warning("%s's JVM reported: %s; its figures are not representative", layer, found[layer])
    return found
