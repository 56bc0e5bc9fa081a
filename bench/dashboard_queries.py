"""Latency of the dashboard's queries on a week of gold: p50/p95 per query, range and filter.

The lake builder and the measurement live in ``pipelines.bench.dashboard`` (``telcopulse bench`` runs
them too); this script prints them as a table for one home, building the lake there once.

    .venv/bin/python bench/dashboard_queries.py --home build/bench-home [--repeat 30]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.bench.dashboard import dashboard_latency  # noqa: E402
from pipelines.settings import Settings  # noqa: E402


def main() -> None:
    """Print every panel query's p50/p95 per range and filter, and the worst p95 against the 300 ms target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("build/bench-home"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--commits-per-day", type=int, default=24)
    parser.add_argument("--silver-hours", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = dashboard_latency(
        Settings(home=args.home),
        days=args.days,
        commits_per_day=args.commits_per_day,
        silver_hours=args.silver_hours,
        repeat=args.repeat,
    )
    print("rows: " + ", ".join(f"{name} {count:,}" for name, count in result["rows"].items()))
    print(f"{'query':<20} {'range':>6} {'filter':>14} {'p50 ms':>8} {'p95 ms':>8}")
    for case in result["cases"]:
        p95 = f"{case['p95_ms']:8.1f}" if "p95_ms" in case else ""
        print(f"{case['query']:<20} {case['range']:>6} {case['filter']:>14} {case['p50_ms']:8.1f} {p95}")
    print(f"worst p95: {result['worst_p95_ms']:.1f} ms (target 300 ms)")


if __name__ == "__main__":
    main()
