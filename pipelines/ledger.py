"""Exactly-once commits: every table commit says who wrote it and which batch it was.

Each writer stamps its commits with ``telcopulse.writer``, ``telcopulse.query-id`` and
``telcopulse.batch-id`` (plus what it needs to resume, e.g. bronze's shard positions). Before a
commit, the writer looks up its newest stamped commit: a batch at or below that id was committed
already and is skipped, so a replay after a crash never commits twice.

Where the stamp lives depends on the table format (``settings.table_format``):
- Iceberg: the snapshot summary (``snapshot-property.*`` write options; ``CommitMetadata`` for SQL writes),
  read back from the table's snapshots (newest first, through Iceberg's Java API).
- Delta Lake: the commit's ``userMetadata`` (a JSON object of the same properties), read back with
  ``DESCRIBE HISTORY``; and Delta's own idempotent-write marker on top (``txnAppId`` = writer/query id,
  ``txnVersion`` = batch id), so Delta itself also refuses a batch it has seen.
The jobs call the same functions for either format: the table's Spark name says which it is.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.spark import java_class

WRITER = "telcopulse.writer"
QUERY_ID = "telcopulse.query-id"
BATCH_ID = "telcopulse.batch-id"
POSITIONS = "telcopulse.positions"
MAX_WRITE_ATTEMPTS = 10
RETRYABLE = (
    "database is locked",
    "SQLITE_BUSY",
    "ValidationException",
    "CommitFailedException",
    "CommitStateUnknownException",
    # Delta's optimistic concurrency: a concurrent commit conflicted; nothing was committed.
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT",
)
ADDED_RECORDS = "added-records"
# Delta's commit metrics under the Iceberg summary's names, so that callers read one vocabulary.
_DELTA_ADDED_RECORDS = ("numTargetRowsInserted", "numOutputRows")  # MERGE, then a write
_RECENT_HISTORY = 50
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stamp:
    """What a commit records about itself."""

    writer: str
    query_id: str
    batch_id: int
    extra: Mapping[str, str] | None = None

    @property
    def txn_app_id(self) -> str:
        """Delta's idempotent-write application id: one per writer and streaming query."""
        return f"{self.writer}/{self.query_id}"

    def properties(self) -> dict[str, str]:
        return {
            WRITER: self.writer,
            QUERY_ID: self.query_id,
            BATCH_ID: str(self.batch_id),
            **(self.extra or {}),
        }


def is_delta(table: str) -> bool:
    """True for a Delta table's Spark name (``settings.table`` names Delta tables by path or ``spark_catalog``)."""
    return table.startswith(("delta.`", "spark_catalog."))


def delta_path(table: str) -> str | None:
    """The location in a path-named Delta table's Spark name (``delta.`<location>` ``); None for other names."""
    return table.removeprefix("delta.`").removesuffix("`") if table.startswith("delta.`") else None


def last_stamp(spark: SparkSession, table: str, writer: str) -> dict[str, str] | None:
    """Summary of ``writer``'s newest commit of ``table``, or None if it never committed."""
    if is_delta(table):
        return _delta_stamp(spark, table, F.col("stamp")[WRITER] == writer)
    return _iceberg_stamp(spark, table, writer)


def is_committed(spark: SparkSession, table: str, stamp: Stamp) -> bool:
    """True if ``stamp``'s batch (or a later one of the same query) is already in ``table``."""
    last = last_stamp(spark, table, stamp.writer)
    return last is not None and last.get(QUERY_ID) == stamp.query_id and int(last[BATCH_ID]) >= stamp.batch_id


def committed_summary(spark: SparkSession, table: str, stamp: Stamp) -> dict[str, str] | None:
    """The summary of the commit that carried exactly ``stamp``'s batch, or None if it has not committed."""
    if is_delta(table):
        stamped = F.col("stamp")
        return _delta_stamp(
            spark,
            table,
            (stamped[WRITER] == stamp.writer)
            & (stamped[QUERY_ID] == stamp.query_id)
            & (stamped[BATCH_ID] == str(stamp.batch_id)),
        )
    return _iceberg_stamp(spark, table, stamp.writer, exactly=stamp)


