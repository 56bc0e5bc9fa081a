"""Helpers for tests that look at a home written by a child process (through pyiceberg, not Spark)."""

from __future__ import annotations

import pyarrow as pa

from pipelines.adapters.iceberg import pyiceberg_catalog
from pipelines.settings import Settings


def read_table(settings: Settings, identifier: str) -> pa.Table:
    """The current content of ``identifier`` in ``settings``' catalog, read by pyiceberg."""
    return pyiceberg_catalog(settings).load_table(identifier).scan().to_arrow()


def snapshot_summaries(settings: Settings, identifier: str) -> list[dict[str, str]]:
    table = pyiceberg_catalog(settings).load_table(identifier)
    return [
        dict(s.summary.additional_properties) | {"operation": s.summary.operation.value}
        for s in table.snapshots()
    ]
