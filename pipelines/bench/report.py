"""The benchmark's report: targets met or missed (and by how much), the JSON file and the PNG beside it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipelines.settings import PROJECT_ROOT

LAYERS = ("bronze", "silver", "gold")
MILLION = 1_000_000


@dataclass(frozen=True)
class Target:
    """A figure the benchmark must reach: at least (``higher``) or at most ``goal``."""

    key: str
    unit: str
    goal: float
    higher: bool
    label: str

    def judge(self, value: float | None) -> dict[str, Any]:
        met = value is not None and (value >= self.goal if self.higher else value <= self.goal)
        return {"value": value, "unit": self.unit, "target": self.goal, "met": bool(met)}

    def miss(self, value: float | None) -> str | None:
        """How far a missed target is from its goal, in words (None when met)."""
        if value is None:
            return f"{self.label}: not measured"
        if self.judge(value)["met"]:
            return None
        if self.higher:
            factor = self.goal / value if value else float("inf")
            gap = f"short by {self.goal - value:.3g}, x{factor:.1f} needed"
            return f"{self.label}: {value:g} {self.unit} vs >= {self.goal:g} ({gap})"
        gap = f"over by {value - self.goal:.3g}, x{value / self.goal:.1f}"
        return f"{self.label}: {value:g} {self.unit} vs <= {self.goal:g} ({gap})"


TARGETS = (
    Target("silver_drain_rps", "records/s", 20_000, True, "silver drain"),
    Target("gold_drain_rps", "records/s", 20_000, True, "gold drain"),
    Target("bronze_drain_ratio", "fraction of a bare reader", 0.9, True, "bronze drain / bare Kinesis reader"),
    Target("e2e_ratio_to_kinesis", "fraction of kinesalite puts/s", 0.9, True, "end-to-end / Kinesis accept rate"),
    Target("freshness_p95_s_at_5k", "s", 10.0, False, "gold freshness p95 at 5,000 records/s"),
    Target("pipeline_to_duckdb_ratio", "fraction of DuckDB one pass", 0.1, True, "pipeline / DuckDB one pass"),
    Target("dashboard_query_p95_ms", "ms", 300.0, False, "dashboard query p95 (worst panel query)"),
)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def _get(figures: dict[str, Any], *path: str) -> Any:
    value: Any = figures
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def target_values(figures: dict[str, Any]) -> dict[str, float | None]:
    """The value behind each target key, from the run's figures (None where a stage did not run)."""
    freshness = _get(figures, "live", "freshness", "5000", "gold", "p95")
    return {
        "silver_drain_rps": _get(figures, "drain", "silver", "rows_per_s"),
        "gold_drain_rps": _get(figures, "drain", "gold", "rows_per_s"),
        "bronze_drain_ratio": _ratio(
            _get(figures, "drain", "bronze", "rows_per_s"), _get(figures, "kinesis", "bare_read", "rows_per_s")
        ),
        "e2e_ratio_to_kinesis": _ratio(
            _get(figures, "live", "sustained_rps"), _get(figures, "kinesis", "put", "rows_per_s")
        ),
        "freshness_p95_s_at_5k": freshness,
        "pipeline_to_duckdb_ratio": _ratio(
            _get(figures, "pipeline", "rows_per_s"), _get(figures, "duckdb_one_pass", "rows_per_s")
        ),
        "dashboard_query_p95_ms": _get(figures, "dashboard", "worst_p95_ms"),
    }


def judge(figures: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ``targets`` object and, for each target missed, by how much and where the time goes."""
    values = target_values(figures)
    targets = {t.key: t.judge(values[t.key]) for t in TARGETS}
    misses = []
    for target in TARGETS:
        miss = target.miss(values[target.key])
        if miss is not None:
            where = bottleneck(target.key, figures)
            misses.append(f"{miss}; {where}" if where else miss)
    return targets, misses


def _phases(figures: dict[str, Any], layer: str) -> str | None:
    """A drained layer's time per phase of its batches, largest first, with the JIT-cold first batch."""
    drain = _get(figures, "drain", layer)
    if not isinstance(drain, dict) or not drain.get("phases_s"):
        return None
    phases = sorted(drain["phases_s"].items(), key=lambda item: -item[1])
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases if seconds >= 0.05)
    return (
        f"{layer} spent {parts} over {drain['batches']} batches of {drain['span_s']:.1f} s "
        f"(first batch, JIT-cold: {drain['first_batch_s']:.1f} s){_cpu_split(drain.get('cpu_s_drain_by_thread'))}"
    )


