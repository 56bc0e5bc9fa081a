from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.bench.charts import write_png
from pipelines.bench.live import percentiles
from pipelines.bench.report import TARGETS, cpu_budget, judge

REQUIRED = {
    "silver_drain_rps",
    "gold_drain_rps",
    "bronze_drain_ratio",
    "e2e_ratio_to_kinesis",
    "freshness_p95_s_at_5k",
    "pipeline_to_duckdb_ratio",
    "dashboard_query_p95_ms",
}


def _figures() -> dict[str, Any]:
    step = {
        "rate": 5000.0,
        "achieved_rps": 5000.0,
        "gold_rps": 4000.0,
        "kept_up": True,
        "cost": {layer: {"cores": 0.5} for layer in ("bronze", "silver", "gold")},
    }
    drain = {"rows": 1000, "rows_per_s": 25000.0, "startup_s": 5.0, "busy_s": 1.0, "span_s": 1.5,
             "cpu_s_per_million": 80.0}  # fmt: skip
    return {
        "date": "2026-11-23",
        "mode": "test",
        "machine": {"cores": 2},
        "kinesis": {
            "put": {"rows_per_s": 10000.0, "seconds": 1.0},
            "bare_read": {"rows_per_s": 20000.0, "seconds": 1.0},
        },
        "drain": {"bronze": drain | {"rows_per_s": 19000.0}, "silver": drain, "gold": drain | {"rows_per_s": 10000.0}},
        "pipeline": {"rows_per_s": 8000.0},
        "duckdb_one_pass": {"rows_per_s": 100000.0},
        "live": {
            "sustained_rps": 5000.0,
            "steps": [step],
            "freshness": {"5000": {"gold": {"p95": 12.0, "samples": [1.0, 12.0]}, "silver": {"samples": [0.5]}}},
        },
        "dashboard": {"worst_p95_ms": 120.0},
    }


def test_judge_gives_every_target_its_value_unit_goal_and_verdict() -> None:
    targets, misses = judge(_figures())

    assert set(targets) == REQUIRED == {t.key for t in TARGETS}
    assert all(set(target) == {"value", "unit", "target", "met"} for target in targets.values())
    assert targets["bronze_drain_ratio"] == {
        "value": 0.95,
        "unit": "fraction of a bare reader",
        "target": 0.9,
        "met": True,
    }
    assert targets["gold_drain_rps"]["met"] is False
    assert targets["freshness_p95_s_at_5k"]["met"] is False
    assert targets["e2e_ratio_to_kinesis"]["value"] == 0.5
    assert len(misses) == 4 and any("gold drain" in miss and "x2.0" in miss for miss in misses)


def test_a_missed_target_names_where_the_time_goes() -> None:
    figures = _figures()
    figures["drain"]["gold"] |= {
        "batches": 2,
        "first_batch_s": 1.0,
        "phases_s": {"stats": 0.2, "merge_operator_kpis": 0.9, "merge_postal_outages": 0.4},
        "cpu_s_drain_by_thread": {"jit": 3.0, "spark_tasks": 1.0, "other": 1.0, "gc": 0.0},
    }
    figures["live"]["steps"][0]["batches"] = {
        "bronze": {"mean_s": 1.0, "mean_rows": 500.0},
        "silver": {"mean_s": 9.0, "mean_rows": 5000.0},
        "gold": {"mean_s": 6.0, "mean_rows": 5000.0},
    }
    for layer, cost in figures["live"]["steps"][0]["cost"].items():
        cost["cpu_s_by_thread"] = {"jit": 2.0, "other": 1.0 if layer == "gold" else 0.0}

    _, misses = judge(figures)

    gold = next(m for m in misses if m.startswith("gold drain"))
    assert "merge_operator_kpis 0.9 s, merge_postal_outages 0.4 s, stats 0.2 s" in gold
    assert "CPU: jit 60%, spark_tasks 20%, other 20%, gc 0%" in gold
    freshness = next(m for m in misses if m.startswith("gold freshness"))
    assert "bottleneck silver" in freshness and "9.0 s per batch of 5000 rows" in freshness
    assert "CPU: jit 86%, other 14%" in freshness


