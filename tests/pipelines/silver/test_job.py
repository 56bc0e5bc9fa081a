"""Silver end to end: real kinesalite, bronze and silver jobs in their own processes, a real catalog."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from pipelines import ledger
from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.faults import ENV as CRASH_ENV
from pipelines.producer.hostile import HOSTILE
from pipelines.settings import Settings, TableFormat
from tests.conftest import SAMPLE_CSV, local_stack, run_cli
from tests.helpers import read_table, snapshot_summaries

SILVER = "telcopulse_silver.network_events"
QUARANTINE = "telcopulse_silver.quarantine"
DQ = "telcopulse_silver.dq_results"
BRONZE = "telcopulse_bronze.network_events"


def test_sample_rows_are_all_in_silver_once(replayed: Settings) -> None:
    silver = read_table(replayed, SILVER)

    assert silver.num_rows == 1000
    assert len(set(silver.column("event_id").to_pylist())) == 1000
    operators = Counter(silver.column("operator").to_pylist())
    assert operators["Movistar"] == 239 + 32 and operators["Yoigo"] == 59 + 13
    assert "movistar" not in operators and "YOIGO" not in operators
    assert Counter(silver.column("operator_raw").to_pylist())["movistar"] == 32


def test_each_hostile_record_is_quarantined_with_its_reason(replayed: Settings) -> None:
    quarantine = read_table(replayed, QUARANTINE)
    by_data = {row["data"]: row["reasons"] for row in quarantine.to_pylist()}

    assert quarantine.num_rows == len(HOSTILE)
    for name, raw, reason in HOSTILE:
        assert reason in by_data[raw], f"{name}: {by_data[raw]}"


def test_every_job_logs_each_batch_with_its_metrics(replayed: Settings) -> None:
    """One JSON line per micro-batch and job: records in/out/quarantined, duration, lag and phase times."""
    logged: dict[str, list[dict[str, object]]] = {}
    for job in ("bronze", "silver", "gold"):
        lines = (replayed.logs_dir / f"{job}.jsonl").read_text().splitlines()
        logged[job] = [entry for line in lines if (entry := json.loads(line)).get("event") == "batch"]

    for job, batches in logged.items():
        assert batches, job
        for batch in batches:
            assert {"rows_in", "rows_out", "rows_quarantined", "duration_s", "lag_s", "phases"} <= set(batch), batch
            assert batch["lag_s"] is not None and float(batch["lag_s"]) >= 0  # type: ignore[arg-type]
    bronze_in = sum(int(b["rows_in"]) for b in logged["bronze"])  # type: ignore[call-overload]
    silver_in = sum(int(b["rows_in"]) for b in logged["silver"])  # type: ignore[call-overload]
    assert silver_in == bronze_in == 2 * 1000 + len(HOSTILE)
    assert sum(int(b["rows_quarantined"]) for b in logged["silver"]) == len(HOSTILE)  # type: ignore[call-overload]


def test_gx_audits_silver_batches_beside_the_stream_and_agrees_with_the_rules(replayed: Settings) -> None:
    """The fixture's silver audits a batch whenever the last audit is done; every audit agrees with the rules."""
    messages = [json.loads(line)["message"] for line in (replayed.logs_dir / "silver.jsonl").read_text().splitlines()]

    assert any("agrees with the rules" in m for m in messages)
    assert not [m for m in messages if "disagree" in m or "audit of silver batch" in m and "failed" in m]
    assert (replayed.data_docs_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()


def test_every_bronze_record_is_accounted_for_exactly_once(replayed: Settings) -> None:
    bronze, silver = read_table(replayed, BRONZE), read_table(replayed, SILVER)
    quarantine, dq = read_table(replayed, QUARANTINE), read_table(replayed, DQ)
    totals = {
        name: pc.sum(dq.column(name)).as_py()
        for name in ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicate")
    }

    assert bronze.num_rows == 2000 + len(HOSTILE) == totals["rows_in"]
    assert totals["rows_in"] == totals["rows_valid"] + totals["rows_quarantined"]
    assert totals["rows_valid"] == silver.num_rows + totals["rows_duplicate"]
    assert totals["rows_duplicate"] == 1000 and totals["rows_quarantined"] == quarantine.num_rows
    pointers = set(
        zip(bronze.column("shard_id").to_pylist(), bronze.column("sequence_number").to_pylist(), strict=True)
    )
    landed = [
        (r["shard_id"], r["sequence_number"])
        for t in (silver, quarantine)
        for r in t.select(["shard_id", "sequence_number"]).to_pylist()
    ]
    assert len(landed) == len(set(landed)) and set(landed) <= pointers


@pytest.mark.parametrize(
    ("table_format", "point"),
    [
        (TableFormat.ICEBERG, "silver.after-silver:0"),
        (TableFormat.ICEBERG, "silver.after-quarantine:0"),
        pytest.param(TableFormat.DELTA, "silver.after-silver:0", marks=pytest.mark.slow),
    ],
)
def test_kill_9_mid_batch_then_restart_equals_a_clean_run(
    tmp_path: Path, table_format: TableFormat, point: str
) -> None:
    with local_stack(tmp_path / "home", table_format=table_format) as local:
        run_cli(local, "produce", "--csv", str(SAMPLE_CSV), "--date", "2026-11-22")
        BotoKinesisSink(kinesis_client(local), local.stream_name).put([("h", HOSTILE[0][1])])
        run_cli(local, "run", "bronze", "--until-idle", "2")
        crashed = run_cli(local, "run", "silver", "--until-idle", "4", check=False, env={CRASH_ENV: point})
        assert crashed.returncode == -9

        run_cli(local, "run", "silver", "--until-idle", "4")

        silver, quarantine, dq = (read_table(local, t) for t in (SILVER, QUARANTINE, DQ))
        assert silver.num_rows == 1000 and len(set(silver.column("event_id").to_pylist())) == 1000
        assert quarantine.num_rows == 1
        assert dq.num_rows == 1 and dq.column("rows_in").to_pylist() == [1001]


def test_quarantine_commits_exactly_the_batches_with_rejected_rows(replayed: Settings) -> None:
    lines = (replayed.logs_dir / "silver.jsonl").read_text().splitlines()
    batches = [entry for line in lines if (entry := json.loads(line)).get("event") == "batch"]
    rejecting = {int(b["batch_id"]) for b in batches if b["rows_quarantined"]}
    stamped = [s for s in snapshot_summaries(replayed, QUARANTINE) if s.get(ledger.WRITER) == "silver"]

    assert rejecting and {int(s[ledger.BATCH_ID]) for s in stamped} == rejecting
    assert len(stamped) == len(rejecting)
