"""Table histories for the operations tools: pyiceberg (no Spark: `status`) or Spark's metadata tables.

Both return every kept snapshot with its summary and the current snapshot of ``main``, as
``pipelines.ops.history.History``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from pyspark.sql import SparkSession

from pipelines.ops.history import History, SnapshotInfo
from pipelines.settings import Settings


class TableHistory(Protocol):
    """The snapshot history of a table, by its Glue name (``telcopulse_bronze.network_events``)."""

    def history(self, identifier: str) -> History:
        """Every kept snapshot and the current one; an empty history if the table has no snapshot."""
        ...


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PyIcebergHistory:
    """Histories read by pyiceberg from the catalog (SQLite locally, Glue on AWS); metadata only."""

    def __init__(self, settings: Settings) -> None:
        from pipelines.adapters.iceberg import pyiceberg_catalog

        # The local catalog is V0 on purpose (pipelines/spark.py); pyiceberg warns about it on every open.
        logging.getLogger("pyiceberg.catalog.sql").setLevel(logging.ERROR)
        self._catalog = pyiceberg_catalog(settings)

    def table(self, identifier: str) -> Any:
        return self._catalog.load_table(identifier)

    def history(self, identifier: str) -> History:
        metadata = self.table(identifier).metadata
        snapshots = tuple(
            SnapshotInfo(
                snapshot_id=s.snapshot_id,
                parent_id=s.parent_snapshot_id,
                committed_at=datetime.fromtimestamp(s.timestamp_ms / 1000, UTC),
                operation=s.summary.operation.value if s.summary else "",
                summary={str(k): str(v) for k, v in (s.summary.additional_properties if s.summary else {}).items()},
            )
            for s in metadata.snapshots
        )
        return History(snapshots, metadata.current_snapshot_id)

    def dq_counts(self, identifier: str, since: datetime) -> tuple[int, int]:
        """Sums of ``rows_in`` and ``rows_valid`` over the data-quality rows validated at or after ``since``."""
        moment = since.astimezone(UTC).isoformat()  # Spark's TIMESTAMP is Iceberg's timestamptz
        rows = (
            self.table(identifier)
            .scan(row_filter=f"validated_at >= '{moment}'", selected_fields=("rows_in", "rows_valid"))
            .to_arrow()
        )
        return sum(rows.column("rows_in").to_pylist()), sum(rows.column("rows_valid").to_pylist())


class SparkHistory:
    """Histories through Spark: Iceberg's metadata tables (``<table>.snapshots``, ``<table>.refs``); a Delta
    table's history is its log, read as ``DeltaLogHistory`` reads it (no Spark needed).
    """

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self._spark = spark
        self._settings = settings

    def history(self, identifier: str) -> History:
        if self._settings.is_delta:
            return self._delta_history(identifier)
        table = self._settings.table(identifier)
        rows = self._spark.sql(
            f"SELECT snapshot_id, parent_id, committed_at, operation, summary FROM {table}.snapshots"
        ).collect()
        current = self._spark.sql(f"SELECT snapshot_id FROM {table}.refs WHERE name = 'main'").collect()
        snapshots = tuple(
            SnapshotInfo(
                snapshot_id=int(r["snapshot_id"]),
                parent_id=int(r["parent_id"]) if r["parent_id"] is not None else None,
                committed_at=_utc(r["committed_at"]),
                operation=str(r["operation"]),
                summary=dict(r["summary"] or {}),
            )
            for r in rows
        )
        return History(snapshots, int(current[0][0]) if current else None)

    def _delta_history(self, identifier: str) -> History:
        from pipelines.adapters.delta_history import DeltaLogHistory

        return DeltaLogHistory(self._settings).history(identifier)
