"""Create (or replace) the analyst views in Athena, in dependency order, once the jobs have made the tables.

    python -m telcopulse_deploy.views --workgroup telcopulse-dev [--region eu-west-1]

The SQL is ``catalog/views/*.sql``, the same text the stack saves as named queries. Both table formats:
Delta tables that Spark registered in Glue carry a placeholder schema (one ``col array<string>`` column,
delta-io/delta#1679) and Athena reads their columns from the Delta log, but it creates views only over Delta
tables whose Glue schema is the log's (Athena guide, "Synchronize Delta Lake metadata"). So before the views,
each Delta table the views read gets its columns in Glue from its definition in ``catalog/tables.py``, the
one the jobs created it from; Iceberg tables are left as they are.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from catalog.tables import ALL_TABLES, TableDef
from pipelines.query.views import AnalystView, analyst_views

DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
# How Spark marks a data source table in the metastore; Athena reads a Glue table with provider delta as Delta.
PROVIDER_PARAMETER = "spark.sql.sources.provider"
DELTA_PROVIDER = "delta"
# The fields of GetTable's Table that UpdateTable's TableInput takes back; the rest are read-only.
TABLE_INPUT_FIELDS = (
    "Name", "Description", "Owner", "LastAccessTime", "LastAnalyzedTime", "Retention", "StorageDescriptor",
    "PartitionKeys", "ViewOriginalText", "ViewExpandedText", "TableType", "Parameters", "TargetTable",
)  # fmt: skip
# ``name TYPE [NOT NULL] [COMMENT '...']``: TYPE is a word, with ``(precision, scale)`` or ``<...>`` after it.
_COLUMN = re.compile(
    r"^(?P<name>\w+)\s+(?P<type>[a-z]\w*(?:\([\d,\s]+\)|<.+>)?)(?:\s+NOT\s+NULL)?(?:\s+COMMENT\s+'(?P<comment>.*)')?$",
    re.IGNORECASE | re.DOTALL,
)


class ColumnDefinitionError(ValueError):
    """A column of ``catalog/tables.py`` is not ``name TYPE [NOT NULL] [COMMENT '...']``."""


class ViewNotCreatedError(RuntimeError):
    """Athena did not create a view (typically: a table it reads does not exist yet)."""


def create_views(
    athena: Any,
    *,
    workgroup: str,
    views: Sequence[AnalystView],
    poll_s: float = 1.0,
    timeout_s: float = 300.0,
) -> list[str]:
    """Run each view's ``CREATE OR REPLACE VIEW`` in ``workgroup`` and wait for it; returns the view names.

    Raises:
        ViewNotCreatedError: a statement failed, was cancelled or did not finish within ``timeout_s``.
    """
    created = []
    for view in views:
        execution = athena.start_query_execution(
            QueryString=view.trino_sql,
            WorkGroup=workgroup,
            QueryExecutionContext={"Database": view.name.split(".")[0]},
        )["QueryExecutionId"]
        deadline = time.monotonic() + timeout_s
        while True:
            status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            if status["State"] in DONE or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", status["State"])
            raise ViewNotCreatedError(f"{view.name}: {reason}")
        created.append(view.name)
    return created


def glue_type(spark_type: str) -> str:
    """A Spark DDL type as Glue (Hive) spells it: ``ARRAY<STRUCT<a: STRING>>`` is ``array<struct<a:string>>``."""
    return re.sub(r"\s*([<>,:])\s*", r"\1", spark_type.strip()).lower()


def glue_columns(table: TableDef) -> list[dict[str, str]]:
    """The Glue columns of a table definition: each column's name, Hive type and comment; NOT NULL dropped.

    Raises:
        ColumnDefinitionError: a column definition does not parse; names the table and the column.
    """
    columns = []
    for definition in table.columns:
        match = _COLUMN.match(definition.strip())
        if match is None:
            raise ColumnDefinitionError(f"{table.identifier}: cannot read column {definition!r}")
        column = {"Name": match["name"].lower(), "Type": glue_type(match["type"])}
        if match["comment"]:
            column["Comment"] = match["comment"]
        columns.append(column)
    return columns


def is_delta_table(table: Mapping[str, Any]) -> bool:
    """A Glue table that Spark registered as a Delta table (provider ``delta``)."""
    return str(table.get("Parameters", {}).get(PROVIDER_PARAMETER, "")).lower() == DELTA_PROVIDER


def tables_read_by(views: Sequence[AnalystView]) -> tuple[TableDef, ...]:
    """The TelcoPulse tables the views read (views over views add none), in ``ALL_TABLES`` order."""
    read = {name for view in views for name in view.tables}
    return tuple(table for table in ALL_TABLES if table.identifier in read)


def _names_and_types(columns: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    return [(column["Name"], column["Type"]) for column in columns]


def sync_delta_schemas(glue: Any, *, tables: Sequence[TableDef]) -> list[str]:
    """Give each Delta table among ``tables`` its columns in Glue; returns the tables updated.

    Everything else of the table (provider, S3 path, Spark's properties) stays as Spark registered it.
    Iceberg tables, tables whose columns already match and tables not created yet are left alone (a view over
    a missing table then fails in ``create_views``, naming it).
    """
    updated = []
    for table in tables:
        try:
            found = glue.get_table(DatabaseName=table.namespace, Name=table.name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            continue
        if not is_delta_table(found):
            continue
        columns = glue_columns(table)
        descriptor = dict(found.get("StorageDescriptor", {}))
        if _names_and_types(descriptor.get("Columns", [])) == _names_and_types(columns):
            continue
        descriptor["Columns"] = columns
        table_input = {field: found[field] for field in TABLE_INPUT_FIELDS if field in found}
        glue.update_table(DatabaseName=table.namespace, TableInput=table_input | {"StorageDescriptor": descriptor})
        updated.append(table.identifier)
    return updated


def main(argv: list[str] | None = None) -> int:
    """Command line: give Delta tables their Glue schema, then create every analyst view in the workgroup."""
    import boto3

    parser = argparse.ArgumentParser(description="Create (or replace) the analyst views in Athena, in order.")
    parser.add_argument("--workgroup", required=True, help="Athena workgroup, e.g. telcopulse-dev")
    parser.add_argument("--region", default=None, help="AWS region (default: the SDK's)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    views = analyst_views()
    glue = boto3.client("glue", region_name=args.region)
    for name in sync_delta_schemas(glue, tables=tables_read_by(views)):
        sys.stdout.write(f"synced the Glue schema of Delta table {name}\n")
    athena = boto3.client("athena", region_name=args.region)
    for name in create_views(athena, workgroup=args.workgroup, views=views):
        sys.stdout.write(f"created {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