def _iceberg_stamp(
    spark: SparkSession, table: str, writer: str, *, exactly: Stamp | None = None
) -> dict[str, str] | None:
    """The summary of ``writer``'s newest commit of ``table`` (or of the commit carrying exactly ``exactly``).

    Read from the table's metadata through Iceberg's own API, newest snapshot first: the commit sought is
    almost always among the newest, so this reads one or two snapshots where a query on ``<table>.snapshots``
    planned and ran a Spark job over all of them (several times per micro-batch). Every kept snapshot
    counts, as in ``<table>.snapshots``. A query's batches commit in order, so once the walk reaches an
    earlier batch of the same query, the exact batch is not in the table.
    """
    session = spark._jsparkSession
    # Table names resolve against the session of the calling JVM thread (a writer thread has none yet).
    java_class(spark, "org.apache.spark.sql.SparkSession").setActiveSession(session)
    snapshots = java_class(spark, "org.apache.iceberg.spark.Spark3Util").loadIcebergTable(session, table).snapshots()
    for index in range(snapshots.size() - 1, -1, -1):
        summary = snapshots.get(index).summary()
        if summary.get(WRITER) != writer:
            continue
        if exactly is None:
            return _as_dict(spark, summary)
        if summary.get(QUERY_ID) != exactly.query_id:
            continue
        batch = int(summary.get(BATCH_ID) or -1)
        if batch == exactly.batch_id:
            return _as_dict(spark, summary)
        if batch < exactly.batch_id:
            return None
    return None


def _as_dict(spark: SparkSession, summary: Any) -> dict[str, str]:
    """A Java map of strings as a dict, in one round trip: Iceberg's JSON mapper writes it on the JVM side.

    ``dict(java_map)`` walks py4j's iterator, which ends by raising ``NoSuchElementException`` in the JVM;
    pyspark converts each such error, testing its class a dozen times by name (a search of every jar
    each): 13 ms per summary on a quiet machine, against 0.7 ms this way.
    """
    mapper = java_class(spark, "org.apache.iceberg.util.JsonUtil").mapper()
    return {str(key): str(value) for key, value in json.loads(mapper.writeValueAsString(summary)).items()}


def _delta_stamp(spark: SparkSession, table: str, condition: Column) -> dict[str, str] | None:
    """The newest Delta commit of ``table`` whose stamp meets ``condition``: its stamp plus ``added-records``.

    The commit sought is almost always among the newest (each table has one writer), so the recent history
    is read first and the whole history only when the recent one does not hold it.
    """
    for limit in (_RECENT_HISTORY, None):
        history = spark.sql(f"DESCRIBE HISTORY {table}" + (f" LIMIT {limit}" if limit else ""))
        rows = (
            history.where(F.col("userMetadata").isNotNull())
            .select("version", "operationMetrics", F.from_json("userMetadata", "map<string,string>").alias("stamp"))
            .where(condition)
            .orderBy(F.col("version").desc())
            .limit(1)
            .collect()
        )
        if rows:
            metrics = rows[0]["operationMetrics"] or {}
            added = next((metrics[key] for key in _DELTA_ADDED_RECORDS if key in metrics), "0")
            return {**rows[0]["stamp"], ADDED_RECORDS: str(added)}
        if limit is not None and history.count() < limit:
            return None  # the recent history was the whole history
    return None


def _append(df: DataFrame, table: str, stamp: Stamp) -> None:
    if is_delta(table):
        _delta_append(df, table, stamp)
        return
    # A micro-batch is written as its tasks hold it: Iceberg's default distribution shuffles it by partition
    # (a batch is one day or two: one task) and then merges that into one task, so a whole batch was sorted
    # and encoded on one core. Each task still sorts its rows by the table's sort order.
    writer = df.writeTo(table).option("distribution-mode", "none")
    for key, value in stamp.properties().items():
        writer = writer.option(f"snapshot-property.{key}", value)
    writer.append()


def _delta_append(df: DataFrame, table: str, stamp: Stamp) -> None:
    writer = (
        df.write.format("delta")
        .mode("append")
        .option("txnAppId", stamp.txn_app_id)
        .option("txnVersion", str(stamp.batch_id))
        .option("userMetadata", json.dumps(stamp.properties()))
    )
    path = delta_path(table)
    if path is not None:
        writer.save(path)
    else:
        writer.saveAsTable(table)


def append_once(df: DataFrame, table: str, stamp: Stamp) -> bool:
    """Append ``df`` in one commit stamped with ``stamp``, unless that batch is already in ``table``."""
    return write_once(df.sparkSession, table, stamp, lambda: _append(df, table, stamp))


