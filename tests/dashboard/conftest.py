"""One known lake for the dashboard tests (written once; a test that adds rows removes them again)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from pipelines.settings import Settings, TableFormat
from tests.pipelines.query.lake import Lake, write_delta_lake, write_lake


@pytest.fixture(scope="package")
def lake(spark: SparkSession, settings: Settings) -> Lake:
    return write_lake(spark, settings)


@pytest.fixture(scope="package")
def delta_lake(spark: SparkSession, lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The lake's rows (same anchor, so the same expectations hold) in Delta tables of a home of its own."""
    home = tmp_path_factory.mktemp("delta-lake-home")
    return write_delta_lake(spark, Settings(home=home, table_format=TableFormat.DELTA), lake.anchor)


@pytest.fixture(scope="package")
def empty_lake(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Every table exists with the lake's schema and no rows, in a home of its own (pyiceberg, no Spark)."""
    from catalog.tables import ALL_TABLES, NAMESPACES
    from pipelines.adapters.duckdb_engine import DuckDBQueryEngine
    from pipelines.adapters.iceberg import pyiceberg_catalog

    empty = Settings(home=tmp_path_factory.mktemp("empty-home"))
    empty.home.joinpath("warehouse").mkdir()
    source = DuckDBQueryEngine(lake.settings)
    catalog = pyiceberg_catalog(empty)
    for namespace in NAMESPACES:
        catalog.create_namespace(namespace)
    for table in ALL_TABLES:
        schema = source.query(f"SELECT * FROM {table.identifier} LIMIT 0").schema
        catalog.create_table(table.identifier, schema=schema)
    source.close()
    return empty
