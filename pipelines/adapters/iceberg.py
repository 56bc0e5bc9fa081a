"""Iceberg tables through Spark (writes, every runtime) and pyiceberg (local reads and tooling)."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES, NAMESPACES, TableDef, create_table_sql
from pipelines.settings import Settings

log = logging.getLogger(__name__)


def bootstrap_tables(spark: SparkSession, settings: Settings, tables: tuple[TableDef, ...] = ALL_TABLES) -> None:
    """Create the namespaces and tables that are missing (idempotent; every job runs it at start)."""
    existing_namespaces = {row[0] for row in spark.sql(f"SHOW NAMESPACES IN {settings.catalog_name}").collect()}
    for namespace in NAMESPACES:
        if namespace not in existing_namespaces:
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog_name}.{namespace}")
    for table in tables:
        if spark.catalog.tableExists(settings.table(table.identifier)):
            continue
        spark.sql(create_table_sql(table, settings.catalog_name))
        if table.sorted_by:
            spark.sql(f"ALTER TABLE {settings.table(table.identifier)} WRITE ORDERED BY {', '.join(table.sorted_by)}")
        log.info("created table %s", table.identifier)


def pyiceberg_catalog(settings: Settings) -> Any:
    """The same catalog opened by pyiceberg: SqlCatalog on the SQLite file locally, Glue on AWS."""
    from pyiceberg.catalog import load_catalog

    if settings.runtime.value == "aws":
        return load_catalog(settings.catalog_name, type="glue", warehouse=settings.warehouse)
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(settings.catalog_name, uri=f"sqlite:///{settings.catalog_db}", warehouse=settings.warehouse)
