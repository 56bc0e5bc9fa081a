"""The Glue entrypoints: argument contract and wiring, with a stand-in for ``awsglue`` (which is not on PyPI).

Everything but Glue itself is real: Settings, the bronze column mapping, ``to_bronze_rows`` and the ledger
write into the test catalog through the shared Spark session.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from threading import Event
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from catalog.tables import BRONZE_EVENTS
from pipelines import ledger, streaming
from pipelines.bronze import glue_job as bronze
from pipelines.errors import SchemaMismatchError
from pipelines.gold import glue_job as gold
from pipelines.logs import JsonLineFormatter
from pipelines.settings import Runtime, Settings
from pipelines.silver import glue_job as silver

ARGS = {
    "JOB_NAME": "telcopulse-test-job",
    "TELCOPULSE_STREAM_NAME": "telcopulse-test-events",
    "TELCOPULSE_STREAM_ARN": "arn:aws:kinesis:eu-west-1:000000000000:stream/telcopulse-test-events",
    "TELCOPULSE_WAREHOUSE_URI": "s3://warehouse-bucket/warehouse",
    "TELCOPULSE_CHECKPOINT_URI": "s3://checkpoints-bucket/checkpoints",
    "TELCOPULSE_REGION": "eu-west-1",
    "TELCOPULSE_TRIGGER_SECONDS": "60",
    "TELCOPULSE_TABLE_FORMAT": "iceberg",
}
ENTRYPOINTS = {"bronze": bronze, "silver": silver, "gold": gold}
ARRIVED = datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)


def argv_for(module: types.ModuleType, **overrides: str | None) -> list[str]:
    """The command line Glue passes: script name, ``--NAME value`` per argument, plus Glue's own extras."""
    values = {name: ARGS[name] for name in module.JOB_ARGS} | overrides
    argv = ["glue_job.py", "--job-bookmark-option", "job-bookmark-disable"]
    for name, value in values.items():
        if value is not None:
            argv += [f"--{name}", value]
    return argv


