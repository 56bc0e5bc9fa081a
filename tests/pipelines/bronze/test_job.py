"""Bronze against a real kinesalite and a real catalog, the job in its own process (as in production)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.faults import ENV as CRASH_ENV
from pipelines.settings import Settings, TableFormat
from tests.conftest import SAMPLE_CSV, run_cli
from tests.helpers import read_table, snapshot_summaries

BRONZE = "telcopulse_bronze.network_events"


def _put(settings: Settings, records: list[tuple[str, bytes]]) -> None:
    report = BotoKinesisSink(kinesis_client(settings), settings.stream_name).put(records)
    assert report.failed == 0 and report.sent == len(records)


def _run_bronze_crashing_at(settings: Settings, point: str) -> int:
    env = {
        **os.environ,
        "TELCOPULSE_HOME": str(settings.home),
        "TELCOPULSE_KINESIS_PORT": str(settings.kinesis_port),
        "TELCOPULSE_BRONZE_MAX_BATCH_RECORDS": "300",
        CRASH_ENV: point,
    }
    process = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "bronze", "--until-idle", "2"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    return process.returncode


def test_sample_replay_lands_every_row_once(kinesalite: Settings) -> None:
    produced = run_cli(kinesalite, "produce", "--csv", str(SAMPLE_CSV), "--json")
    assert '"sent": 1000' in produced.stdout

    run_cli(kinesalite, "run", "bronze", "--until-idle", "2")

    rows = read_table(kinesalite, BRONZE)
    assert rows.num_rows == 1000
    assert len(set(rows.column("sequence_number").to_pylist())) == 1000
    stamps = [s for s in snapshot_summaries(kinesalite, BRONZE) if s.get("telcopulse.writer") == "bronze"]
    assert stamps and all("telcopulse.positions" in s for s in stamps)


def test_odd_records_are_kept_byte_for_byte(kinesalite: Settings) -> None:
    not_utf8 = b"\xc3\x28\xff\xfe{broken"
    one_mib = os.urandom(1024 * 1024 - 16)  # data + partition key within Kinesis' 1 MiB record limit
    _put(kinesalite, [("k1", not_utf8), ("k2", one_mib), ("k3", b"{}")])

    run_cli(kinesalite, "run", "bronze", "--until-idle", "2")

    data = read_table(kinesalite, BRONZE).column("data").to_pylist()
    digests = sorted(hashlib.sha256(d).hexdigest() for d in data)
    assert digests == sorted(hashlib.sha256(d).hexdigest() for d in (not_utf8, one_mib, b"{}"))


@pytest.mark.parametrize(
    ("table_format", "point"),
    [
        (TableFormat.ICEBERG, "bronze.before-commit:1"),
        (TableFormat.ICEBERG, "bronze.after-commit:1"),
        (TableFormat.ICEBERG, "bronze.after-commit:0"),
        pytest.param(TableFormat.DELTA, "bronze.after-commit:1", marks=pytest.mark.slow),
    ],
)
def test_kill_9_at_any_point_keeps_every_record_exactly_once(
    kinesalite: Settings, table_format: TableFormat, point: str
) -> None:
    kinesalite = kinesalite.model_copy(update={"table_format": table_format})
    records = [(f"key-{i % 37}", f'{{"n": {i}}}'.encode()) for i in range(1500)]
    _put(kinesalite, records)

    assert _run_bronze_crashing_at(kinesalite, point) == -9
    run_cli(kinesalite, "run", "bronze", "--until-idle", "2")

    rows = read_table(kinesalite, BRONZE)
    assert sorted(rows.column("data").to_pylist()) == sorted(data for _, data in records)
    assert rows.num_rows == len(
        set(zip(rows.column("shard_id").to_pylist(), rows.column("sequence_number").to_pylist(), strict=True))
    )


def test_restart_of_kinesalite_loses_nothing(kinesalite: Settings) -> None:
    from pipelines.local import stack

    _put(kinesalite, [(f"k{i}", f"before-{i}".encode()) for i in range(200)])
    run_cli(kinesalite, "run", "bronze", "--until-idle", "1")
    stack.down(kinesalite)
    stack.up(kinesalite)  # same data directory: the stream and its records survive
    _put(kinesalite, [(f"k{i}", f"after-{i}".encode()) for i in range(200)])

    run_cli(kinesalite, "run", "bronze", "--until-idle", "2")

    data = read_table(kinesalite, BRONZE).column("data").to_pylist()
    assert sorted(data) == sorted(
        [f"before-{i}".encode() for i in range(200)] + [f"after-{i}".encode() for i in range(200)]
    )


def test_resharding_reads_closed_parents_and_new_children(kinesalite: Settings) -> None:
    client = kinesis_client(kinesalite)
    _put(kinesalite, [(f"k{i}", f"before-{i}".encode()) for i in range(300)])
    run_cli(kinesalite, "run", "bronze", "--until-idle", "1")
    shard = client.list_shards(StreamName=kinesalite.stream_name)["Shards"][0]
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    client.split_shard(
        StreamName=kinesalite.stream_name, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    _wait_active(client, kinesalite.stream_name)
    _put(kinesalite, [(f"k{i}", f"after-{i}".encode()) for i in range(300)])

    run_cli(kinesalite, "run", "bronze", "--until-idle", "2")

    rows = read_table(kinesalite, BRONZE)
    expected = [f"before-{i}".encode() for i in range(300)] + [f"after-{i}".encode() for i in range(300)]
    assert sorted(rows.column("data").to_pylist()) == sorted(expected)
    assert len(set(rows.column("shard_id").to_pylist())) >= 3  # a closed parent and its children


def _wait_active(client: object, stream: str) -> None:
    import time

    for _ in range(100):
        summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]  # type: ignore[attr-defined]
        if summary["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError("stream did not become ACTIVE after the split")
