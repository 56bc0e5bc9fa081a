"""DuckDBQueryEngine: every table under its Glue name, current snapshots, bound parameters, clear errors.

The tests that take ``engine`` run once on Iceberg tables and once on Delta tables holding the same rows.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES, OPERATOR_KPIS, POSTAL_HEALTH, create_delta_table_sql
from pipelines.adapters.delta_history import DeltaLog
from pipelines.adapters.duckdb_engine import DuckDBQueryEngine, read_metadata_locations
from pipelines.errors import QueryEngineError
from pipelines.query.views import analyst_views
from pipelines.settings import Settings, TableFormat
from tests.pipelines.query.lake import Lake, append_rows

HOSTILE_VALUES = ("x' OR '1'='1", "'; DROP TABLE telcopulse_gold.operator_kpis; --", "Orange' --")


@pytest.fixture(scope="module")
def engine(any_lake: Lake) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(any_lake.settings)


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
    columns = engine.query('DESCRIBE telcopulse_gold."operator_kpis$snapshots"').to_pydict()
    assert list(zip(columns["column_name"], columns["column_type"], strict=True)) == [
        ("committed_at", "TIMESTAMP WITH TIME ZONE"),
        ("snapshot_id", "UBIGINT"),
        ("sequence_number", "UBIGINT"),
        ("operation", "VARCHAR"),
        ("manifest_list", "VARCHAR"),
    ]


def test_query_engine_sees_new_commits_without_reopening(
    engine: DuckDBQueryEngine, spark: SparkSession, any_lake: Lake, lake: Lake
) -> None:
    settings = any_lake.settings
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
    commits = f'SELECT count(*) AS n FROM telcopulse_gold."{POSTAL_HEALTH.name}$snapshots"'
    snapshots = engine.query(commits).column("n")[0].as_py()
    key = (POSTAL_HEALTH.namespace, POSTAL_HEALTH.name)
    markers = engine.markers()
    append_rows(spark, settings, POSTAL_HEALTH, [row])
    try:
        assert engine.query(sql).column("n")[0].as_py() == before + 1
        assert engine.query(commits).column("n")[0].as_py() == snapshots + 1
        # A commit changes its table's marker, and no other table's.
        after = engine.markers()
        assert after[key] != markers[key]
        assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in markers.items() if k != key}
    finally:
        spark.sql(f"DELETE FROM {settings.table(POSTAL_HEALTH.identifier)} WHERE postal_code = '99999'")
    assert engine.query(sql).column("n")[0].as_py() == before
    assert engine.query(commits).column("n")[0].as_py() == snapshots + 2
    assert engine.markers()[key] not in (markers[key], after[key])


def test_query_engine_returns_every_value_as_written(engine: DuckDBQueryEngine, lake: Lake) -> None:
    """Timestamps, decimals, binaries, arrays (of structs) and NULLs come back as Spark wrote them."""

    def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda row: sorted((k, str(v)) for k, v in row.items()))

    for identifier, written in lake.rows.items():
        assert ordered(engine.query(f"SELECT * FROM {identifier}").to_pylist()) == ordered(written), identifier


def test_analyst_views_answer_the_same_on_delta_tables(lake: Lake, delta_lake: Lake) -> None:
    iceberg, delta = DuckDBQueryEngine(lake.settings), DuckDBQueryEngine(delta_lake.settings)

    def answer(engine: DuckDBQueryEngine, view: str) -> list[dict[str, Any]]:
        rows = engine.query(f"SELECT * FROM {view} ORDER BY ALL").to_pylist()
        return [{k: v for k, v in row.items() if k != "open_seconds"} for row in rows]  # depends on the clock

    for view in analyst_views():
        assert answer(delta, view.name) == answer(iceberg, view.name), view.name
        assert answer(delta, view.name), view.name  # every view has rows to compare


def test_delta_snapshots_are_the_commits_in_iceberg_terms(delta_lake: Lake) -> None:
    engine = DuckDBQueryEngine(delta_lake.settings)
    log = delta_lake.settings.table_location(OPERATOR_KPIS.identifier) + "/_delta_log"

    got = engine.query(
        'SELECT snapshot_id, sequence_number, operation, manifest_list FROM telcopulse_gold."operator_kpis$snapshots" '
        "ORDER BY snapshot_id"
    ).to_pylist()

    assert got == [
        {"snapshot_id": 0, "sequence_number": 0, "operation": "replace", "manifest_list": f"{log}/{0:020d}.json"},
        {"snapshot_id": 1, "sequence_number": 1, "operation": "append", "manifest_list": f"{log}/{1:020d}.json"},
    ]


def health_row(start: datetime, postal_code: str, readings: int, bad: int, devices: list[str]) -> dict[str, Any]:
    return {
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "postal_code": postal_code,
        "readings": readings,
        "bad_readings": bad,
        "device_ids": devices,
        "updated_at": start,
    }


@pytest.mark.parametrize("deletion_vectors", [False, True], ids=["default", "deletion-vectors"])
def test_query_engine_reads_what_a_delta_merge_wrote(
    spark: SparkSession, tmp_path: Path, deletion_vectors: bool
) -> None:
    settings = Settings(home=tmp_path / "home", table_format=TableFormat.DELTA)
    engine = DuckDBQueryEngine(settings)
    sql = f"SELECT * FROM {POSTAL_HEALTH.identifier} ORDER BY window_start, postal_code"
    with pytest.raises(QueryEngineError, match=r"postal_window_health.*telcopulse run all"):
        engine.query(sql)  # no _delta_log yet: no table
    name = settings.table(POSTAL_HEALTH.identifier)
    spark.sql(create_delta_table_sql(POSTAL_HEALTH, name))
    if deletion_vectors:
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    assert engine.query(sql).num_rows == 0  # the table appears once its log holds a commit
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=1)
    written = [health_row(t0, "28001", 3, 1, ["d1"]), health_row(t0, "08001", 2, 0, [])]
    append_rows(spark, settings, POSTAL_HEALTH, written)
    deltas = [health_row(t0, "28001", 2, 2, ["d2"]), health_row(t1, "28001", 1, 1, ["d3"])]
    schema = spark.table(name).schema
    spark.createDataFrame([tuple(r[f.name] for f in schema.fields) for r in deltas], schema).createOrReplaceTempView(
        "health_deltas"
    )

    spark.sql(
        f"MERGE INTO {name} AS t USING health_deltas AS s "
        "ON t.window_start = s.window_start AND t.postal_code = s.postal_code "
        "WHEN MATCHED THEN UPDATE SET readings = t.readings + s.readings, bad_readings = t.bad_readings + "
        "s.bad_readings, device_ids = array_union(t.device_ids, s.device_ids), updated_at = s.updated_at "
        "WHEN NOT MATCHED THEN INSERT *"
    )

    assert engine.query(sql).to_pylist() == [
        health_row(t0, "08001", 2, 0, []),
        health_row(t0, "28001", 5, 3, ["d1", "d2"]),
        health_row(t1, "28001", 1, 1, ["d3"]),
    ]
    log = DeltaLog(settings.table_location(POSTAL_HEALTH.identifier))
    merge = log.read_commit(log.newest_version() or 0)
    assert merge is not None and merge.delta_operation == "MERGE"
    assert merge.info["operationMetrics"]["numTargetDeletionVectorsAdded"] == ("1" if deletion_vectors else "0")


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
