"""The report's figure: throughput against offered rate, freshness, and where each stage's time goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.bench.report import LAYERS, STREAM_PARTS

COLOURS = {
    "bronze": "#b87333",
    "silver": "#8a8d91",
    "gold": "#d4a017",
    "kinesis": "#4a78b5",
    "kinesalite": "#4a78b5",
    "producers": "#9ec1e8",
}


def _throughput(ax: Any, report: dict[str, Any]) -> None:
    steps = (report.get("live") or {}).get("steps") or []
    rates = [s["rate"] for s in steps]
    ax.plot(rates, [s["achieved_rps"] for s in steps], "o-", color=COLOURS["kinesis"], label="producers achieved")
    ax.plot(rates, [s["gold_rps"] for s in steps], "s-", color=COLOURS["gold"], label="through gold")
    for step in steps:
        if not step["kept_up"]:
            ax.annotate(
                "fell behind",
                (step["rate"], step["gold_rps"]),
                textcoords="offset points",
                xytext=(0, -14),
                ha="center",
                fontsize=7,
                color="red",
            )
    if rates:
        ax.plot([0, max(rates)], [0, max(rates)], ":", color="grey", label="offered")
    put = (report.get("kinesis") or {}).get("put", {}).get("rows_per_s")
    if put:
        ax.axhline(put, color=COLOURS["kinesis"], linestyle="--", linewidth=1, label=f"kinesalite puts {put:,.0f}/s")
    for layer in LAYERS:
        rate = (report.get("drain") or {}).get(layer, {}).get("rows_per_s")
        if rate:
            ax.axhline(rate, color=COLOURS[layer], linestyle="-.", linewidth=1, label=f"{layer} drain {rate:,.0f}/s")
    ax.set_xlabel("offered rate (records/s)")
    ax.set_ylabel("records/s")
    ax.set_title("Throughput vs offered rate")
    ax.legend(fontsize=7)


def _freshness(ax: Any, report: dict[str, Any]) -> None:
    freshness = (report.get("live") or {}).get("freshness") or {}
    styles = {"silver": "--", "gold": "-"}
    plotted = False
    for rate, figures in sorted(freshness.items(), key=lambda item: float(item[0])):
        for layer in ("silver", "gold"):
            samples = sorted(figures.get(layer, {}).get("samples") or [])
            if not samples:
                continue
            share = [(i + 1) / len(samples) for i in range(len(samples))]
            ax.step(samples, share, styles[layer], where="post", label=f"{layer} at {float(rate):,.0f}/s")
            plotted = True
    ax.axvline(10.0, color="red", linewidth=1, linestyle=":", label="target p95 10 s")
    ax.axhline(0.95, color="grey", linewidth=0.5)
    ax.set_xlabel("put -> visible through DuckDB (s)")
    ax.set_ylabel("share of probes")
    ax.set_title("Freshness (CDF)")
    if plotted:
        ax.legend(fontsize=7)


def _breakdown(ax: Any, report: dict[str, Any]) -> None:
    drain = report.get("drain") or {}
    kinesis = report.get("kinesis") or {}
    names, startup, work, between = [], [], [], []
    for label, figures in (("kinesis put", kinesis.get("put")), ("bare read", kinesis.get("bare_read"))):
        if figures:
            names.append(label)
            startup.append(0.0)
            work.append(float(figures["seconds"]))
            between.append(0.0)
    for layer in LAYERS:
        figures = drain.get(layer)
        if figures:
            names.append(f"{layer} drain")
            startup.append(float(figures["startup_s"]))
            work.append(float(figures["busy_s"]))
            between.append(max(0.0, float(figures["span_s"]) - float(figures["busy_s"])))
    positions = range(len(names))
    ax.barh(positions, startup, color="#cccccc", label="JVM start + catalog")
    ax.barh(positions, work, left=startup, color="#4a78b5", label="micro-batches")
    ax.barh(
        positions,
        between,
        left=[s + w for s, w in zip(startup, work, strict=True)],
        color="#e8a33d",
        label="between batches",
    )
    records = drain.get("bronze", {}).get("rows")
    for index, layer in enumerate(names):
        figures = drain.get(layer.split()[0]) if layer.endswith("drain") else None
        if figures:
            ax.text(
                startup[index] + work[index] + between[index],
                index,
                f" {figures['rows_per_s']:,.0f}/s, {figures['cpu_s_per_million']:,.0f} CPU s/M",
                va="center",
                fontsize=7,
            )
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds" + (f" for {records:,} records" if records else ""))
    ax.set_title("Per-stage time (preloaded backlog)")
    ax.legend(fontsize=7, loc="lower right")


def _cores(ax: Any, report: dict[str, Any]) -> None:
    steps = (report.get("live") or {}).get("steps") or []
    labels = [f"{s['rate']:,.0f}" for s in steps]
    bottom = [0.0] * len(steps)
    for part in (*LAYERS, *STREAM_PARTS):
        values = [float(((s.get("cost") or {}) | (s.get("stream_cost") or {})).get(part, {}).get("cores") or 0.0)
                  for s in steps]  # fmt: skip
        if any(values):
            ax.bar(labels, values, bottom=bottom, color=COLOURS[part], label=part)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    cores = (report.get("machine") or {}).get("cores")
    if cores:
        ax.axhline(cores, color="red", linestyle=":", linewidth=1, label=f"{cores} cores")
    ax.set_ylim(0, max([float(cores or 0), *bottom, 1.0]) * 1.3)  # room for the legend above the bars
    ax.set_xlabel("offered rate (records/s)")
    ax.set_ylabel("CPU cores used")
    ax.set_title("Where the CPU goes, per step")
    ax.legend(fontsize=7, ncol=4, loc="upper left")


def write_png(path: Path, report: dict[str, Any]) -> None:
    """Four panels: throughput vs rate, freshness CDF, per-stage time, CPU per job per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(14, 9))
    _throughput(axes[0][0], report)
    _freshness(axes[0][1], report)
    _breakdown(axes[1][0], report)
    _cores(axes[1][1], report)
    figure.suptitle(f"TelcoPulse bench {report.get('date', '')} ({report.get('mode', '')})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
