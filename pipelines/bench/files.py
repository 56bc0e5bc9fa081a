"""Files and snapshots of each table, read with pyiceberg: what a streaming hour leaves behind."""

from __future__ import annotations

from typing import Any

from catalog.tables import ALL_TABLES
from pipelines.adapters.iceberg import pyiceberg_catalog
from pipelines.settings import Settings


def table_files(settings: Settings, *, since: float, until: float) -> dict[str, Any]:
    """Per table: snapshots and files committed in ``[since, until]`` (scaled per hour), and what is live now."""
    catalog = pyiceberg_catalog(settings)
    hours = max(until - since, 1e-9) / 3600
    tables: dict[str, Any] = {}
    for definition in ALL_TABLES:
        table = catalog.load_table(definition.identifier)
        snapshots = table.snapshots()
        in_window = [s for s in snapshots if since * 1000 <= s.timestamp_ms <= until * 1000]
        added = sum(
            int(s.summary.additional_properties.get("added-data-files", 0))
            + int(s.summary.additional_properties.get("added-delete-files", 0))
            for s in in_window
            if s.summary is not None
        )
        current = table.current_snapshot()
        summary = current.summary.additional_properties if current and current.summary else {}
        tables[definition.identifier] = {
            "snapshots_per_hour": round(len(in_window) / hours, 1),
            "files_added_per_hour": round(added / hours, 1),
            "snapshots": len(snapshots),
            "data_files": int(summary.get("total-data-files", 0)),
            "delete_files": int(summary.get("total-delete-files", 0)),
            "records": int(summary.get("total-records", 0)),
        }
    return tables
