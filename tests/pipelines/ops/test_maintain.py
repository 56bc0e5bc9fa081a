"""Maintenance keeps what exactly-once and the streaming readers need; results are unchanged."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from catalog.tables import BRONZE_EVENTS, OPERATOR_KPIS, QUARANTINE
from pipelines import ledger, streaming
from pipelines.adapters.iceberg_history import SparkHistory
from pipelines.ops.checkpoints import CheckpointPosition, HadoopFiles
from pipelines.ops.history import History, StreamOffset
from pipelines.ops.maintain import (
    MaintenancePolicy,
    MaintenancePolicyError,
    compaction_options,
    maintain_table,
    plan_expiry,
)
from pipelines.settings import Settings, TableFormat
from tests.pipelines.ops.test_history import HISTORY, T0, snap

POLICY = MaintenancePolicy(retain=timedelta(hours=1), clock_skew=timedelta(minutes=1))
STAMPED = History(
    (
        snap(1, None, **{"telcopulse.writer": "bronze"}),
        snap(2, 1, **{"telcopulse.writer": "bronze"}),
        snap(3, 2, "replace"),
    ),
    3,
)


def at(position: StreamOffset | None) -> CheckpointPosition:
    return CheckpointPosition(exists=position is not None, read_to=position)


def test_plan_expiry_keeps_the_retention_and_tags_each_writers_newest_stamp() -> None:
    now = T0 + timedelta(hours=5)

    plan = plan_expiry(STAMPED, reader=None, position=None, policy=POLICY, now=now)

    assert plan.older_than == now - timedelta(hours=1, minutes=1)
    assert plan.tags == {"ledger-bronze": 2}


def test_plan_expiry_never_reaches_a_readers_checkpointed_snapshot() -> None:
    now = T0 + timedelta(hours=5)

    plan = plan_expiry(STAMPED, reader="silver", position=at(StreamOffset(2, 1)), policy=POLICY, now=now)

    assert plan.older_than == T0 + timedelta(seconds=2) - timedelta(minutes=1)
    assert "silver's checkpointed snapshot 2" in plan.reason


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        (None, "silver has no checkpoint yet"),
        (at(StreamOffset(99, 0)), "silver's checkpointed snapshot is gone"),
    ],
)
def test_plan_expiry_expires_nothing_a_reader_could_still_need(
    position: CheckpointPosition | None, reason: str
) -> None:
    plan = plan_expiry(History(tuple(HISTORY), 6), reader="silver", position=position, policy=POLICY, now=T0)

    assert plan.older_than is None and reason in plan.reason


def test_policy_refuses_an_orphan_age_that_would_delete_files_being_written() -> None:
    with pytest.raises(MaintenancePolicyError, match="orphan age"):
        MaintenancePolicy(orphan_age=timedelta(hours=2))


def test_compaction_applies_deletes_only_on_merge_on_read_tables() -> None:
    assert "delete-file-threshold" in compaction_options(OPERATOR_KPIS, POLICY)
    assert "delete-file-threshold" in compaction_options(QUARANTINE, POLICY)
    assert compaction_options(BRONZE_EVENTS, POLICY) == {"min-input-files": "5", "partial-progress.enabled": "true"}


def _append(spark: SparkSession, table: str, batch: int) -> None:
    rows = spark.createDataFrame(
        [(f"r{batch}-{i}".encode(), "s", "shard-0", f"{batch:03d}{i}", "k", None, datetime.now(UTC)) for i in range(3)],
        "data binary, stream_name string, shard_id string, sequence_number string, partition_key string, "
        "arrival_time timestamp, ingest_time timestamp",
    )
    ledger.append_once(rows, table, ledger.Stamp("bronze", "q", batch, {ledger.POSITIONS: f'{{"shard-0": "{batch}"}}'}))


def _read_stream(spark: SparkSession, table: str, checkpoint: str, out: Path) -> DataFrame:
    """What silver's stream reads next (the jobs' own options and trigger kind), into parquet files.

    A processing-time trigger as the jobs use: an available-now trigger would also re-read the query's
    very first start offset, which expiry is free to remove.
    """
    query = (
        streaming.read_table_stream(spark, table)
        .select("sequence_number")
        .writeStream.format("parquet")
        .option("path", str(out))
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime="0.5 seconds")
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    return spark.read.parquet(str(out))


def test_maintenance_keeps_what_the_ledger_and_a_stream_reader_need(
    spark: SparkSession, empty_tables: Settings, tmp_path: Path
) -> None:
    settings = empty_tables
    table = settings.table(BRONZE_EVENTS.identifier)
    checkpoint = f"{settings.checkpoints}/silver"
    shutil.rmtree(checkpoint, ignore_errors=True)
    for batch in range(3):
        _append(spark, table, batch)
    assert _read_stream(spark, table, checkpoint, tmp_path / "first").count() == 9
    for batch in range(3, 6):
        _append(spark, table, batch)
    before = sorted(r[0] for r in spark.table(table).select("sequence_number").collect())
    history = SparkHistory(spark, settings).history(BRONZE_EVENTS.identifier)
    reader_at = history.ancestry[2].snapshot_id  # the stream read batches 0-2

    policy = MaintenancePolicy(retain=timedelta(0), clock_skew=timedelta(0), min_input_files=2)
    report = maintain_table(spark, settings, BRONZE_EVENTS, policy, now=datetime.now(UTC), files=HadoopFiles(spark))

    kept = SparkHistory(spark, settings).history(BRONZE_EVENTS.identifier)
    assert report.rewritten_data_files >= 2 and report.expiry_rule.startswith("older than silver's")
    assert {s.snapshot_id for s in history.ancestry[:2]}.isdisjoint(s.snapshot_id for s in kept.snapshots)
    assert {s.snapshot_id for s in history.ancestry[2:]} <= {s.snapshot_id for s in kept.snapshots}
    assert report.tags == {"ledger-bronze": history.ancestry[-1].snapshot_id}
    assert ledger.last_stamp(spark, table, "bronze")[ledger.BATCH_ID] == "5"  # type: ignore[index]
    assert sorted(r[0] for r in spark.table(table).select("sequence_number").collect()) == before
    assert reader_at in {s.snapshot_id for s in kept.snapshots}
    _append(spark, table, 6)
    resumed = _read_stream(spark, table, checkpoint, tmp_path / "first")
    assert sorted(r[0] for r in resumed.collect()) == [*before, "0060", "0061", "0062"]  # each once

    # Without the rule: expiring the reader's snapshot leaves the stream unable to resume.
    _append(spark, table, 7)
    moment = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    spark.sql(
        f"CALL {settings.catalog_name}.system.expire_snapshots(table => '{BRONZE_EVENTS.identifier}', "
        f"older_than => TIMESTAMP '{moment}', retain_last => 1)"
    ).collect()
    with pytest.raises(Exception, match="expired or removed"):
        _read_stream(spark, table, checkpoint, tmp_path / "first")


@pytest.mark.slow  # about 6 minutes on 2 cores, most of the default run's budget: CI runs it in the slow suite
def test_delta_maintenance_keeps_the_ledger_the_stream_reader_and_the_results(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    from pipelines.adapters.iceberg import bootstrap_tables
    from tests.helpers import read_table

    delta = settings.model_copy(update={"home": tmp_path / "delta-home", "table_format": TableFormat.DELTA})
    bootstrap_tables(spark, delta, (BRONZE_EVENTS, QUARANTINE))
    table = delta.table(BRONZE_EVENTS.identifier)
    checkpoint = f"{delta.checkpoints}/silver"
    for batch in range(3):
        _append(spark, table, batch)
    assert _read_stream(spark, table, checkpoint, tmp_path / "first").count() == 9
    for batch in range(3, 6):
        _append(spark, table, batch)
    before = sorted(read_table(delta, BRONZE_EVENTS.identifier).column("sequence_number").to_pylist())

    policy = MaintenancePolicy(retain=timedelta(0), clock_skew=timedelta(0), min_input_files=2)
    report = maintain_table(spark, delta, BRONZE_EVENTS, policy, now=datetime.now(UTC), files=HadoopFiles(spark))

    assert report.rewritten_data_files >= 6 and report.added_data_files == 1
    assert report.expiry_rule.startswith("older than silver's")
    assert ledger.last_stamp(spark, table, "bronze")[ledger.BATCH_ID] == "5"  # type: ignore[index]
    assert sorted(read_table(delta, BRONZE_EVENTS.identifier).column("sequence_number").to_pylist()) == before
    _append(spark, table, 6)
    resumed = _read_stream(spark, table, checkpoint, tmp_path / "first")
    assert sorted(r[0] for r in resumed.collect()) == [*before, "0060", "0061", "0062"]  # each once

    # A table no stream reads: the files OPTIMIZE replaced are vacuumed by a run once they are past retention
    # (VACUUM's retention is whole hours, rounded up: a run two hours later).
    quarantine = delta.table(QUARANTINE.identifier)
    for batch in range(3):
        now = datetime.now(UTC)
        row = (b"x", "shard-0", str(batch), None, now, ["payload:not_json"], "v1", now, None)
        rows = spark.createDataFrame([row], spark.table(quarantine).schema)
        ledger.append_once(rows, quarantine, ledger.Stamp("silver", "q", batch))
    first = maintain_table(spark, delta, QUARANTINE, policy, now=datetime.now(UTC), files=HadoopFiles(spark))
    later = datetime.now(UTC) + timedelta(hours=2)
    second = maintain_table(spark, delta, QUARANTINE, policy, now=later, files=HadoopFiles(spark))
    assert first.rewritten_data_files == 3 and first.deleted_files == 0 and second.deleted_files >= 3
    assert read_table(delta, QUARANTINE.identifier).num_rows == 3
