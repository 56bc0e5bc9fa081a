"""`telcopulse status`: the health rule, the observations behind it, and the command's exit code."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipelines import ledger
from pipelines.adapters.iceberg_history import PyIcebergHistory, SparkHistory, TableHistory
from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.adapters.kinesis_backlog import BotoKinesisBacklog
from pipelines.local.locks import job_lock
from pipelines.ops.history import Backlog, History, StreamOffset
from pipelines.ops.status import LayerObservation, Thresholds, assess, check, lock_holder, render_text
from pipelines.settings import Settings
from tests.conftest import free_port, run_cli
from tests.pipelines.ops.test_checkpoints import write_checkpoint
from tests.pipelines.ops.test_history import HISTORY, T0, snap

NOW = T0 + timedelta(minutes=30)
LIMITS = Thresholds(max_lag_records=100, max_freshness_seconds=60, min_dq_pass_rate=0.9)


@pytest.mark.parametrize(
    ("observation", "problems"),
    [
        (LayerObservation("silver", running=True, backlog=Backlog(0), dq_pass_rate=1.0), []),
        (LayerObservation("gold", running=None, backlog=Backlog(0)), []),  # unknown (AWS) is not a problem
        (LayerObservation("gold", running=False, backlog=Backlog(0)), ["gold is not running"]),
        (
            LayerObservation("gold", running=True, backlog=Backlog(101, 1, NOW - timedelta(seconds=10))),
            ["lag 101 records > 100"],
        ),
        (
            LayerObservation("bronze", running=True, backlog=Backlog(5, 0, NOW - timedelta(seconds=61))),
            ["oldest waiting input is 61 s old > 60 s"],
        ),
        (
            LayerObservation("silver", running=True, backlog=Backlog(0, resumable=False)),
            ["silver cannot resume: its checkpointed snapshot is no longer in the table (rebuild the layer)"],
        ),
        (LayerObservation("silver", running=True, backlog=Backlog(0), dq_pass_rate=0.85), ["DQ pass rate 0.850 < 0.9"]),
        (
            LayerObservation("bronze", running=True, errors=("cannot read the stream: down",)),
            ["cannot read the stream: down"],
        ),
    ],
)
def test_assess_names_every_broken_rule(observation: LayerObservation, problems: list[str]) -> None:
    status = assess(observation, LIMITS, now=NOW)

    assert list(status.problems) == problems
    assert status.healthy is (not problems)


def test_assess_freshness_is_zero_when_nothing_waits() -> None:
    old_idle = LayerObservation("gold", running=True, last_commit_at=NOW - timedelta(days=3), backlog=Backlog(0))

    assert assess(old_idle, LIMITS, now=NOW).freshness_s == 0.0


class FakeLake:
    def __init__(self, histories: dict[str, History], dq: tuple[int, int]) -> None:
        self.histories, self.dq = histories, dq

    def history(self, identifier: str) -> History:
        return self.histories.get(identifier, History((), None))

    def dq_counts(self, identifier: str, since: datetime) -> tuple[int, int]:
        return self.dq


class FakeStream:
    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    def backlog(self, positions: dict[str, str], *, cap: int) -> Backlog:
        self.asked.append(dict(positions))
        return Backlog(3, 0, NOW - timedelta(seconds=2))


def test_observe_reads_stamps_checkpoints_stream_and_dq(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kinesis_port=free_port())
    settings.catalog_db.parent.mkdir(parents=True)
    settings.catalog_db.touch()
    bronze_stamp = {"telcopulse.writer": "bronze", "telcopulse.positions": '{"shard-0": "49"}'}
    bronze = History((snap(1, None, **bronze_stamp), *HISTORY[1:]), 6)
    silver = History((snap(1, None, **{"telcopulse.writer": "silver"}),), 1)
    write_checkpoint(
        Path(settings.checkpoints) / "silver", offsets={0: StreamOffset(2, 1)}, commits=[0], start=StreamOffset(1, 0)
    )
    lake = FakeLake(
        {"telcopulse_bronze.network_events": bronze, "telcopulse_silver.network_events": silver}, (200, 190)
    )
    stream = FakeStream()

    with job_lock(settings.run_dir, "silver"):
        report = check(settings, now=NOW, lake=lake, stream=stream)

    by_layer = {s.layer: s for s in report.layers}
    assert stream.asked == [{"shard-0": "49"}]
    assert by_layer["bronze"].lag_records == 3 and by_layer["bronze"].running is False
    assert by_layer["silver"].running is True and by_layer["silver"].pid == os.getpid()
    assert by_layer["silver"].lag_records == 7 and by_layer["silver"].dq_pass_rate == 0.95
    assert by_layer["silver"].last_commit_at == T0 + timedelta(seconds=1)
    assert by_layer["gold"].lag_records == 10 and by_layer["gold"].last_commit_at is None  # no checkpoint yet
    assert not report.healthy and "bronze" in render_text(report)


def test_lock_holder_sees_a_job_without_touching_its_lock(tmp_path: Path) -> None:
    assert lock_holder(tmp_path, "gold") is None
    with job_lock(tmp_path, "gold"):
        assert lock_holder(tmp_path, "gold") == os.getpid()
        assert lock_holder(tmp_path, "gold") == os.getpid()  # probing twice took nothing
    assert lock_holder(tmp_path, "gold") is None


@pytest.fixture(params=["pyiceberg", "spark"])
def histories(request: pytest.FixtureRequest, spark: SparkSession, empty_tables: Settings) -> TableHistory:
    return PyIcebergHistory(empty_tables) if request.param == "pyiceberg" else SparkHistory(spark, empty_tables)


def test_table_history_adapters_agree_on_stamps_and_counts(
    histories: TableHistory, spark: SparkSession, empty_tables: Settings
) -> None:
    table = empty_tables.table("telcopulse_bronze.network_events")
    assert histories.history("telcopulse_bronze.network_events").current_id is None
    for batch in range(2):
        rows = spark.createDataFrame(
            [(b"x", "s", "shard-0", str(batch), "k", None, datetime.now(UTC))],
            "data binary, stream_name string, shard_id string, sequence_number string, partition_key string, "
            "arrival_time timestamp, ingest_time timestamp",
        )
        ledger.append_once(rows, table, ledger.Stamp("bronze", "q", batch, {ledger.POSITIONS: "{}"}))

    history = histories.history("telcopulse_bronze.network_events")

    assert [s.writer for s in history.ancestry] == ["bronze", "bronze"]
    assert [s.summary["telcopulse.batch-id"] for s in history.ancestry] == ["0", "1"]
    assert [(s.operation, s.added_records) for s in history.ancestry] == [("append", 1), ("append", 1)]
    assert all(s.committed_at.tzinfo is not None for s in history.snapshots)


def test_kinesis_backlog_counts_after_positions_up_to_a_cap(kinesalite: Settings) -> None:
    sink = BotoKinesisSink(kinesis_client(kinesalite), kinesalite.stream_name)
    assert sink.put([(f"k{i}", f"r{i}".encode()) for i in range(25)]).sent == 25
    backlog = BotoKinesisBacklog.from_settings(kinesalite)
    client = kinesis_client(kinesalite)
    shard = client.list_shards(StreamName=kinesalite.stream_name)["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName=kinesalite.stream_name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    first = client.get_records(ShardIterator=iterator["ShardIterator"], Limit=1)["Records"][0]["SequenceNumber"]

    everything = backlog.backlog({}, cap=1000)
    assert (everything.records, everything.capped) == (25, False)
    assert everything.oldest_waiting_since is not None
    assert backlog.backlog({shard: first}, cap=1000).records == 24
    capped = backlog.backlog({}, cap=10)
    assert (capped.records, capped.capped) == (10, True)
    assert everything.oldest_waiting_since.tzinfo == UTC


def test_status_command_exits_1_with_json_when_nothing_runs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kinesis_port=free_port())

    result = run_cli(settings, "status", "--json", check=False, timeout=120)

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert [layer["layer"] for layer in report["layers"]] == ["bronze", "silver", "gold"]
    assert all(any("not running" in p for p in layer["problems"]) for layer in report["layers"])