def _cpu_split(by_thread: dict[str, float] | None) -> str:
    """``; CPU: jit 45%, spark_tasks 30%, ...``: what a job's CPU went to, by kind of thread."""
    total = sum((by_thread or {}).values())
    if not by_thread or total <= 0:
        return ""
    shares = sorted(by_thread.items(), key=lambda item: -item[1])
    return "; CPU: " + ", ".join(f"{kind} {seconds / total:.0%}" for kind, seconds in shares)


def _live_bottleneck(figures: dict[str, Any], *, rate: float | None = None) -> str | None:
    """The layer with the longest micro-batches in the live step at ``rate`` (default: the fastest)."""
    steps = [s for s in _get(figures, "live", "steps") or [] if rate is None or s["rate"] == rate]
    if not steps:
        return None
    step = max(steps, key=lambda s: s["rate"])
    batches = step.get("batches") or {}
    timed = {layer: b for layer, b in batches.items() if b.get("mean_s")}
    if not timed:
        return None
    slowest = max(timed, key=lambda layer: timed[layer]["mean_s"])
    per_layer = ", ".join(
        f"{layer} {b['mean_s']:.1f} s per batch of {b['mean_rows']:.0f} rows"
        f" ({(step.get('cost') or {}).get(layer, {}).get('cores') or 0:.2f} cores)"
        for layer, b in timed.items()
    )
    used = sum(((step.get("cost") or {}).get(layer) or {}).get("cores") or 0.0 for layer in timed)
    cores = _get(figures, "machine", "cores")
    by_thread: dict[str, float] = {}
    for layer in timed:
        for kind, seconds in (((step.get("cost") or {}).get(layer) or {}).get("cpu_s_by_thread") or {}).items():
            by_thread[kind] = by_thread.get(kind, 0.0) + seconds
    return (
        f"bottleneck {slowest}: at {step['rate']:.0f} records/s {per_layer}; the jobs used {used:.2f} of "
        f"{cores or '?'} cores{_cpu_split(by_thread)}. Each micro-batch pays a fixed cost (planning, "
        "code generation and its JIT compilation, several Spark actions, one catalog commit per table) "
        "that grows the batches, and with them the lag"
    )


def _freshness_words(figures: dict[str, Any], rate: str) -> str | None:
    """Where a probe's time went at ``rate``: what each layer added, and the probe query's own time."""
    freshness = _get(figures, "live", "freshness", rate) or {}
    silver, gold = (freshness.get(layer) or {} for layer in ("silver", "gold"))
    if silver.get("p95") is None or gold.get("p95") is None:
        return None
    words = (
        f"put to silver p50 {silver['p50']:.1f} s, p95 {silver['p95']:.1f} s; to gold p50 {gold['p50']:.1f} s, "
        f"p95 {gold['p95']:.1f} s (gold adds {gold['p50'] - silver['p50']:.1f} s at p50). A probe waits in "
        "each layer for the batch in progress, then its own"
    )
    query_ms = freshness.get("poll_query_ms") or {}
    if all(isinstance(query_ms.get(layer), dict) and query_ms[layer].get("p50") for layer in ("silver", "gold")):
        words += (
            f"; the probe's DuckDB query took p50 {query_ms['silver']['p50'] / 1000:.1f} s on silver and "
            f"{query_ms['gold']['p50'] / 1000:.1f} s on gold, beside the running jobs"
        )
    return words


E2E_TARGET = next(t for t in TARGETS if t.key == "e2e_ratio_to_kinesis")
STREAM_PARTS = ("kinesalite", "producers")


