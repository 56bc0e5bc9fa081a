"""Helpers for tests that look at a home written by a child process (pyiceberg or DuckDB's delta, not Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.adapters.iceberg import pyiceberg_catalog
from pipelines.settings import Settings


def read_table(settings: Settings, identifier: str) -> pa.Table:
    """The current content of ``identifier`` in ``settings``' lake: pyiceberg, or DuckDB's ``delta_scan``."""
    if settings.is_delta:
        from pipelines.adapters.duckdb_engine import extension_path

        with duckdb.connect(config={"autoinstall_known_extensions": False}) as connection:
            connection.execute(f"LOAD '{extension_path('delta')}'")
            connection.execute("SET TimeZone = 'UTC'")
            location = str(settings.table_path(identifier)).replace("'", "''")
            return connection.execute(f"SELECT * FROM delta_scan('{location}')").fetch_arrow_table()
    return pyiceberg_catalog(settings).load_table(identifier).scan().to_arrow()


def snapshot_summaries(settings: Settings, identifier: str) -> list[dict[str, str]]:
    """Each commit's stamp and operation: Iceberg snapshot summaries, or Delta commits' ``userMetadata``."""
    if settings.is_delta:
        return [
            {**json.loads(info.get("userMetadata") or "{}"), "operation": info["operation"]}
            for info in _delta_commit_infos(settings.table_path(identifier))
        ]
    table = pyiceberg_catalog(settings).load_table(identifier)
    return [
        dict(s.summary.additional_properties) | {"operation": s.summary.operation.value}
        for s in table.snapshots()
    ]


def _delta_commit_infos(path: Path) -> list[dict[str, str]]:
    infos = []
    for commit in sorted((path / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                infos.append(action["commitInfo"])
    return infos
