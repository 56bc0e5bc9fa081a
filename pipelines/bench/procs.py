"""CPU seconds and memory of a job's process tree, read from ``/proc`` (no psutil).

A job is a Python process whose Spark driver is a child JVM; both count. A sampler thread walks the tree
every ``interval_s`` and keeps, per process, its latest CPU time and its peak resident set (``VmHWM``);
and, per thread, its CPU time under the kind of work its name says (``THREAD_KINDS``): how much of a job's
CPU is the JIT compiler, the garbage collector, Spark's tasks, or the rest (driver, planning, commits).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = PROC / str(pid) / "task"
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant that is alive now."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    return tree


# Thread names (Linux keeps their first 15 characters) of the HotSpot JVM and of Spark's executor.
THREAD_KINDS = (
    ("jit", ("C1 CompilerThre", "C2 CompilerThre")),
    ("gc", ("GC Thread", "G1 ")),
    ("spark_tasks", ("Executor task l",)),
)


def thread_kind(name: str) -> str:
    """``jit``, ``gc``, ``spark_tasks`` or ``other`` for a thread called ``name``."""
    return next((kind for kind, prefixes in THREAD_KINDS if name.startswith(prefixes)), "other")


def _stat_cpu(text: str) -> float:
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of one process: its kind and its CPU seconds (empty once the process is gone)."""
    threads: dict[int, tuple[str, float]] = {}
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return threads
    for task in tasks:
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        threads[int(task.name)] = (thread_kind(text[text.index("(") + 1 : text.rindex(")")]), _stat_cpu(text))
    return threads


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process (its own threads), or None once it is gone."""
    try:
        return _stat_cpu((PROC / str(pid) / "stat").read_text())
    except OSError:
        return None


def peak_rss_bytes(pid: int) -> int | None:
    """Peak resident set size (``VmHWM``) of one process, or None once it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class TreeUsage:
    """What a sampled process tree used: CPU over time and the peak memory of its processes together."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (wall time, CPU s of the tree)
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    cpu_by_thread: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)  # (pid, tid)
    kind_samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (wall time, CPU s per kind)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_by_pid.values())

    @property
    def cpu_s_by_kind(self) -> dict[str, float]:
        """CPU seconds per kind of thread (``thread_kind``) over the tree's life so far."""
        totals: dict[str, float] = {}
        for kind, seconds in self.cpu_by_thread.values():
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals

    def cpu_between_by_kind(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per kind of thread between two wall-clock moments."""
        between: dict[str, float] = {}
        for kind in sorted({kind for _, by_kind in self.kind_samples for kind in by_kind}):
            series = [(moment, by_kind.get(kind, 0.0)) for moment, by_kind in self.kind_samples]
            between[kind] = _interpolate(series, end) - _interpolate(series, start)
        return between

    @property
    def peak_rss_bytes(self) -> int:
        """Sum of each process's own peak: an upper bound of the tree's peak, exact when both peak together."""
        return sum(self.peak_rss_by_pid.values())

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two wall-clock moments (linear between samples)."""
        return _interpolate(self.samples, end) - _interpolate(self.samples, start)


def _interpolate(samples: list[tuple[float, float]], moment: float) -> float:
    if not samples:
        return 0.0
    if moment <= samples[0][0]:
        return samples[0][1]
    for (t0, v0), (t1, v1) in zip(samples, samples[1:], strict=False):
        if t0 <= moment <= t1:
            return v0 + (v1 - v0) * ((moment - t0) / (t1 - t0) if t1 > t0 else 0.0)
    return samples[-1][1]


class TreeSampler:
    """Samples the tree under ``pid`` in a background thread until ``stop()``; use as a context manager."""

    def __init__(self, pid: int, *, interval_s: float = 0.25):
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{pid}", daemon=True)
        self.usage = TreeUsage()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> TreeUsage:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            self.sample()  # up to the moment it stopped, not the last interval's start
        return self.usage

    def sample(self) -> None:
        usage = self.usage
        for pid in process_tree(self._pid):
            cpu = cpu_seconds(pid)
            if cpu is not None:
                usage.cpu_by_pid[pid] = max(cpu, usage.cpu_by_pid.get(pid, 0.0))
            rss = peak_rss_bytes(pid)
            if rss is not None:
                usage.peak_rss_by_pid[pid] = max(rss, usage.peak_rss_by_pid.get(pid, 0))
            for tid, (kind, seconds) in thread_cpu(pid).items():
                usage.cpu_by_thread[(pid, tid)] = (kind, seconds)
        now = time.time()
        usage.samples.append((now, usage.cpu_s))
        usage.kind_samples.append((now, usage.cpu_s_by_kind))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval_s)
