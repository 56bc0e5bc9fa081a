"""Exactly-once commits: every Iceberg commit says who wrote it and which batch it was.

Each writer stamps its snapshots with ``telcopulse.writer``, ``telcopulse.query-id`` and
``telcopulse.batch-id`` (plus what it needs to resume, e.g. bronze's shard positions). Before a
commit, the writer looks up its newest stamped snapshot: a batch at or below that id was committed
already and is skipped, so a replay after a crash never commits twice.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

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
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stamp:
    """What a commit records about itself."""

    writer: str
    query_id: str
    batch_id: int
    extra: Mapping[str, str] | None = None

    def properties(self) -> dict[str, str]:
        return {
            WRITER: self.writer,
            QUERY_ID: self.query_id,
            BATCH_ID: str(self.batch_id),
            **(self.extra or {}),
        }


def last_stamp(spark: SparkSession, table: str, writer: str) -> dict[str, str] | None:
    """Summary of ``writer``'s newest snapshot of ``table``, or None if it never committed."""
    rows = spark.sql(
        f"SELECT summary FROM {table}.snapshots WHERE summary['{WRITER}'] = '{writer}' "
        "ORDER BY committed_at DESC, snapshot_id DESC LIMIT 1"
    ).collect()
    return dict(rows[0]["summary"]) if rows else None


def is_committed(spark: SparkSession, table: str, stamp: Stamp) -> bool:
    """True if ``stamp``'s batch (or a later one of the same query) is already in ``table``."""
    last = last_stamp(spark, table, stamp.writer)
    return last is not None and last.get(QUERY_ID) == stamp.query_id and int(last[BATCH_ID]) >= stamp.batch_id


def committed_summary(spark: SparkSession, table: str, stamp: Stamp) -> dict[str, str] | None:
    """The summary of the commit that carried exactly ``stamp``'s batch, or None if it has not committed."""
    rows = spark.sql(
        f"SELECT summary FROM {table}.snapshots WHERE summary['{WRITER}'] = '{stamp.writer}' "
        f"AND summary['{QUERY_ID}'] = '{stamp.query_id}' AND summary['{BATCH_ID}'] = '{stamp.batch_id}' LIMIT 1"
    ).collect()
    return dict(rows[0]["summary"]) if rows else None


def _append(df: DataFrame, table: str, stamp: Stamp) -> None:
    writer = df.writeTo(table)
    for key, value in stamp.properties().items():
        writer = writer.option(f"snapshot-property.{key}", value)
    writer.append()


def append_once(df: DataFrame, table: str, stamp: Stamp) -> bool:
    """Append ``df`` in one commit stamped with ``stamp``, unless that batch is already in ``table``."""
    return write_once(df.sparkSession, table, stamp, lambda: _append(df, table, stamp))


def run_once(spark: SparkSession, table: str, stamp: Stamp, sql: str) -> bool:
    """Run a SQL write (MERGE INTO, ...) stamped with ``stamp``, unless that batch is already in ``table``."""
    return write_once(spark, table, stamp, lambda: run_stamped(spark, stamp, lambda: spark.sql(sql)))


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


class _JavaCallable:
    """A Python function as ``java.util.concurrent.Callable`` (py4j calls back on the same JVM thread)."""

    def __init__(self, fn: Callable[[], Any]):
        self._fn = fn

    def call(self) -> None:
        self._fn()

    class Java:
        implements = ["java.util.concurrent.Callable"]


def run_stamped(spark: SparkSession, stamp: Stamp, statement: Callable[[], Any]) -> None:
    """Run a SQL write (MERGE INTO, DELETE, ...) so that its commit carries ``stamp``.

    Iceberg's ``CommitMetadata`` keeps the properties in a JVM thread-local for the duration of the call.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    properties = jvm.java.util.HashMap()
    for key, value in stamp.properties().items():
        properties.put(key, value)
    exception_class = jvm.java.lang.Class.forName("java.lang.RuntimeException")
    jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
        properties, _JavaCallable(statement), exception_class
    )


def positions_of(stamp: Mapping[str, str] | None) -> dict[str, str]:
    """Bronze's shard positions recorded in a stamp (empty: read every shard from its start)."""
    if not stamp or POSITIONS not in stamp:
        return {}
    return dict(json.loads(stamp[POSITIONS]))