def cpu_budget(figures: dict[str, Any]) -> dict[str, Any] | None:
    """What the machine's cores can carry end to end, from the CPU per record that each part used.

    In the fastest live step with the stream's cost measured, each part (kinesalite serving puts and
    reads, the producers, each job) used some CPU seconds per million records. The cores divided by their
    sum is the highest rate the machine could carry with every part as costly as there: the end-to-end
    ceiling. The end-to-end target puts ``E2E_TARGET.goal`` of kinesalite's put rate through the pipeline;
    at that rate the cores hold so many CPU seconds per million records, and what the stream leaves of
    them is the three jobs' budget. A budget at or below zero means that no pipeline could meet the target
    on this machine: the stream alone takes the cores.
    """
    cores = _get(figures, "machine", "cores")
    put_rps = _get(figures, "kinesis", "put", "rows_per_s")
    steps = [s for s in _get(figures, "live", "steps") or [] if s.get("stream_cost") and s.get("cost")]
    if not cores or not put_rps or not steps:
        return None
    step = max(steps, key=lambda s: s["rate"])
    parts: dict[str, float] = {}
    for part in (*STREAM_PARTS, *LAYERS):
        value = (step["stream_cost"].get(part) or step["cost"].get(part) or {}).get("cpu_s_per_million")
        if value is None:
            return None
        parts[part] = float(value)
    stream = sum(parts[part] for part in STREAM_PARTS)
    jobs = sum(parts[layer] for layer in LAYERS)
    target_rps = E2E_TARGET.goal * put_rps
    at_target = cores * MILLION / target_rps
    return {
        "step_rate": step["rate"],
        "cpu_s_per_million": parts,
        "ceiling_rps": round(cores * MILLION / (stream + jobs), 1),
        "ceiling_ratio_to_kinesis": round(cores * MILLION / (stream + jobs) / put_rps, 4),
        "stream_only_ceiling_rps": round(cores * MILLION / stream, 1) if stream else None,
        "target_rps": round(target_rps, 1),
        "cpu_s_per_million_at_target": round(at_target, 1),
        "jobs_budget_cpu_s_per_million": round(at_target - stream, 1),
        "jobs_cpu_s_per_million": round(jobs, 1),
    }


def _budget_words(budget: dict[str, Any] | None) -> str | None:
    if budget is None:
        return None
    parts = ", ".join(f"{part} {value:.0f}" for part, value in budget["cpu_s_per_million"].items())
    verdict = (
        f"the jobs may spend {budget['jobs_budget_cpu_s_per_million']:.0f} and spend "
        f"{budget['jobs_cpu_s_per_million']:.0f}"
        if budget["jobs_budget_cpu_s_per_million"] > 0
        else "the stream alone needs more than the cores: no pipeline meets it here"
    )
    return (
        f"CPU budget at {budget['step_rate']:.0f} records/s, CPU s per million records: {parts}; at those costs "
        f"the cores carry at most {budget['ceiling_rps']:,.0f} records/s ({budget['ceiling_ratio_to_kinesis']:.2f} "
        "of kinesalite's puts); "
        f"at the target's {budget['target_rps']:,.0f} records/s they hold {budget['cpu_s_per_million_at_target']:.0f} "
        f"CPU s per million, of which {verdict}"
    )


def bottleneck(key: str, figures: dict[str, Any]) -> str | None:
    """Which stage a missed target waits on, from the run's own figures."""
    if key in ("silver_drain_rps", "gold_drain_rps"):
        return _phases(figures, key.split("_")[0])
    if key == "bronze_drain_ratio":
        return _phases(figures, "bronze")
    if key == "e2e_ratio_to_kinesis":
        parts = (_live_bottleneck(figures), _budget_words(cpu_budget(figures)))
        return "; ".join(part for part in parts if part) or None
    if key == "freshness_p95_s_at_5k":
        parts = (_freshness_words(figures, "5000"), _live_bottleneck(figures, rate=5000.0))
        return "; ".join(part for part in parts if part) or None
    if key == "pipeline_to_duckdb_ratio":
        silver, gold = _phases(figures, "silver"), _phases(figures, "gold")
        return "; ".join(part for part in (silver, gold) if part) or None
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _command_version(args: list[str]) -> str | None:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0] if text else None


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        return None
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine_facts() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and load: facts about the machine, never its paths or names."""
    return {
        "cores": os.cpu_count(),
        "memory_gib": _meminfo_gib(),
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, Any]:
    """Versions of everything a figure depends on."""
    from pipelines.spark import ICEBERG_RUNTIME, SQLITE_JDBC

    kinesalite = PROJECT_ROOT / "node_modules" / "kinesalite" / "package.json"
    return {
        "telcopulse": _version("telcopulse"),
        "python": platform.python_version(),
        "pyspark": _version("pyspark"),
        "iceberg_spark_runtime": ICEBERG_RUNTIME.rsplit(":", 1)[-1],
        "sqlite_jdbc": SQLITE_JDBC.rsplit(":", 1)[-1],
        "pyiceberg": _version("pyiceberg"),
        "duckdb": _version("duckdb"),
        "pyarrow": _version("pyarrow"),
        "pandas": _version("pandas"),
        "great_expectations": _version("great-expectations"),
        "boto3": _version("boto3"),
        "java": _command_version(["java", "-version"]),
        "node": _command_version(["node", "--version"]),
        "kinesalite": json.loads(kinesalite.read_text())["version"] if kinesalite.exists() else None,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    """The report as indented JSON (sorted keys inside, stable for diffs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
