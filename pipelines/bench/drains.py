"""Backlog stages: what kinesalite accepts and serves, then each layer draining a preloaded backlog.

One home carries the chain: the producers load the stream (the put ceiling), a bare reader reads it all
back (the get ceiling), then bronze drains the stream, silver drains bronze and gold drains silver, each
job alone on the machine so that its figure is its own.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pipelines.adapters.kinesis import BotoKinesisSource, kinesis_client
from pipelines.bench.harness import Holder, JobRun, cpu_of, finish, go, kinesalite_pid, start_job, start_producers
from pipelines.bench.joblogs import drain_of, phase_totals, read_batches
from pipelines.bench.procs import TreeSampler
from pipelines.settings import Settings

log = logging.getLogger(__name__)
MILLION = 1_000_000


def put_ceiling(settings: Settings, jsonl: Path, *, records: int, producers: int) -> dict[str, Any]:
    """Put ``records`` lines of ``jsonl`` flat out from ``producers`` processes: what kinesalite accepts."""
    share = -(-records // producers)
    specs: list[dict[str, object]] = [
        {
            "home": str(settings.home),
            "kinesis_port": settings.kinesis_port,
            "jsonl": str(jsonl),
            "first": index * share,
            "count": min(share, records - index * share),
        }
        for index in range(producers)
    ]
    processes = start_producers(specs)
    server = kinesalite_pid(settings)
    sampler = TreeSampler(server) if server else None
    if sampler:
        sampler.__enter__()
    go(processes)
    summaries = finish(processes)
    if sampler:
        sampler.stop()
    started = min(float(s["started"]) for s in summaries)  # type: ignore[arg-type]
    ended = max(float(s["started"]) + float(s["seconds"]) for s in summaries)  # type: ignore[arg-type]
    sent = sum(int(s["sent"]) for s in summaries)  # type: ignore[call-overload]
    failed = sum(int(s["failed"]) for s in summaries)  # type: ignore[call-overload]
    return {
        "records": sent,
        "failed": failed,
        "retried": sum(int(s["retried"]) for s in summaries),  # type: ignore[call-overload]
        "producers": producers,
        "seconds": round(ended - started, 3),
        "rows_per_s": round(sent / (ended - started), 1),
        "server_cpu_s": round(sampler.usage.cpu_between(started, ended), 2) if sampler else None,
        "producer_cpu_s": round(sum(cpu_of(summary) for summary in summaries), 2),
    }


def bare_read(settings: Settings, *, records: int, max_records: int) -> dict[str, Any]:
    """Read the whole stream back with the bronze job's own reader and nothing else: what kinesalite serves."""
    source = BotoKinesisSource(kinesis_client(settings, raw_timestamps=True), settings.stream_name)
    positions: dict[str, str] = {}
    read, calls, empty = 0, 0, 0
    server = kinesalite_pid(settings)
    with TreeSampler(server) if server else nullcontext() as sampler:
        started = time.time()
        while read < records and empty < 3:
            batch = source.read(positions, max_records=max_records)
            calls += 1
            empty = empty + 1 if batch.size == 0 else 0
            read += batch.size
            positions = batch.positions
        seconds = time.time() - started
    source.close()
    return {
        "records": read,
        "reads": calls,
        "seconds": round(seconds, 3),
        "rows_per_s": round(read / seconds, 1),
        "server_cpu_s": round(sampler.usage.cpu_between(started, started + seconds), 2) if sampler else None,
    }