def test_a_missed_freshness_says_what_each_layer_and_the_probe_query_added_at_5000_per_s() -> None:
    figures = _figures()
    faster = dict(figures["live"]["steps"][0], rate=10000.0, batches={"gold": {"mean_s": 30.0, "mean_rows": 1.0}})
    figures["live"]["steps"][0]["batches"] = {"silver": {"mean_s": 6.0, "mean_rows": 30000.0}}
    figures["live"]["steps"].append(faster)
    figures["live"]["freshness"]["5000"] = {
        "silver": {"p50": 14.0, "p95": 19.0},
        "gold": {"p50": 19.5, "p95": 24.5},
        "poll_query_ms": {"silver": {"p50": 1900.0}, "gold": {"p50": 1600.0}},
    }

    _, misses = judge(figures)

    freshness = next(m for m in misses if m.startswith("gold freshness"))
    assert "to silver p50 14.0 s, p95 19.0 s; to gold p50 19.5 s, p95 24.5 s (gold adds 5.5 s at p50)" in freshness
    assert "query took p50 1.9 s on silver and 1.6 s on gold" in freshness
    assert "at 5000 records/s silver 6.0 s per batch of 30000 rows" in freshness  # the 5,000/s step's, not 10,000's


def test_judge_marks_a_stage_that_did_not_run_as_missed() -> None:
    targets, misses = judge({})

    assert all(target["value"] is None and target["met"] is False for target in targets.values())
    assert len(misses) == len(REQUIRED)


def test_percentiles_use_nearest_rank() -> None:
    result = percentiles([float(v) for v in range(1, 101)])

    assert (result["p50"], result["p95"], result["p99"], result["count"]) == (50.0, 95.0, 99.0, 100)
    assert percentiles([])["p95"] is None


def test_write_png_draws_a_report(tmp_path: Path) -> None:
    path = tmp_path / "report.png"

    write_png(path, _budgeted(_figures(), kinesalite=60.0, producers=40.0))

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _budgeted(figures: dict[str, Any], *, kinesalite: float, producers: float) -> dict[str, Any]:
    """``figures`` whose live steps say what the stream and each job cost per million records."""
    for step in figures["live"]["steps"]:
        step["stream_cost"] = {
            "kinesalite": {"cpu_s_per_million": kinesalite},
            "producers": {"cpu_s_per_million": producers},
        }
        for layer, per_million in (("bronze", 20.0), ("silver", 60.0), ("gold", 20.0)):
            step["cost"][layer]["cpu_s_per_million"] = per_million
    return figures


def test_cpu_budget_divides_the_cores_by_the_cpu_each_record_costs() -> None:
    figures = _budgeted(_figures(), kinesalite=60.0, producers=40.0)
    slower = dict(figures["live"]["steps"][0], rate=1000.0, stream_cost={})  # not measured: not the one taken
    figures["live"]["steps"].append(slower)

    budget = cpu_budget(figures)

    assert budget is not None
    # 2 cores = 2,000,000 CPU s per million records/s; 200 CPU s per million -> 10,000 records/s at most.
    assert (budget["step_rate"], budget["ceiling_rps"], budget["ceiling_ratio_to_kinesis"]) == (5000.0, 10000.0, 1.0)
    assert budget["stream_only_ceiling_rps"] == 20000.0
    # The target: 0.9 of 10,000 puts/s; at 9,000 records/s the cores hold 222.2 CPU s per million.
    assert (budget["target_rps"], budget["cpu_s_per_million_at_target"]) == (9000.0, 222.2)
    assert (budget["jobs_budget_cpu_s_per_million"], budget["jobs_cpu_s_per_million"]) == (122.2, 100.0)


def test_a_missed_end_to_end_target_says_what_the_stream_leaves_the_jobs() -> None:
    figures = _budgeted(_figures(), kinesalite=150.0, producers=100.0)

    _, misses = judge(figures)

    e2e = next(m for m in misses if m.startswith("end-to-end"))
    assert "kinesalite 150, producers 100, bronze 20, silver 60, gold 20" in e2e
    assert "the stream alone needs more than the cores: no pipeline meets it here" in e2e


def test_no_cpu_budget_without_the_streams_cost() -> None:
    assert cpu_budget(_figures()) is None
    assert cpu_budget({}) is None
