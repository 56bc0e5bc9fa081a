"""DuckDBQueryEngine: every table under its Glue name, current snapshots, bound parameters, clear errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES, POSTAL_HEALTH
from pipelines.adapters.duckdb_engine import DuckDBQueryEngine, read_metadata_locations
from pipelines.errors import QueryEngineError
from pipelines.settings import Settings
from tests.pipelines.query.lake import Lake, append_rows

HOSTILE_VALUES = ("x' OR '1'='1", "'; DROP TABLE telcopulse_gold.operator_kpis; --", "Orange' --")


@pytest.fixture(scope="module")
def engine(lake: Lake) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(lake.settings)


def test_query_engine_reads_every_table_under_its_glue_name(engine: DuckDBQueryEngine, lake: Lake) -> None:
    for table in ALL_TABLES:
        counted = engine.query(f"SELECT count(*) AS n FROM {table.identifier}").column("n")[0].as_py()
        assert counted == len(lake.rows.get(table.identifier, [])), table.identifier


def test_query_engine_binds_parameters(engine: DuckDBQueryEngine) -> None:
    sql = "SELECT count(*) AS n FROM telcopulse_gold.operator_kpis WHERE operator = ?"
    assert engine.query(sql, ["Orange"]).column("n")[0].as_py() == 2
    for hostile in HOSTILE_VALUES:
        assert engine.query(sql, [hostile]).column("n")[0].as_py() == 0, hostile
    assert engine.query("SELECT count(*) AS n FROM telcopulse_gold.operator_kpis").column("n")[0].as_py() == 4


def test_query_engine_exposes_snapshots_like_athena(engine: DuckDBQueryEngine, lake: Lake) -> None:
    result = engine.query('SELECT max(committed_at) AS last FROM telcopulse_gold."operator_kpis$snapshots"')
    last = result.column("last")[0].as_py()
    assert last is not None and abs(datetime.now(UTC) - last) < timedelta(hours=1)


def test_query_engine_sees_new_commits_without_reopening(
    engine: DuckDBQueryEngine, spark: SparkSession, settings: Settings, lake: Lake
) -> None:
    sql = f"SELECT count(*) AS n FROM {POSTAL_HEALTH.identifier}"
    before = engine.query(sql).column("n")[0].as_py()
    row = {
        "window_start": lake.anchor,
        "window_end": lake.anchor + timedelta(minutes=1),
        "postal_code": "99999",
        "readings": 3,
        "bad_readings": 1,
        "device_ids": ["d1"],
        "updated_at": lake.anchor,
    }
    append_rows(spark, settings, POSTAL_HEALTH, [row])
    try:
        assert engine.query(sql).column("n")[0].as_py() == before + 1
    finally:
        spark.sql(f"DELETE FROM {settings.table(POSTAL_HEALTH.identifier)} WHERE postal_code = '99999'")
    assert engine.query(sql).column("n")[0].as_py() == before


def test_query_engine_keeps_extensions_under_the_project_cache(engine: DuckDBQueryEngine, lake: Lake) -> None:
    directory = engine.query("SELECT current_setting('extension_directory') AS d").column("d")[0].as_py()
    assert Path(directory) == lake.settings.duckdb_extension_dir


def test_query_engine_without_catalog_raises_query_engine_error(tmp_path: Path) -> None:
    engine = DuckDBQueryEngine(Settings(home=tmp_path))
    with pytest.raises(QueryEngineError, match="no Iceberg catalog"):
        engine.query("SELECT * FROM telcopulse_gold.operator_kpis")


def test_query_engine_names_tables_missing_from_the_catalog(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with sqlite3.connect(settings.catalog_db) as connection:
        connection.execute(
            "CREATE TABLE iceberg_tables (catalog_name TEXT, table_namespace TEXT, table_name TEXT, "
            "metadata_location TEXT, previous_metadata_location TEXT)"
        )
    connection.close()
    engine = DuckDBQueryEngine(settings)
    with pytest.raises(QueryEngineError, match=r"telcopulse_gold\.operator_kpis.*telcopulse run all"):
        engine.query("SELECT * FROM telcopulse_gold.operator_kpis")


def test_read_metadata_locations_skips_iceberg_views_of_a_v1_catalog(tmp_path: Path) -> None:
    catalog_db = tmp_path / "catalog.db"
    with sqlite3.connect(catalog_db) as connection:
        connection.execute(
            "CREATE TABLE iceberg_tables (catalog_name TEXT, table_namespace TEXT, table_name TEXT, "
            "metadata_location TEXT, previous_metadata_location TEXT, iceberg_type TEXT)"
        )
        connection.executemany(
            "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, ?)",
            [
                ("telcopulse", "telcopulse_gold", "operator_kpis", "file:/t/m1.json", "TABLE"),
                ("telcopulse", "telcopulse_gold", "a_view", "file:/t/v1.json", "VIEW"),
                ("other", "telcopulse_gold", "operator_kpis", "file:/o/m1.json", "TABLE"),
            ],
        )
    connection.close()
    locations = read_metadata_locations(catalog_db, "telcopulse")
    assert locations == {("telcopulse_gold", "operator_kpis"): "file:/t/m1.json"}


def test_query_engine_reports_bad_sql_as_query_engine_error(engine: DuckDBQueryEngine) -> None:
    with pytest.raises(QueryEngineError, match="query failed"):
        engine.query("SELECT nope(")
