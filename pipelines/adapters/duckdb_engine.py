"""DuckDB over the local Iceberg tables: every table and analyst view under its Glue name, in-process.

DuckDB cannot ATTACH a SQL (SQLite) Iceberg catalog, so the engine reads each table's current
``metadata_location`` from the catalog database and keeps one view per table
(``telcopulse_gold.operator_kpis`` = ``iceberg_scan('<metadata.json>')``) plus one per snapshot list
(``telcopulse_gold."operator_kpis$snapshots"``, shaped like Athena's metadata table). Before every query it
re-reads the locations (one indexed SQLite query, well under a millisecond) and replaces only the views whose
table has committed since.
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from catalog.tables import ALL_TABLES
from pipelines.errors import QueryEngineError, SetupMissingError
from pipelines.query.views import AnalystView, analyst_views
from pipelines.settings import Settings

log = logging.getLogger(__name__)

# avro first: loading iceberg first makes DuckDB try to download avro, which fails offline.
EXTENSIONS = ("avro", "iceberg")
SNAPSHOTS_SUFFIX = "$snapshots"


def extension_path(name: str) -> Path:
    """The signed extension binary that the ``duckdb-extension-<name>`` package ships for this DuckDB."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise SetupMissingError(f"the duckdb-extension-{name} package is not installed: run `make setup`")
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise SetupMissingError(f"duckdb-extension-{name} has no build for this DuckDB: {path}")
    return path


def quote_identifier(name: str) -> str:
    """A DuckDB/Trino identifier in double quotes, so names like ``operator_kpis$snapshots`` stay one name."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A SQL string literal; only for locations read from the catalog, which DDL cannot take as parameters."""
    return "'" + text.replace("'", "''") + "'"


def read_metadata_locations(catalog_db: Path, catalog_name: str) -> dict[tuple[str, str], str]:
    """Current ``metadata.json`` of every table in the SQLite catalog, keyed by (namespace, table).

    Raises:
        QueryEngineError: the catalog database does not exist or has no table list yet.
    """
    if not catalog_db.is_file():
        raise QueryEngineError(
            f"no Iceberg catalog at {catalog_db}: "
            "start the pipeline (`telcopulse run all`) or point TELCOPULSE_HOME at its home"
        )
    try:
        # Read-only: a reader must never create or lock the catalog that the jobs commit to.
        with closing(sqlite3.connect(f"file:{catalog_db}?mode=ro", uri=True, timeout=5)) as connection:
            columns = {
                row[0] for row in connection.execute("SELECT name FROM pragma_table_info('iceberg_tables')")
            }
            # Catalog schema V1 keeps Iceberg views in the same table, marked by iceberg_type.
            only_tables = (
                " AND (iceberg_type IS NULL OR iceberg_type = 'TABLE')" if "iceberg_type" in columns else ""
            )
            rows = connection.execute(
                "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
                f"WHERE catalog_name = ?{only_tables}",
                (catalog_name,),
            ).fetchall()
    except sqlite3.Error as exc:
        raise QueryEngineError(f"cannot read the Iceberg catalog at {catalog_db}: {exc}") from exc
    return {(namespace, name): location for namespace, name, location in rows if location}


class DuckDBQueryEngine:
    """In-process DuckDB (no server, no network) over the tables of ``settings``' local catalog."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._locations: dict[tuple[str, str], str] = {}
        self._created_views: set[str] = set()
        self._views = analyst_views()
        self._connection = self._connect(settings)

    @staticmethod
    def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
        settings.duckdb_extension_dir.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(
            ":memory:",
            config={
                # Everything DuckDB would put in the user's home goes under the project's cache instead,
                # and nothing is ever fetched: the extensions come from their Python packages.
                "extension_directory": str(settings.duckdb_extension_dir),
                "secret_directory": str(settings.duckdb_extension_dir / "secrets"),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        for name in EXTENSIONS:
            connection.execute(f"LOAD {quote_literal(str(extension_path(name)))}")
        connection.execute("SET TimeZone = 'UTC'")
        return connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run ``sql`` with ``?`` parameters bound by DuckDB, on the tables' current snapshots.

        Raises:
            QueryEngineError: the catalog or a table is missing, or DuckDB rejects the query.
        """
        with self._lock:
            self.refresh()
            try:
                try:
                    return self._connection.execute(sql, list(params)).fetch_arrow_table()
                except duckdb.IOException:
                    # A commit between our refresh and the scan may have removed the metadata we pointed at
                    # (metadata.delete-after-commit): point at the new one and try once more.
                    self.refresh()
                    return self._connection.execute(sql, list(params)).fetch_arrow_table()
            except duckdb.CatalogException as exc:
                raise QueryEngineError(self._missing_table_message(exc)) from exc
            except duckdb.Error as exc:
                raise QueryEngineError(f"query failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def refresh(self) -> None:
        """Point each table's views at its current metadata; create analyst views once their tables exist."""
        with self._lock:
            locations = read_metadata_locations(self._settings.catalog_db, self._settings.catalog_name)
            changed = {key: loc for key, loc in locations.items() if self._locations.get(key) != loc}
            for (namespace, name), location in changed.items():
                self._point_table_views(namespace, name, location)
            self._locations = locations
            if changed:
                self._create_analyst_views()

    def _point_table_views(self, namespace: str, name: str, location: str) -> None:
        schema = quote_identifier(namespace)
        self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._connection.execute(
            f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(name)} AS "
            f"SELECT * FROM iceberg_scan({quote_literal(location)})"
        )
        # Same columns as Athena's "<table>$snapshots", so that freshness SQL runs on either engine.
        self._connection.execute(
            f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(name + SNAPSHOTS_SUFFIX)} AS "
            "SELECT timestamp_ms AT TIME ZONE 'UTC' AS committed_at, snapshot_id, sequence_number, "
            f"operation, manifest_list FROM iceberg_snapshots({quote_literal(location)})"
        )

    def _create_analyst_views(self) -> None:
        for view in self._views:
            if view.name in self._created_views or not self._has_tables(view):
                continue
            schema = view.name.split(".", 1)[0]
            self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
            try:
                self._connection.execute(view.duckdb_sql)
            except duckdb.Error as exc:
                raise QueryEngineError(f"view {view.name} does not run on DuckDB: {exc}") from exc
            self._created_views.add(view.name)

    def _has_tables(self, view: AnalystView) -> bool:
        known = {f"{namespace}.{name}" for namespace, name in self._locations} | self._created_views
        return all(table in known for table in view.tables)

    def _missing_table_message(self, exc: duckdb.Error) -> str:
        expected = {table.identifier for table in ALL_TABLES}
        present = {f"{namespace}.{name}" for namespace, name in self._locations}
        missing = sorted(expected - present)
        hint = (
            f"; tables not yet in the catalog at {self._settings.catalog_db}: {', '.join(missing)} "
            "(the jobs create them at start: `telcopulse run all`)"
            if missing
            else ""
        )
        return f"{exc}{hint}"
