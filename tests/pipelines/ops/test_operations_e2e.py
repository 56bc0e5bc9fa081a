"""status, rebuild and maintain on a local stack with the jobs in their own processes (slow: `make test-faults`)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.ops.status import lock_holder
from pipelines.settings import Settings
from tests.conftest import SAMPLE_CSV, local_stack, run_cli
from tests.faults.harness import JobProcess, wait_until
from tests.helpers import read_table
from tests.pipelines.gold.test_job import (
    gold_operator_totals,
    gold_status_totals,
    silver_operator_totals,
    silver_status_totals,
)

# Minutes of real processes: far beyond the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SILVER = "telcopulse_silver.network_events"
BRONZE = "telcopulse_bronze.network_events"
KPIS_BY_OPERATOR = (
    "SELECT operator, sum(signal_sum) AS s, sum(signal_count) AS n, sum(precision_sum) AS p "
    "FROM telcopulse_gold.operator_kpis GROUP BY operator ORDER BY operator"
)


def _produce(settings: Settings, day: str) -> None:
    run_cli(settings, "produce", "--csv", str(SAMPLE_CSV), "--date", day)


def _assert_exactly_once(settings: Settings, readings: int) -> None:
    silver = read_table(settings, SILVER)
    assert silver.num_rows == readings and len(set(silver.column("event_id").to_pylist())) == readings
    assert gold_operator_totals(settings) == silver_operator_totals(settings)
    assert gold_status_totals(settings) == silver_status_totals(settings)


def _processed_times(settings: Settings) -> dict[str, datetime]:
    silver = read_table(settings, SILVER)
    return dict(zip(silver.column("event_id").to_pylist(), silver.column("processed_time").to_pylist(), strict=True))


def _sql(settings: Settings, query: str) -> Any:
    return json.loads(run_cli(settings, "sql", query, "--format", "json").stdout)


def test_rebuild_and_maintain_keep_every_reading_once_and_the_jobs_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No allowance for clocks ahead: `rebuild --from T` then starts exactly at T, between the two arrivals.
    monkeypatch.setenv("TELCOPULSE_MAX_FUTURE_MINUTES", "0")
    with local_stack(tmp_path / "home", max_future_minutes=0) as settings:
        _produce(settings, "2026-11-20")
        run_cli(settings, "run", "bronze", "--until-idle", "2")
        second_arrivals_from = datetime.now(UTC)
        time.sleep(1)
        _produce(settings, "2026-11-21")
        run_cli(settings, "run", "all", "--until-idle", "3")

        stopped = run_cli(settings, "status", "--json", check=False)
        assert stopped.returncode == 1
        report = json.loads(stopped.stdout)
        assert [layer["lag_records"] for layer in report["layers"]] == [0, 0, 0]
        assert all(layer["problems"] == [f"{layer['layer']} is not running"] for layer in report["layers"])

        silver_job = JobProcess(settings, "silver")
        silver_job.start()
        try:
            assert wait_until(lambda: lock_holder(settings.run_dir, "silver") == silver_job.pid, timeout=120, every=0.2)
            refused = run_cli(settings, "rebuild", "gold", check=False, timeout=600)
        finally:
            silver_job.stop()
        assert refused.returncode == 2 and "silver is already running" in refused.stderr

        first_processed = _processed_times(settings)
        rebuilt = json.loads(
            run_cli(
                settings, "rebuild", "silver", "--from", second_arrivals_from.isoformat(), "--json", timeout=900
            ).stdout
        )
        assert rebuilt["deleted_rows"] == {SILVER: 1000, "telcopulse_silver.quarantine": 0}
        assert rebuilt["rows_recomputed"] == 1000
        assert rebuilt["gold"]["since"].startswith("2026-11-21")  # the second day's windows, not the first's
        _assert_exactly_once(settings, 2000)
        again = _processed_times(settings)
        kept = Counter(again[e] == first_processed[e] for e in again)
        assert kept == {True: 1000, False: 1000}  # the first day untouched, the second recomputed

        before = _sql(settings, KPIS_BY_OPERATOR)
        maintained = [
            json.loads(line)
            for line in run_cli(settings, "maintain", "--retain-hours", "0", "--json", timeout=900).stdout.splitlines()
        ]
        tags = {m["table"]: m["tags"] for m in maintained}
        additive = ("operator_kpis", "postal_status_counts", "postal_window_health")
        assert len(tags) == 8 and all(tags[f"telcopulse_gold.{name}"] for name in additive)
        assert not tags["telcopulse_gold.postal_outages"]  # no outage in the sample: gold never MERGEd outages
        assert _sql(settings, KPIS_BY_OPERATOR) == before

        whole = json.loads(run_cli(settings, "rebuild", "silver", "--json", timeout=900).stdout)
        assert whole["rows_recomputed"] == 2000 and json.loads(whole["started_from"])["scan_all_files"]
        assert _sql(settings, KPIS_BY_OPERATOR) == before
        _assert_exactly_once(settings, 2000)

        _produce(settings, "2026-11-19")
        run_cli(settings, "run", "all", "--until-idle", "3")
        _assert_exactly_once(settings, 3000)
        assert read_table(settings, BRONZE).num_rows == 3000
        resumed = json.loads(run_cli(settings, "status", "--json", check=False).stdout)
        assert [layer["lag_records"] for layer in resumed["layers"]] == [0, 0, 0]
