"""Tables through Spark (creation for Iceberg and Delta, every runtime) and pyiceberg (local reads and tooling)."""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES, NAMESPACES, TableDef, create_delta_table_sql, create_table_sql
from pipelines.settings import Runtime, Settings

log = logging.getLogger(__name__)


def bootstrap_tables(
    spark: SparkSession, settings: Settings, tables: tuple[TableDef, ...] = ALL_TABLES, *, attempts: int = 8
) -> None:
    """Create the namespaces and tables that are missing (idempotent; every job runs it at start).

    Jobs start together. Locally they take turns (a file lock): two SQLite writers racing on the same
    namespace leave a transaction holding the database lock. Elsewhere, a lost race is retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            with _bootstrap_turn(settings):
                _create_missing(spark, settings, tables)
            return
        except Exception as exc:  # noqa: BLE001 - a lost creation race surfaces as various JVM errors
            if attempt == attempts:
                raise
            log.info(
                "catalog bootstrap raced another job (attempt %d): %s", attempt, str(exc).splitlines()[0]
            )
            time.sleep(0.2 * attempt)


@contextmanager
def _bootstrap_turn(settings: Settings) -> Iterator[None]:
    if settings.runtime is not Runtime.LOCAL:
        yield
        return
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.run_dir / "catalog-bootstrap.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create_missing(spark: SparkSession, settings: Settings, tables: tuple[TableDef, ...]) -> None:
    if settings.is_delta:
        _create_missing_delta(spark, settings, tables)
        return
    existing_namespaces = {
        row[0] for row in spark.sql(f"SHOW NAMESPACES IN {settings.catalog_name}").collect()
    }
    for namespace in NAMESPACES:
        if namespace not in existing_namespaces:
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog_name}.{namespace}")
    for table in tables:
        if spark.catalog.tableExists(settings.table(table.identifier)):
            continue
        spark.sql(create_table_sql(table, settings.catalog_name))
        if table.sorted_by:
            spark.sql(
                f"ALTER TABLE {settings.table(table.identifier)} WRITE ORDERED BY {', '.join(table.sorted_by)}"
            )
        log.info("created table %s", table.identifier)


def _create_missing_delta(spark: SparkSession, settings: Settings, tables: tuple[TableDef, ...]) -> None:
    """Delta tables: by path locally (no shared metastore); in the Glue Data Catalog on AWS."""
    on_aws = settings.runtime is Runtime.AWS
    if on_aws:
        for namespace in NAMESPACES:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS spark_catalog.{namespace}")
    for table in tables:
        location = settings.table_location(table.identifier)
        if not on_aws and (settings.table_path(table.identifier) / "_delta_log").is_dir():
            continue
        spark.sql(create_delta_table_sql(table, settings.table(table.identifier), location if on_aws else None))
        log.info("created Delta table %s", table.identifier)


def pyiceberg_catalog(settings: Settings) -> Any:
    """The same catalog opened by pyiceberg: SqlCatalog on the SQLite file locally, Glue on AWS."""
    from pyiceberg.catalog import load_catalog

    if settings.runtime is Runtime.AWS:
        return load_catalog(settings.catalog_name, type="glue", warehouse=settings.warehouse)
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        settings.catalog_name, uri=f"sqlite:///{settings.catalog_db}", warehouse=settings.warehouse
    )