def run_once(spark: SparkSession, table: str, stamp: Stamp, sql: str) -> bool:
    """Run a SQL write (MERGE INTO, ...) stamped with ``stamp``, unless that batch is already in ``table``."""
    return write_once(
        spark, table, stamp, lambda: run_stamped(spark, stamp, lambda: spark.sql(sql), delta=is_delta(table))
    )


def write_once(spark: SparkSession, table: str, stamp: Stamp, write: Callable[[], Any]) -> bool:
    """The exactly-once rule: check the stamp, write, and on a retryable failure check again before retrying.

    Retryable: a commit conflict (Iceberg validates a MERGE against concurrent commits and fails rather
    than double-count) and a busy local catalog (SQLite refuses one of two concurrent writers at once).
    Neither commits anything, and a twin that did commit is found by the re-check.
    """
    for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
        if is_committed(spark, table, stamp):
            return False
        try:
            write()
            return True
        except Exception as exc:
            message = str(exc)
            if attempt == MAX_WRITE_ATTEMPTS or not any(marker in message for marker in RETRYABLE):
                raise
            log.warning(
                "write to %s failed (attempt %d), will retry: %s",
                table,
                attempt,
                next((m for m in RETRYABLE if m in message), "?"),
            )
            time.sleep(min(0.1 * 2**attempt, 5.0) * (1 + random.random()))
    return False


def write_all(writes: Sequence[Callable[[], Any]], *, tables: Sequence[str]) -> None:
    """Run independent stamped writes, one per table: side by side on Iceberg, one after another on Delta.

    A micro-batch's commits to different tables need not wait for each other: each write's planning, file
    I/O and catalog commit overlap the others'. On Iceberg each stamp stays with its own write (pyspark
    pins every Python thread to a JVM thread, and ``CommitMetadata`` is thread-local); Delta takes its stamp
    from session settings that all threads share, so there they run in order. Every write runs to its end
    (each is exactly-once on its own); the first failure is then raised.
    """
    if len(writes) < 2 or any(is_delta(table) for table in tables):
        for write in writes:
            write()
        return
    with ThreadPoolExecutor(max_workers=len(writes), thread_name_prefix="telcopulse-write") as pool:
        futures = [pool.submit(write) for write in writes]
    for future in futures:
        if (error := future.exception()) is not None:
            raise error


class _JavaCallable:
    """A Python function as ``java.util.concurrent.Callable`` (py4j calls back on the same JVM thread)."""

    def __init__(self, fn: Callable[[], Any]):
        self._fn = fn

    def call(self) -> None:
        self._fn()

    class Java:
        implements = ["java.util.concurrent.Callable"]


def run_stamped(spark: SparkSession, stamp: Stamp, statement: Callable[[], Any], *, delta: bool = False) -> None:
    """Run a SQL write (MERGE INTO, DELETE, ...) so that its commit carries ``stamp``.

    Iceberg's ``CommitMetadata`` keeps the properties in a JVM thread-local for the duration of the call.
    Delta reads them from session settings (``userMetadata`` and the idempotent-write pair ``txnAppId`` /
    ``txnVersion``), set for this statement only.
    """
    if delta:
        _run_delta_stamped(spark, stamp, statement)
        return
    properties = java_class(spark, "java.util.HashMap")()
    for key, value in stamp.properties().items():
        properties.put(key, value)
    exception_class = java_class(spark, "java.lang.Class").forName("java.lang.RuntimeException")
    java_class(spark, "org.apache.iceberg.spark.CommitMetadata").withCommitProperties(
        properties, _JavaCallable(statement), exception_class
    )


_DELTA_SQL_STAMP = (
    "spark.databricks.delta.commitInfo.userMetadata",
    "spark.databricks.delta.write.txnAppId",
    "spark.databricks.delta.write.txnVersion",
)


def _run_delta_stamped(spark: SparkSession, stamp: Stamp, statement: Callable[[], Any]) -> None:
    values = (json.dumps(stamp.properties()), stamp.txn_app_id, str(stamp.batch_id))
    for key, value in zip(_DELTA_SQL_STAMP, values, strict=True):
        spark.conf.set(key, value)
    try:
        statement()
    finally:
        for key in _DELTA_SQL_STAMP:
            spark.conf.unset(key)


def positions_of(stamp: Mapping[str, str] | None) -> dict[str, str]:
    """Bronze's shard positions recorded in a stamp (empty: read every shard from its start)."""
    if not stamp or POSITIONS not in stamp:
        return {}
    return dict(json.loads(stamp[POSITIONS]))
