"""Gold end to end: totals equal independent recomputations; outages; kill -9 never double-counts."""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from catalog.reference import canonical_operator_names
from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.faults import ENV as CRASH_ENV
from pipelines.producer.simulate import FleetModel, simulate
from pipelines.settings import Settings, TableFormat
from pipelines.silver.transform import canonical_operators
from tests.conftest import SAMPLE_CSV, delta_too_in_slow_suite, local_stack, run_cli
from tests.helpers import read_table

SILVER = "telcopulse_silver.network_events"
KPIS = "telcopulse_gold.operator_kpis"
STATUS = "telcopulse_gold.postal_status_counts"
OUTAGES = "telcopulse_gold.postal_outages"
Totals = dict[str, tuple[Any, ...]]


def gold_operator_totals(settings: Settings) -> Totals:
    return _group(
        read_table(settings, KPIS),
        "operator",
        ("signal_sum", "signal_count", "precision_sum", "precision_count"),
    )


def gold_status_totals(settings: Settings) -> Totals:
    rows = (
        duckdb.arrow(read_table(settings, STATUS))
        .query("counts", "SELECT postal_code || '/' || status AS k, sum(event_count) FROM counts GROUP BY 1")
        .fetchall()
    )
    return {k: (int(n),) for k, n in rows}


def _group(rows: pa.Table, key: str, columns: tuple[str, ...]) -> Totals:
    sums = ", ".join(f"sum({c})" for c in columns)
    result = duckdb.arrow(rows).query("rows", f"SELECT {key}, {sums} FROM rows GROUP BY 1").fetchall()
    return {row[0]: tuple(row[1:]) for row in result}


def silver_operator_totals(settings: Settings) -> Totals:
    rows = (
        duckdb.arrow(read_table(settings, SILVER))
        .query(
            "silver",
            "SELECT coalesce(operator, 'unknown'), sum(signal), count(signal), "
            "coalesce(sum(CAST(gps_precision_m AS DECIMAL(38,6))), 0), count(gps_precision_m) FROM silver GROUP BY 1",
        )
        .fetchall()
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def silver_status_totals(settings: Settings) -> Totals:
    rows = (
        duckdb.arrow(read_table(settings, SILVER))
        .query(
            "silver",
            "SELECT coalesce(postal_code, 'unknown') || '/' || status, count(*) FROM silver GROUP BY 1",
        )
        .fetchall()
    )
    return {k: (int(n),) for k, n in rows}


def csv_totals(path: Path) -> tuple[Totals, Totals]:
    """Per operator and per postal code/status straight from the CSV, with plain Python."""
    canonical = canonical_operators(canonical_operator_names())
    operators: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0), 0])
    statuses: dict[str, int] = defaultdict(int)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = re.sub(r"\s+", " ", row["operator"].strip())
            operator = canonical.get(name.lower(), name) or "unknown"
            totals = operators[operator]
            totals[0] += int(row["signal"])
            totals[1] += 1
            totals[2] += Decimal(row["precission"])
            totals[3] += 1
            postal = re.sub(r"^(\d+)\.0+$", r"\1", row["postal_code"].strip()) or "unknown"
            statuses[f"{postal}/{int(row['status'])}"] += 1
    return {k: tuple(v) for k, v in operators.items()}, {k: (n,) for k, n in statuses.items()}


def test_sample_gold_totals_equal_silver_and_the_csv(replayed: Settings) -> None:
    by_operator, by_status = csv_totals(SAMPLE_CSV)

    assert gold_operator_totals(replayed) == silver_operator_totals(replayed) == by_operator
    assert gold_status_totals(replayed) == silver_status_totals(replayed) == by_status
    kpis = read_table(replayed, KPIS).to_pylist()
    assert all(r["avg_signal"] == r["signal_sum"] / r["signal_count"] for r in kpis)
    assert read_table(replayed, OUTAGES).num_rows == 0  # the sample is always in service


@delta_too_in_slow_suite()
def test_late_out_of_order_and_duplicate_events_count_once_in_their_window(
    tmp_path: Path, table_format: TableFormat
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    model = FleetModel.learn(SAMPLE_CSV)
    on_time = list(
        simulate(model, rate=20, duration_s=120, devices=30, seed=7, start=now - timedelta(minutes=2))
    )
    late = list(simulate(model, rate=10, duration_s=120, devices=30, seed=8, start=now - timedelta(hours=3)))
    random.Random(1).shuffle(on_time)
    with local_stack(tmp_path / "home", window_seconds=10, table_format=table_format) as local:
        sink = BotoKinesisSink(kinesis_client(local), local.stream_name)
        sink.put([(r.partition_key, r.data) for r in on_time[:1500]])
        run_cli(local, "run", "all", "--until-idle", "3")
        # the rest, hours-late readings for windows gold already closed, and retries of sent ones
        retries = random.Random(2).sample(on_time[:1500], 300)
        sink.put([(r.partition_key, r.data) for r in on_time[1500:] + late + retries])
        run_cli(local, "run", "all", "--until-idle", "3")

        silver = read_table(local, SILVER)
        assert silver.num_rows == len(on_time) + len(late)
        assert gold_operator_totals(local) == silver_operator_totals(local)
        assert gold_status_totals(local) == silver_status_totals(local)
        windows = {r["window_start"] for r in read_table(local, KPIS).to_pylist()}
        assert min(windows) <= now - timedelta(hours=3) + timedelta(seconds=10)


def test_injected_outage_opens_and_closes_exactly_there(tmp_path: Path) -> None:
    code = next(p for p in FleetModel.learn(SAMPLE_CSV).postal_places)[0]
    with local_stack(tmp_path / "home", window_seconds=10) as local:
        run_cli(
            local,
            "produce",
            "--simulate",
            "--rate",
            "100",
            "--duration",
            "150",
            "--devices",
            "20",
            "--outage",
            f"{code}:40:50",
            "--no-realtime",
        )
        run_cli(local, "run", "all", "--until-idle", "3")

        start = min(read_table(local, SILVER).column("event_time").to_pylist())
        outages = read_table(local, OUTAGES).to_pylist()
        assert [o["postal_code"] for o in outages] == [code]
        outage = outages[0]
        assert start + timedelta(seconds=30) <= outage["outage_start"] <= start + timedelta(seconds=50)
        assert outage["outage_end"] is not None
        assert start + timedelta(seconds=80) <= outage["outage_end"] <= start + timedelta(seconds=100)
        residents = {r["device_id"] for r in read_table(local, SILVER).to_pylist() if r["postal_code"] == code}
        assert 5 <= outage["devices_affected"] <= len(residents)
        assert outage["worst_bad_share"] >= 0.5


@delta_too_in_slow_suite()
def test_kill_9_of_gold_mid_batch_never_double_counts(tmp_path: Path, table_format: TableFormat) -> None:
    with local_stack(tmp_path / "home", table_format=table_format) as local:
        run_cli(local, "produce", "--csv", str(SAMPLE_CSV), "--date", "2026-11-22")
        run_cli(local, "run", "bronze", "--until-idle", "2")
        run_cli(local, "run", "silver", "--until-idle", "3")
        crashed = run_cli(
            local, "run", "gold", "--until-idle", "3", check=False, env={CRASH_ENV: "gold.after-health:0"}
        )
        assert crashed.returncode == -9

        run_cli(local, "run", "gold", "--until-idle", "3")

        by_operator, by_status = csv_totals(SAMPLE_CSV)
        assert gold_operator_totals(local) == by_operator
        assert gold_status_totals(local) == by_status
