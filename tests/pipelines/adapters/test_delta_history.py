"""DeltaLogHistory: a Delta table's log read as Iceberg-named snapshots, checked against Spark's own Delta reader."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from catalog.tables import DQ_RESULTS, create_delta_table_sql
from pipelines import ledger
from pipelines.adapters.delta_history import Commit, DeltaLogHistory, parse_commit, replay
from pipelines.settings import Settings, TableFormat
from tests.pipelines.query.lake import append_rows, dq_row

TABLE = "telcopulse_gold.history_probe"
SCHEMA = "k STRING, n BIGINT"


@pytest.fixture
def delta_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", table_format=TableFormat.DELTA)


def stamp(writer: str, batch: int, **extra: str) -> str:
    """A job commit's ``userMetadata``: the ledger's stamp as a JSON object."""
    return json.dumps({ledger.WRITER: writer, ledger.QUERY_ID: "q-1", ledger.BATCH_ID: str(batch), **extra})


def append(
    spark: SparkSession, settings: Settings, rows: list[tuple[str, int]], *, files: int = 1, meta: str = ""
) -> None:
    frame = spark.createDataFrame(rows, SCHEMA).repartition(files)
    writer = frame.write.format("delta").mode("append")
    if meta:
        writer = writer.option("userMetadata", meta)
    writer.save(settings.table_location(TABLE))


@pytest.fixture
def commit_metadata(spark: SparkSession) -> Iterator[Any]:
    """Sets ``userMetadata`` for SQL commits (MERGE), and unsets it afterwards: the session is shared."""
    key = "spark.databricks.delta.commitInfo.userMetadata"

    def set_to(value: str | None) -> None:
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)

    yield set_to
    spark.conf.unset(key)


def test_delta_log_history_maps_appends_merge_delete_and_optimize(
    spark: SparkSession, delta_settings: Settings, commit_metadata: Any
) -> None:
    name = delta_settings.table(TABLE)
    started = datetime.now(UTC)
    spark.sql(f"CREATE TABLE {name} ({SCHEMA}) USING delta")  # 0
    append(spark, delta_settings, [("a", 1), ("b", 2), ("c", 3)], files=2, meta=stamp("gold", 0))  # 1
    append(spark, delta_settings, [("d", 4), ("e", 5)], meta=stamp("gold", 1))  # 2
    spark.createDataFrame([("a", 10), ("f", 6)], SCHEMA).createOrReplaceTempView("probe_source")
    commit_metadata(stamp("gold", 2))
    spark.sql(  # 3: one row updated, one inserted
        f"MERGE INTO {name} AS t USING probe_source AS s ON t.k = s.k "
        "WHEN MATCHED THEN UPDATE SET n = s.n WHEN NOT MATCHED THEN INSERT *"
    )
    commit_metadata(None)
    spark.sql(f"DELETE FROM {name} WHERE k = 'd'")  # 4
    spark.sql(f"OPTIMIZE {name}")  # 5

    history = DeltaLogHistory(delta_settings).history(TABLE)

    assert history.current_id == 5
    assert [s.snapshot_id for s in history.ancestry] == [0, 1, 2, 3, 4, 5]
    assert [s.parent_id for s in history.ancestry] == [None, 0, 1, 2, 3, 4]
    assert [s.operation for s in history.ancestry] == ["replace", "append", "append", "overwrite", "delete", "replace"]
    assert [s.writer for s in history.ancestry] == [None, "gold", "gold", "gold", None, None]
    assert [s.summary.get(ledger.BATCH_ID) for s in history.ancestry] == [None, "0", "1", "2", None, None]
    assert [s.added_records for s in history.ancestry] == [0, 3, 2, 1, 0, 0]  # the MERGE inserted one row
    assert [s.added_files for s in history.ancestry[:3]] == [0, 2, 1]
    assert [s.total_records for s in history.ancestry] == [0, 3, 5, 6, 5, 5]
    assert [s.total_files for s in history.ancestry[:3]] == [0, 2, 3]
    assert history.ancestry[-1].total_files == 1  # OPTIMIZE packed the small files into one
    times = [s.committed_at for s in history.ancestry]
    assert started - timedelta(seconds=1) <= times[0] and times == sorted(times) and times[-1] <= datetime.now(UTC)


def test_delta_log_history_reads_a_log_whose_oldest_commits_were_cleaned(
    spark: SparkSession, delta_settings: Settings
) -> None:
    name = delta_settings.table(TABLE)
    spark.sql(f"CREATE TABLE {name} ({SCHEMA}) USING delta TBLPROPERTIES ('delta.checkpointInterval' = '2')")
    for batch in range(4):  # versions 1-4; checkpoints at 2 and 4
        append(spark, delta_settings, [(f"k{batch}", batch)] * (batch + 1), meta=stamp("bronze", batch))
    log = delta_settings.table_path(TABLE) / "_delta_log"
    assert (log / f"{2:020d}.checkpoint.parquet").is_file()
    for version in (0, 1):  # what Delta's log cleanup leaves: commits from a checkpoint on
        (log / f"{version:020d}.json").unlink()

    history = DeltaLogHistory(delta_settings).history(TABLE)

    assert [(s.snapshot_id, s.parent_id) for s in history.ancestry] == [(2, None), (3, 2), (4, 3)]
    assert [s.summary[ledger.BATCH_ID] for s in history.ancestry] == ["1", "2", "3"]
    assert [(s.total_records, s.total_files) for s in history.ancestry] == [(1 + 2, 2), (6, 3), (10, 4)]


def test_delta_log_history_of_a_folder_without_a_log_is_empty(delta_settings: Settings) -> None:
    lake = DeltaLogHistory(delta_settings)
    assert lake.history(TABLE).current_id is None
    (delta_settings.table_path(TABLE) / "_delta_log").mkdir(parents=True)  # created, first commit not yet written

    assert lake.history(TABLE).snapshots == ()
    assert lake.dq_counts(TABLE, datetime.now(UTC)) == (0, 0)


def test_dq_counts_sums_the_rows_validated_since(spark: SparkSession, delta_settings: Settings) -> None:
    spark.sql(create_delta_table_sql(DQ_RESULTS, delta_settings.table(DQ_RESULTS.identifier)))
    anchor = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    rows = [dq_row(anchor, 20, 1, 100, 10, 0), dq_row(anchor, 10, 2, 50, 5, 5), dq_row(anchor, 0, 3, 10, 0, 0)]
    append_rows(spark, delta_settings, DQ_RESULTS, rows)

    counts = DeltaLogHistory(delta_settings).dq_counts(DQ_RESULTS.identifier, anchor - timedelta(minutes=10))

    assert counts == (60, 50)


def commit(operation: str, *actions: Mapping[str, Any], version: int = 7, **info: Any) -> Commit:
    lines = [{"commitInfo": {"timestamp": 1795459467656, "operation": operation, **info}}, *actions]
    return parse_commit(version, "\n".join(json.dumps(line) for line in lines))


def add(path: str, records: int = 1, *, data_change: bool = True, **extra: Any) -> dict[str, Any]:
    stats = json.dumps({"numRecords": records})
    return {"add": {"path": path, "dataChange": data_change, "stats": stats, **extra}}


def remove(path: str, *, data_change: bool = True) -> dict[str, Any]:
    return {"remove": {"path": path, "dataChange": data_change}}


@pytest.mark.parametrize(
    ("delta", "operation"),
    [
        (commit("WRITE", add("f1"), operationParameters={"mode": "Append"}), "append"),
        (commit("WRITE", remove("f0"), add("f1"), operationParameters={"mode": "Overwrite"}), "overwrite"),
        (commit("WRITE", operationParameters={"mode": "Append"}), "append"),  # an empty batch is still an append
        (commit("STREAMING UPDATE", add("f1"), operationParameters={"outputMode": "Append"}), "append"),
        (commit("STREAMING UPDATE", add("f1"), operationParameters={"outputMode": "Complete"}), "overwrite"),
        (commit("CREATE TABLE AS SELECT", add("f1")), "append"),
        (commit("MERGE", add("f1")), "overwrite"),  # even a MERGE that only inserts
        (commit("UPDATE", remove("f0"), add("f1")), "overwrite"),
        (commit("DELETE", remove("f0"), add("f1")), "delete"),
        (commit("TRUNCATE", remove("f0")), "delete"),
        (commit("OPTIMIZE", remove("f0", data_change=False), add("f1", data_change=False)), "replace"),
        (commit("VACUUM END"), "replace"),
        (commit("CREATE TABLE"), "replace"),
        (commit("SET TBLPROPERTIES"), "replace"),
        (commit("RESTORE", remove("f0"), add("f1")), "overwrite"),
        (commit("FSCK", remove("f0")), "delete"),
    ],
)
def test_commit_operation_is_iceberg_s_name_for_it(delta: Commit, operation: str) -> None:
    assert delta.operation == operation


def test_commit_stamp_is_the_user_metadata_object_or_nothing() -> None:
    assert commit("WRITE", userMetadata=stamp("silver", 3)).stamp[ledger.BATCH_ID] == "3"
    assert commit("WRITE", userMetadata="not json").stamp == {}
    assert commit("WRITE", userMetadata='["a list"]').stamp == {}
    assert commit("WRITE").stamp == {}


def test_replay_counts_rows_hidden_by_deletion_vectors() -> None:
    vector = {"storageType": "u", "pathOrInlineDv": "ab", "offset": 1, "sizeInBytes": 34, "cardinality": 3}
    written = commit("WRITE", add("f1", 10), version=0)
    deleted = commit("DELETE", remove("f1"), add("f1", 10, deletionVector=vector), version=1)

    snapshots = replay([written, deleted])

    assert [(s.total_records, s.total_files) for s in snapshots] == [(10, 1), (7, 1)]
    assert deleted.added[0].key != "f1" and deleted.added[0].records == 7  # with a vector: another file
