"""The benchmark's local stack: one home and one loopback kinesalite per stage, jobs as child processes.

Each job runs exactly as a user runs it (``python -m pipelines.cli run <layer>``) with the stage's home and
port in its environment; its process tree is sampled for CPU and memory while it runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.bench.procs import TreeSampler, TreeUsage
from pipelines.local import stack
from pipelines.settings import Settings


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def job_env(settings: Settings) -> dict[str, str]:
    """The environment that points a child process at ``settings``' home, port and trigger."""
    return {
        **os.environ,
        "TELCOPULSE_HOME": str(settings.home),
        "TELCOPULSE_KINESIS_PORT": str(settings.kinesis_port),
        "TELCOPULSE_TRIGGER_SECONDS": str(settings.trigger_seconds),
        "TELCOPULSE_SHARDS": str(settings.shards),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


@contextmanager
def local_stack(home: Path, *, shards: int = 2, trigger_seconds: float = 1.0) -> Iterator[Settings]:
    """A fresh home with kinesalite on a free loopback port and the stream created; stopped afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, kinesis_port=free_port(), shards=shards, trigger_seconds=trigger_seconds)
    stack.up(settings, shards=shards)
    try:
        yield settings
    finally:
        stack.down(settings)


def kinesalite_pid(settings: Settings) -> int | None:
    """The pid of this stage's kinesalite, for sampling its CPU."""
    return stack.recorded_pid(settings)


@dataclass
class JobRun:
    """A job process: its command, its sampled usage and how it ended."""

    layer: str
    process: subprocess.Popen[bytes]
    sampler: TreeSampler
    started: float = field(default_factory=time.time)
    returncode: int | None = None

    @property
    def usage(self) -> TreeUsage:
        return self.sampler.usage

    def wait(self, timeout_s: float) -> int:
        """Wait for the job to exit by itself (``--until-idle``); kill it past ``timeout_s``."""
        try:
            self.returncode = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.returncode = self.process.wait()
        self.sampler.stop()
        return self.returncode

    def stop(self, timeout_s: float = 90.0) -> int:
        """Stop a running job cleanly (SIGTERM, as Ctrl-C), then wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)


def start_job(
    settings: Settings, layer: str, *, until_idle_s: float | None = None, upstream_pid: int | None = None
) -> JobRun:
    """Start ``telcopulse run <layer>`` on ``settings``' home; its log goes to ``<home>/logs/<layer>.out``.

    With ``upstream_pid``, idle time counts only once that process has exited (as in ``run all``).
    """
    args = [sys.executable, "-m", "pipelines.cli", "run", layer]
    if until_idle_s is not None:
        args += ["--until-idle", str(until_idle_s)]
    if upstream_pid is not None:
        args += ["--upstream-pid", str(upstream_pid)]
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with (settings.logs_dir / f"{layer}.out").open("ab") as out:
        process = subprocess.Popen(args, env=job_env(settings), stdout=out, stderr=subprocess.STDOUT)
    sampler = TreeSampler(process.pid)
    sampler.__enter__()
    return JobRun(layer, process, sampler)


class Holder:
    """A placeholder upstream process: a job passed its pid counts idle time only after ``release()``.

    A drain must not end before its first micro-batch (a JVM under load may take longer than the idle
    time to plan it), so the holder lives until the job has logged every row it was given.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)


def start_producers(specs: list[dict[str, object]]) -> list[subprocess.Popen[str]]:
    """Start producer processes and wait until each has prepared its records (prints ``ready``)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pipelines.bench.producer", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            process.kill()
            raise RuntimeError(f"bench producer failed to start: {line!r}")
    return processes


def go(processes: list[subprocess.Popen[str]]) -> None:
    """Release prepared producers together."""
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def finish(processes: list[subprocess.Popen[str]], timeout_s: float = 3600.0) -> list[dict[str, object]]:
    """Each producer's JSON summary, once it has sent everything."""
    summaries = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout_s)
        if process.returncode != 0:
            raise RuntimeError(f"bench producer exited with {process.returncode}")
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


def cpu_of(summary: dict[str, object]) -> float:
    """A producer's own CPU seconds while it sent, from its summary (0 where it did not say)."""
    value = summary.get("cpu_s")
    return float(value) if isinstance(value, int | float) else 0.0
