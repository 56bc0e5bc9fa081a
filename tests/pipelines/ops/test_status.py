"""`telcopulse status`: the health rule, the observations behind it, and the command's exit code."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from catalog.tables import BRONZE_EVENTS, DQ_RESULTS, SILVER_EVENTS, TableDef, create_delta_table_sql
from pipelines import ledger
from pipelines.adapters.iceberg_history import PyIcebergHistory, SparkHistory, TableHistory
from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.adapters.kinesis_backlog import BotoKinesisBacklog
from pipelines.local.locks import job_lock
from pipelines.ops.history import Backlog, History, StreamOffset
from pipelines.ops.status import LayerObservation, Thresholds, assess, check, lock_holder, render_text
from pipelines.settings import Settings, TableFormat
from tests.conftest import free_port, run_cli
from tests.pipelines.ops.test_checkpoints import write_checkpoint
from tests.pipelines.ops.test_history import HISTORY, T0, snap
from tests.pipelines.query.lake import dq_row

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


def stamped_append(
    spark: SparkSession, settings: Settings, table: TableDef, rows: list[dict[str, Any]], stamp: Mapping[str, str]
) -> None:
    """Append ``rows`` to a Delta table in one commit carrying the ledger stamp, as a job's commit does."""
    name = settings.table(table.identifier)
    schema = spark.table(name).schema
    frame = spark.createDataFrame([tuple(row[f.name] for f in schema.fields) for row in rows], schema=schema)
    frame.write.format("delta").mode("append").option("userMetadata", json.dumps(stamp)).save(
        settings.table_location(table.identifier)
    )


def bronze_row(anchor: datetime, seq: int) -> dict[str, Any]:
    return {
        "data": b"{}",
        "stream_name": "telcopulse-events",
        "shard_id": "shard-0",
        "sequence_number": str(seq),
        "partition_key": "k",
        "arrival_time": anchor,
        "ingest_time": anchor,
    }


def read_bronze_like_silver(spark: SparkSession, settings: Settings) -> None:
    """A Delta stream over bronze, checkpointed where silver's is, read to the end (what silver's reader does)."""
    query = (
        spark.readStream.format("delta")
        .option("skipChangeCommits", "true")
        .load(settings.table_location(BRONZE_EVENTS.identifier))
        .writeStream.format("noop")
        .option("checkpointLocation", f"{settings.checkpoints}/silver")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()


def test_status_on_delta_tables_reads_their_logs_and_delta_offsets(spark: SparkSession, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kinesis_port=free_port(), table_format=TableFormat.DELTA)
    for table in (BRONZE_EVENTS, SILVER_EVENTS, DQ_RESULTS):
        spark.sql(create_delta_table_sql(table, settings.table(table.identifier)))
    anchor = datetime.now(UTC).replace(microsecond=0)
    bronze_stamp = {ledger.WRITER: "bronze", ledger.QUERY_ID: "b", ledger.BATCH_ID: "0"}
    stamped_append(spark, settings, BRONZE_EVENTS, [bronze_row(anchor, 1), bronze_row(anchor, 2)], bronze_stamp)
    read_bronze_like_silver(spark, settings)  # its offset now names bronze's next version
    silver_stamp = {ledger.WRITER: "silver", ledger.QUERY_ID: "s", ledger.BATCH_ID: "0"}
    stamped_append(spark, settings, DQ_RESULTS, [dq_row(anchor, 0, 0, rows_in=2, quarantined=1, dup=0)], silver_stamp)

    caught_up = {s.layer: s for s in check(settings, stream=FakeStream()).layers}

    assert caught_up["silver"].lag_records == 0 and not any("resume" in p for p in caught_up["silver"].problems)
    assert caught_up["silver"].dq_pass_rate == 0.5
    assert caught_up["bronze"].last_commit_at is not None and caught_up["gold"].lag_records == 0

    positions = {ledger.POSITIONS: '{"shard-0": "5"}'}
    rows = [bronze_row(anchor, seq) for seq in (3, 4, 5)]
    stamped_append(spark, settings, BRONZE_EVENTS, rows, bronze_stamp | {ledger.BATCH_ID: "1"} | positions)
    stream = FakeStream()

    behind = {s.layer: s for s in check(settings, stream=stream).layers}

    assert behind["silver"].lag_records == 3 and behind["silver"].freshness_s is not None
    assert stream.asked == [{"shard-0": "5"}]  # bronze resumes from its newest stamp's positions
    result = run_cli(settings, "status", "--json", check=False, timeout=120)
    assert [layer["lag_records"] for layer in json.loads(result.stdout)["layers"]][1:] == [3, 0], result.stderr


def test_status_on_a_delta_home_that_never_ran_says_so(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kinesis_port=free_port(), table_format=TableFormat.DELTA)

    report = check(settings, stream=FakeStream())

    assert all(any("no Delta tables at" in p for p in layer.problems) for layer in report.layers)


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
