"""Structured Streaming plumbing shared by the silver and gold jobs (table appends in, foreachBatch out)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from threading import Event
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines import ledger
from pipelines.settings import Settings
from pipelines.spark import java_class

log = logging.getLogger(__name__)
MAX_ROWS_PER_BATCH = 250_000
MAX_FILES_PER_BATCH = 100
SPLIT_SIZE_BYTES = 4 * 1024 * 1024
FIRST_PROGRESS_GRACE_S = 60.0


def checkpoint_location(settings: Settings, job: str) -> str:
    return f"{settings.checkpoints.rstrip('/')}/{job}"


def stable_query_id(spark: SparkSession, checkpoint: str) -> str:
    """The query id Spark keeps in ``<checkpoint>/metadata``, written first by us so batches know it.

    It survives restarts (same checkpoint) and changes when a checkpoint is replaced, which is what the
    exactly-once ledger needs: batch ids restart at 0 only under a new query id.
    """
    path = java_class(spark, "org.apache.hadoop.fs.Path")(f"{checkpoint}/metadata")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if fs.exists(path):
        stream = fs.open(path)
        try:
            reader = _utf8_reader(spark, stream)
            return str(json.loads(reader.readLine())["id"])
        finally:
            stream.close()
    query_id = str(uuid.uuid4())
    out = fs.create(path, False)
    try:
        out.write(bytearray(json.dumps({"id": query_id}) + "\n", "utf-8"))
    finally:
        out.close()
    return query_id


def source_range(spark: SparkSession, checkpoint: str, batch_id: int) -> str:
    """The source offsets a batch covers, from the checkpoint's offset log: ``<previous> -> <this>``."""
    return f"{_offset(spark, checkpoint, batch_id - 1)} -> {_offset(spark, checkpoint, batch_id)}"


def _offset(spark: SparkSession, checkpoint: str, batch_id: int) -> str:
    if batch_id < 0:
        return "start"
    path = java_class(spark, "org.apache.hadoop.fs.Path")(f"{checkpoint}/offsets/{batch_id}")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if not fs.exists(path):
        return "?"
    stream = fs.open(path)
    try:
        reader = _utf8_reader(spark, stream)
        lines = []
        while (line := reader.readLine()) is not None:
            lines.append(str(line))
    finally:
        stream.close()
    offset = json.loads(lines[-1]) if lines else {}
    if "reservoirVersion" in offset:  # Delta: version and file index
        return f"{offset['reservoirVersion']}:{offset.get('index', '?')}"
    return str(offset.get("snapshot_id", "?")) + ":" + str(offset.get("position", "?"))


def read_table_stream(spark: SparkSession, table: str) -> DataFrame:
    """New appends of ``table`` (Iceberg or Delta) as a stream; maintenance and rebuild commits are skipped."""
    if ledger.is_delta(table):
        # OPTIMIZE commits change no data and Delta's source skips them itself; commits that change rows
        # (DELETE, MERGE) are skipped as Iceberg's delete and overwrite snapshots are. A batch is bounded by
        # files: each job commit is one file or a few.
        reader = (
            spark.readStream.format("delta")
            .option("skipChangeCommits", "true")
            .option("maxFilesPerTrigger", str(MAX_FILES_PER_BATCH))
        )
        path = ledger.delta_path(table)
        return reader.load(path) if path is not None else reader.table(table)
    return (
        spark.readStream.format("iceberg")
        .option("streaming-skip-delete-snapshots", "true")
        .option("streaming-skip-overwrite-snapshots", "true")
        .option("streaming-max-rows-per-micro-batch", str(MAX_ROWS_PER_BATCH))
        .option("split-size", str(SPLIT_SIZE_BYTES))
        .load(table)
    )


def start_foreach_batch(
    stream: DataFrame,
    process: Callable[[DataFrame, int], None],
    *,
    checkpoint: str,
    trigger_seconds: float,
    name: str,
) -> StreamingQuery:
    return (
        stream.writeStream.queryName(name)
        .foreachBatch(process)
        .option("checkpointLocation", checkpoint)
        .trigger(processingTime=f"{trigger_seconds} seconds")
        .start()
    )


def await_query(
    query: StreamingQuery,
    *,
    until_idle_s: float | None,
    stop: Event,
    upstream_busy: Callable[[], bool] | None = None,
) -> None:
    """Block until ``stop``, a failure (re-raised), or ``until_idle_s`` without new input rows.

    While ``upstream_busy()`` is true (the job feeding this one still runs), idle time does not count.
    """
    started = last_input = time.monotonic()
    seen_batches = -1
    try:
        while not stop.is_set():
            if query.awaitTermination(1):
                break  # finished by itself; a failed query raises from awaitTermination
            progress = query.lastProgress
            if progress is None and time.monotonic() - started < FIRST_PROGRESS_GRACE_S:
                last_input = time.monotonic()  # still planning its first batch (Delta: the initial snapshot)
            if progress and progress["batchId"] != seen_batches:
                seen_batches = progress["batchId"]
                if progress.get("numInputRows", 0) > 0:
                    last_input = time.monotonic()
            busy = query.status.get("isTriggerActive") and query.status.get("isDataAvailable")
            if upstream_busy is not None and upstream_busy():
                last_input = time.monotonic()
            if until_idle_s is not None and not busy and time.monotonic() - last_input >= until_idle_s:
                break
    finally:
        if query.isActive:
            query.stop()
    query.awaitTermination()


def run_incremental(
    spark: SparkSession,
    settings: Settings,
    *,
    name: str,
    source_table: str,
    process: Callable[[DataFrame, int], None],
    until_idle_s: float | None,
    stop: Event | None,
    upstream_busy: Callable[[], bool] | None,
) -> None:
    """Feed ``source_table``'s new appends to ``process`` micro-batch by micro-batch until told to stop."""
    stream = read_table_stream(spark, source_table)
    query = start_foreach_batch(
        stream,
        process,
        checkpoint=checkpoint_location(settings, name),
        trigger_seconds=settings.trigger_seconds,
        name=name,
    )
    await_query(query, until_idle_s=until_idle_s, stop=stop or Event(), upstream_busy=upstream_busy)


def _utf8_reader(spark: SparkSession, stream: Any) -> Any:
    reader = java_class(spark, "java.io.InputStreamReader")(stream, "UTF-8")
    return java_class(spark, "java.io.BufferedReader")(reader)