def get_resolved_options(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """What ``awsglue.utils.getResolvedOptions`` does: argparse, every option required, extras ignored."""
    parser = argparse.ArgumentParser()
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    return vars(parser.parse_known_args(list(args[1:]))[0])


class FakeGlue:
    """Records what an entrypoint asks of Glue; ``forEachBatch`` hands the frame to the batch function."""

    def __init__(self, frame: Any = None) -> None:
        self.frame = frame
        self.sources: list[dict[str, Any]] = []
        self.for_each_batch: list[dict[str, Any]] = []
        self.job_calls: list[tuple[str, Any]] = []

    def modules(self) -> dict[str, types.ModuleType]:
        glue = self

        class DataFrameReader:
            def from_options(self, **kwargs: Any) -> Any:
                glue.sources.append(kwargs)
                return glue.frame

        class GlueContext:
            def __init__(self, spark_context: Any) -> None:
                self.create_data_frame = DataFrameReader()

            def forEachBatch(  # noqa: N802 - Glue's own name
                self,
                *,
                frame: Any,
                batch_function: Callable[[Any, int], None],
                options: dict[str, str],
            ) -> None:
                glue.for_each_batch.append({"frame": frame, "batch_function": batch_function, "options": options})

        class Job:
            def __init__(self, context: Any) -> None:
                pass

            def init(self, name: str, args: dict[str, str]) -> None:
                glue.job_calls.append(("init", name))

            def commit(self) -> None:
                glue.job_calls.append(("commit", None))

        package = types.ModuleType("awsglue")
        utils, context, job = (types.ModuleType(f"awsglue.{name}") for name in ("utils", "context", "job"))
        utils.getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
        context.GlueContext = GlueContext  # type: ignore[attr-defined]
        job.Job = Job  # type: ignore[attr-defined]
        return {"awsglue": package, "awsglue.utils": utils, "awsglue.context": context, "awsglue.job": job}


@pytest.fixture
def fake_glue(monkeypatch: pytest.MonkeyPatch) -> FakeGlue:
    glue = FakeGlue()
    for name, module in glue.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return glue


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Entrypoints configure the root logger for Glue; put the test runner's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("layer", ENTRYPOINTS)
def test_settings_from_args_builds_aws_settings(layer: str) -> None:
    settings = ENTRYPOINTS[layer].settings_from_args(ARGS)

    assert settings.runtime is Runtime.AWS
    assert (settings.stream_name, settings.region) == ("telcopulse-test-events", "eu-west-1")
    assert settings.warehouse == "s3://warehouse-bucket/warehouse"
    assert settings.checkpoints == "s3://checkpoints-bucket/checkpoints"
    assert settings.trigger_seconds == 60.0


@pytest.mark.parametrize("layer", ENTRYPOINTS)
def test_main_refuses_to_start_without_every_job_argument(layer: str, fake_glue: FakeGlue) -> None:
    module = ENTRYPOINTS[layer]

    with pytest.raises(SystemExit):
        module.main(argv_for(module, TELCOPULSE_WAREHOUSE_URI=None))


@pytest.mark.parametrize("layer", ["silver", "gold"])
def test_main_runs_the_local_job_code_with_aws_settings(
    layer: str, fake_glue: FakeGlue, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    calls: list[tuple[Settings, Event | None]] = []
    job = types.ModuleType(f"pipelines.{layer}.job")

    def run(settings: Settings, *, until_idle_s: float | None = None, stop: Event | None = None) -> int:
        calls.append((settings, stop))
        return 0

    job.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, f"pipelines.{layer}.job", job)
    sigterm_before = signal.getsignal(signal.SIGTERM)

    ENTRYPOINTS[layer].main(argv_for(ENTRYPOINTS[layer]))

    ((settings, stop),) = calls
    assert settings == ENTRYPOINTS[layer].settings_from_args(ARGS)
    assert isinstance(stop, Event) and not stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is sigterm_before
    assert all(isinstance(h.formatter, JsonLineFormatter) for h in logging.getLogger().handlers)


def test_bronze_main_streams_glue_kinesis_source_through_for_each_batch(
    fake_glue: FakeGlue, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    from pyspark.context import SparkContext

    sessions: list[Settings] = []
    monkeypatch.setattr(SparkContext, "getOrCreate", classmethod(lambda cls: "spark-context"))

    def build_spark(settings: Settings, name: str) -> str:
        sessions.append(settings)
        return "spark"

    monkeypatch.setattr(bronze, "build_spark", build_spark)
    monkeypatch.setattr(bronze, "bootstrap_tables", lambda spark, settings: None)
    monkeypatch.setattr(streaming, "stable_query_id", lambda spark, checkpoint: f"query-of:{checkpoint}")

    bronze.main(argv_for(bronze))

    assert sessions == [bronze.settings_from_args(ARGS)]
    (source,) = fake_glue.sources
    assert source["connection_type"] == "kinesis"
    options = source["connection_options"]
    assert options["streamARN"] == ARGS["TELCOPULSE_STREAM_ARN"]
    assert (options["startingPosition"], options["inferSchema"], options["addRecordTimestamp"]) == (
        "TRIM_HORIZON",
        "false",
        "true",
    )
    (batches,) = fake_glue.for_each_batch
    assert batches["options"] == {
        "windowSize": "60 seconds",
        "checkpointLocation": "s3://checkpoints-bucket/checkpoints/bronze",
    }
    assert fake_glue.job_calls == [("init", ARGS["JOB_NAME"]), ("commit", None)]


def _glue_frame(spark: SparkSession, payloads: list[str]) -> DataFrame:
    """A micro-batch as Glue's Kinesis source delivers it (payload column and ``addRecordTimestamp``)."""
    return spark.createDataFrame(
        [(payload, ARRIVED) for payload in payloads],
        f"`{bronze.GLUE_DATA}` string, `{bronze.GLUE_ARRIVAL_TIME}` timestamp",
    )


def test_batch_writer_appends_each_glue_batch_to_bronze_once(spark: SparkSession, empty_tables: Settings) -> None:
    aws = bronze.settings_from_args(ARGS)
    write = bronze.batch_writer(aws, query_id="glue-test-query")
    first, second = ['{"event_id":"a"}', '{"event_id":"b"}'], ['{"event_id":"c"}']

    write(_glue_frame(spark, first), 0)
    write(_glue_frame(spark, first), 0)  # Glue replays a batch after a restart: committed, so skipped
    write(_glue_frame(spark, second), 1)
    write(_glue_frame(spark, []), 2)  # empty batches commit nothing

    table = empty_tables.table(BRONZE_EVENTS.identifier)
    rows = spark.table(table).select("data", "stream_name", "shard_id", "partition_key", "arrival_time")
    expected = spark.createDataFrame(
        [(p.encode(), ARGS["TELCOPULSE_STREAM_NAME"], bronze.GLUE_SHARD_ID, None, ARRIVED) for p in first + second],
        "data binary, stream_name string, shard_id string, partition_key string, arrival_time timestamp",
    )
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)
    sequences = spark.table(table).selectExpr("CAST(sequence_number AS DECIMAL(38,0)) AS n").distinct()
    assert sequences.where("n IS NOT NULL").count() == len(first + second)
    stamps = [
        s
        for s in spark.sql(f"SELECT summary FROM {table}.snapshots").collect()
        if s["summary"].get(ledger.WRITER) == "bronze"
    ]
    assert sorted(int(s["summary"][ledger.BATCH_ID]) for s in stamps) == [0, 1]


def test_glue_records_to_stream_records_reads_numeric_arrival_times_as_epoch_millis(
    spark: SparkSession,
) -> None:
    millis = int(ARRIVED.timestamp() * 1000)
    df = spark.createDataFrame([("{}", millis)], f"`{bronze.GLUE_DATA}` string, `{bronze.GLUE_ARRIVAL_TIME}` bigint")

    records = bronze.glue_records_to_stream_records(df, stream_name="s", batch_id=7)

    expected = spark.createDataFrame([(ARRIVED,)], "arrival_time timestamp")
    assert_df_equality(records.select("arrival_time"), expected, ignore_nullable=True)


def test_glue_records_to_stream_records_names_a_missing_payload_column(spark: SparkSession) -> None:
    df = spark.createDataFrame([("x",)], "data string")

    with pytest.raises(SchemaMismatchError, match="data_infer_schema"):
        bronze.glue_records_to_stream_records(df, stream_name="s", batch_id=0)


def test_on_delta_the_glue_batch_writer_registers_the_table_and_appends_each_batch_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The AWS naming of Delta tables (``spark_catalog.<database>.<table>`` at a warehouse location), here with
    Spark's own session catalog standing in for the Glue Data Catalog."""
    from pipelines.adapters.iceberg import bootstrap_tables

    aws = bronze.settings_from_args(
        ARGS | {"TELCOPULSE_TABLE_FORMAT": "delta", "TELCOPULSE_WAREHOUSE_URI": f"file://{tmp_path}/warehouse"}
    )
    table = aws.table(BRONZE_EVENTS.identifier)
    assert table == "spark_catalog.telcopulse_bronze.network_events"
    bootstrap_tables(spark, aws, (BRONZE_EVENTS,))
    write = bronze.batch_writer(aws, query_id="glue-delta-query")
    try:
        write(_glue_frame(spark, ['{"event_id":"a"}', '{"event_id":"b"}']), 0)
        write(_glue_frame(spark, ['{"event_id":"a"}', '{"event_id":"b"}']), 0)  # a replay: skipped
        write(_glue_frame(spark, ['{"event_id":"c"}']), 1)

        assert spark.table(table).count() == 3
        assert (tmp_path / "warehouse" / "delta" / "telcopulse_bronze" / "network_events" / "_delta_log").is_dir()
        assert ledger.last_stamp(spark, table, "bronze")[ledger.BATCH_ID] == "1"  # type: ignore[index]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")
