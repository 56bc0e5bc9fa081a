"""Exactly-once commits: every Iceberg commit says who wrote it and which batch it was.

Each writer stamps its snapshots with ``telcopulse.writer``, ``telcopulse.query-id`` and
``telcopulse.batch-id`` (plus what it needs to resume, e.g. bronze's shard positions). Before a
commit, the writer looks up its newest stamped snapshot: a batch at or below that id was committed
already and is skipped, so a replay after a crash never commits twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

WRITER = "telcopulse.writer"
QUERY_ID = "telcopulse.query-id"
BATCH_ID = "telcopulse.batch-id"
POSITIONS = "telcopulse.positions"


@dataclass(frozen=True)
class Stamp:
    """What a commit records about itself."""

    writer: str
    query_id: str
    batch_id: int
    extra: Mapping[str, str] | None = None

    def properties(self) -> dict[str, str]:
        return {WRITER: self.writer, QUERY_ID: self.query_id, BATCH_ID: str(self.batch_id), **(self.extra or {})}


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


def append(df: DataFrame, table: str, stamp: Stamp) -> None:
    """Append ``df`` in one commit stamped with ``stamp``."""
    writer = df.writeTo(table)
    for key, value in stamp.properties().items():
        writer = writer.option(f"snapshot-property.{key}", value)
    writer.append()


def append_once(df: DataFrame, table: str, stamp: Stamp) -> bool:
    """Append unless this batch was committed before; returns whether it wrote."""
    if is_committed(df.sparkSession, table, stamp):
        return False
    append(df, table, stamp)
    return True


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
