"""DuckDB over the local Iceberg or Delta Lake tables: every table and analyst view under its Glue name, in-process.

Iceberg: DuckDB cannot ATTACH a SQL (SQLite) Iceberg catalog, so the engine reads each table's current
``metadata_location`` from the catalog database and keeps one view per table
(``telcopulse_gold.operator_kpis`` = ``iceberg_scan('<metadata.json>')``) plus one per snapshot list
(``telcopulse_gold."operator_kpis$snapshots"``, shaped like Athena's metadata table). Before every query it
re-reads the locations (one indexed SQLite query, well under a millisecond) and replaces only the views whose
table has committed since.

Delta (``TELCOPULSE_TABLE_FORMAT=delta``): a table exists once its ``_delta_log`` holds a commit; its view is
``delta_scan('<folder>')`` and its ``$snapshots`` (same columns) is a table of the log's commits. Before every
query the engine checks whether the file of each table's next version exists (no listing of the log) and reads
only the commits added since.
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from catalog.tables import ALL_TABLES
from pipelines.adapters.delta_history import DeltaLog
from pipelines.errors import QueryEngineError, SetupMissingError
from pipelines.query.views import AnalystView, analyst_views
from pipelines.settings import Settings, TableFormat

log = logging.getLogger(__name__)

# avro first: loading iceberg first makes DuckDB try to download avro, which fails offline.
EXTENSIONS = {TableFormat.ICEBERG: ("avro", "iceberg"), TableFormat.DELTA: ("delta",)}
SNAPSHOTS_SUFFIX = "$snapshots"
# The columns (and DuckDB types) of the Iceberg "<table>$snapshots" view, shaped like Athena's metadata table.
SNAPSHOTS_COLUMNS = (
    "committed_at TIMESTAMPTZ, snapshot_id UBIGINT, sequence_number UBIGINT, operation VARCHAR, manifest_list VARCHAR"
)
TableKey = tuple[str, str]


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


def connect(settings: Settings, extensions: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``extensions`` loaded from their Python packages, in UTC, never fetching anything."""
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
    for name in extensions:
        connection.execute(f"LOAD {quote_literal(str(extension_path(name)))}")
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def read_metadata_locations(catalog_db: Path, catalog_name: str) -> dict[TableKey, str]:
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


class _LakeTables(Protocol):
    """Where the engine learns which tables exist and points their views (one implementation per table format)."""

    where: str  # where missing tables are looked for, for error messages

    def current(self) -> dict[TableKey, str]:
        """Every table that exists, with a marker that changes whenever the table commits."""
        ...

    def point_views(self, connection: duckdb.DuckDBPyConnection, key: TableKey, marker: str) -> None:
        """(Re)create the table's view and its ``$snapshots`` for the state ``marker`` names."""
        ...


class _IcebergTables:
    """Iceberg: the tables of the SQLite catalog, each marked by its current ``metadata.json``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.where = f"in the catalog at {settings.catalog_db}"

    def current(self) -> dict[TableKey, str]:
        return read_metadata_locations(self._settings.catalog_db, self._settings.catalog_name)

    def point_views(self, connection: duckdb.DuckDBPyConnection, key: TableKey, location: str) -> None:
        schema, name = quote_identifier(key[0]), key[1]
        connection.execute(
            f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(name)} AS "
            f"SELECT * FROM iceberg_scan({quote_literal(location)})"
        )
        # Same columns as Athena's "<table>$snapshots", so that freshness SQL runs on either engine.
        connection.execute(
            f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(name + SNAPSHOTS_SUFFIX)} AS "
            "SELECT timestamp_ms AT TIME ZONE 'UTC' AS committed_at, snapshot_id, sequence_number, "
            f"operation, manifest_list FROM iceberg_snapshots({quote_literal(location)})"
        )


class _DeltaTables:
    """Delta: every table whose ``_delta_log`` holds a commit, marked by its newest version.

    ``$snapshots`` is a table of the commits (version as snapshot id and sequence number, Iceberg's operation
    names, the commit file as manifest list), extended by the commits since the last refresh.
    """

    def __init__(self, settings: Settings) -> None:
        self._logs = {(t.namespace, t.name): DeltaLog(settings.table_location(t.identifier)) for t in ALL_TABLES}
        self._folders = {(t.namespace, t.name): str(settings.table_path(t.identifier)) for t in ALL_TABLES}
        self._loaded: dict[TableKey, int] = {}  # the newest version whose commit is in "$snapshots"
        self.where = f"under {settings.table_path(ALL_TABLES[0].identifier).parents[1]}"

    def current(self) -> dict[TableKey, str]:
        found = {}
        for key, log in self._logs.items():
            known = self._loaded.get(key)
            version = log.newest_version(known)
            if version is None or (known is not None and version < known):
                self._loaded.pop(key, None)  # dropped or re-created: its commits are read again
            if version is not None:
                found[key] = str(version)
        return found

    def point_views(self, connection: duckdb.DuckDBPyConnection, key: TableKey, version: str) -> None:
        log = self._logs[key]
        schema, name = quote_identifier(key[0]), key[1]
        snapshots = f"{schema}.{quote_identifier(name + SNAPSHOTS_SUFFIX)}"
        connection.execute(
            f"CREATE OR REPLACE VIEW {schema}.{quote_identifier(name)} AS "
            f"SELECT * FROM delta_scan({quote_literal(self._folders[key])})"
        )
        known = self._loaded.get(key)
        if known is None:
            connection.execute(f"CREATE OR REPLACE TABLE {snapshots} ({SNAPSHOTS_COLUMNS})")
            versions = log.listing()[0]
        else:
            versions = list(range(known + 1, int(version) + 1))
        rows = [
            (commit.committed_at, commit.version, commit.version, commit.operation, log.commit_uri(commit.version))
            for commit in log.read_commits(versions)
        ]
        if rows:
            connection.executemany(f"INSERT INTO {snapshots} VALUES (?, ?, ?, ?, ?)", rows)
        self._loaded[key] = int(version)


class DuckDBQueryEngine:
    """In-process DuckDB (no server, no network) over the tables of ``settings``' local lake."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._tables: _LakeTables = _DeltaTables(settings) if settings.is_delta else _IcebergTables(settings)
        self._locations: dict[TableKey, str] = {}
        self._created_views: set[str] = set()
        self._views = analyst_views()
        self._connection = connect(settings, EXTENSIONS[settings.table_format])

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
                    # A commit between our refresh and the scan may have removed the files we pointed at
                    # (metadata.delete-after-commit, a vacuum): point at the new ones and try once more.
                    self.refresh()
                    return self._connection.execute(sql, list(params)).fetch_arrow_table()
            except duckdb.CatalogException as exc:
                raise QueryEngineError(self._missing_table_message(exc)) from exc
            except duckdb.Error as exc:
                raise QueryEngineError(f"query failed: {exc}") from exc

    def markers(self) -> dict[TableKey, str]:
        """Each existing table with a marker that changes whenever it commits (no scan: a catalog or log read)."""
        return self._tables.current()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def refresh(self) -> None:
        """Point each table's views at its current snapshot; create analyst views once their tables exist."""
        with self._lock:
            current = self._tables.current()
            changed = {key: marker for key, marker in current.items() if self._locations.get(key) != marker}
            for key, marker in changed.items():
                self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(key[0])}")
                self._tables.point_views(self._connection, key, marker)
            self._locations = current
            if changed:
                self._create_analyst_views()

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
            f"; tables not yet {self._tables.where}: {', '.join(missing)} "
            "(the jobs create them at start: `telcopulse run all`)"
            if missing
            else ""
        )
        return f"{exc}{hint}"