def drain_figures(settings: Settings, job: JobRun, *, expected_rows: int) -> dict[str, Any]:
    """A layer's drain from its batch log (JVM start-up and idle waits excluded), its cost from ``/proc``.

    ``steady_rows_per_s`` leaves out the first batch too, which also pays for JIT compilation, the first
    Data Docs build and cold caches: the rate a long backlog drains at.
    """
    layer = job.layer
    batches = read_batches(settings.logs_dir / f"{layer}.jsonl", layer=layer)
    if not batches:
        raise RuntimeError(f"{layer} logged no batch with input rows; see {settings.logs_dir / (layer + '.out')}")
    drain = drain_of(batches)
    if drain.rows < expected_rows:
        log.warning("%s took %d rows, expected %d", layer, drain.rows, expected_rows)
    usage = job.usage
    drain_cpu = usage.cpu_between(drain.started, drain.ended)
    steady = batches[1:]
    steady_span = batches[-1].ended - batches[0].ended
    return {
        **drain.as_dict(),
        "steady_rows_per_s": round(sum(b.rows_in for b in steady) / steady_span, 1) if steady else None,
        "first_batch_s": round(batches[0].seconds, 3),
        "startup_s": round(drain.started - job.started, 2),
        "cpu_s": round(usage.cpu_s, 2),
        "cpu_s_drain": round(drain_cpu, 2),
        "cpu_s_per_million": round(drain_cpu / drain.rows * MILLION, 1),
        "cpu_utilisation": round(drain_cpu / drain.span_s, 2) if drain.span_s else None,
        "cpu_s_drain_by_thread": _rounded(usage.cpu_between_by_kind(drain.started, drain.ended)),
        "peak_rss_mb": round(usage.peak_rss_bytes / 2**20, 1),
        "batch_seconds": [round(b.seconds, 3) for b in batches],
        "batch_rows": [b.rows_in for b in batches],
        "phases_s": phase_totals(batches),
    }


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {kind: round(value, 2) for kind, value in seconds.items()}


def _taken(settings: Settings, layer: str) -> tuple[int, int]:
    batches = read_batches(settings.logs_dir / f"{layer}.jsonl", layer=layer)
    return sum(b.rows_in for b in batches), sum(b.rows_out for b in batches)


def drain_layer(
    settings: Settings, layer: str, *, expected_rows: int, idle_s: float, timeout_s: float
) -> dict[str, Any]:
    """Run ``layer`` alone on the backlog in front of it until it has taken ``expected_rows`` and gone idle."""
    holder = Holder() if layer != "bronze" else None  # bronze reads at once; Spark streams plan first
    job = start_job(settings, layer, until_idle_s=idle_s, upstream_pid=holder.pid if holder else None)
    deadline = time.time() + timeout_s
    try:
        while holder and time.time() < deadline and job.process.poll() is None:
            if _taken(settings, layer)[0] >= expected_rows:
                break
            time.sleep(0.5)
    finally:
        if holder:
            holder.release()
    code = job.wait(max(1.0, deadline - time.time()))
    if code != 0:
        raise RuntimeError(f"{layer} exited with {code}; see {settings.logs_dir / (layer + '.out')}")
    return drain_figures(settings, job, expected_rows=expected_rows) | {
        "process_s": round(time.time() - job.started, 2)
    }


def start_together(settings: Settings, layers: tuple[str, ...]) -> dict[str, JobRun]:
    """Start every layer's job at once; they keep running (``drain_together`` waits for the backlog)."""
    return {layer: start_job(settings, layer) for layer in layers}


def drain_together(
    settings: Settings, jobs: dict[str, JobRun], *, expected_rows: int, timeout_s: float
) -> dict[str, Any]:
    """Wait until the backlog is through every job started by ``start_together``; they keep running.

    Cheaper than ``drain_layer`` (the JVMs start together, while the backlog is put, and are reused
    afterwards), but the layers share the machine, so the rates are not each layer's own: for the smoke run.
    """
    layers = tuple(jobs)
    deadline = time.time() + timeout_s
    expected = {layers[0]: expected_rows}
    for upstream, layer in zip(layers, layers[1:], strict=False):
        while time.time() < deadline and _taken(settings, upstream)[0] < expected[upstream]:
            time.sleep(0.25)
        expected[layer] = _taken(settings, upstream)[1]
    while time.time() < deadline and _taken(settings, layers[-1])[0] < expected[layers[-1]]:
        time.sleep(0.25)
    for layer, job in jobs.items():
        if job.process.poll() is not None:
            raise RuntimeError(f"{layer} exited with {job.process.returncode}")
    return {
        layer: drain_figures(settings, job, expected_rows=expected[layer]) | {"shared_machine": True}
        for layer, job in jobs.items()
    }
