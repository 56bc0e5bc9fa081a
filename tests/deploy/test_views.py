"""Creating the analyst views in Athena, in order, and stopping at the first one Athena refuses; before that,
Delta tables get their Glue schema (Athena creates views only over Delta tables whose schema is in Glue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from telcopulse_deploy.views import (
    ColumnDefinitionError,
    ViewNotCreatedError,
    create_views,
    glue_columns,
    sync_delta_schemas,
    tables_read_by,
)

from catalog.tables import ALL_TABLES, BRONZE_EVENTS, DQ_RESULTS, NAMESPACES, TableDef
from pipelines.query.views import analyst_views

REGION = "eu-west-1"


@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="telcopulse-test")
        yield client


def test_create_views_runs_every_view_in_dependency_order(athena: Any) -> None:
    views = analyst_views()

    created = create_views(athena, workgroup="telcopulse-test", views=views, poll_s=0.0)

    assert created == [view.name for view in views]
    executed = athena.list_query_executions(WorkGroup="telcopulse-test")["QueryExecutionIds"]
    assert len(executed) == len(views)


class RefusingAthena:
    """An Athena client whose every query fails, as when a view's table does not exist yet."""

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        return {
            "QueryExecution": {
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "TABLE_NOT_FOUND: telcopulse_gold.operator_kpis",
                }
            }
        }


def test_create_views_names_the_view_athena_refused() -> None:
    views = analyst_views()

    with pytest.raises(ViewNotCreatedError, match=f"{views[0].name}: TABLE_NOT_FOUND"):
        create_views(RefusingAthena(), workgroup="telcopulse-test", views=views, poll_s=0.0)


# What Spark's session catalog registers for `CREATE TABLE ... USING delta LOCATION ...` on Glue.
SPARK_PLACEHOLDER_COLUMNS = [{"Name": "col", "Type": "array<string>", "Comment": "from deserializer"}]


@pytest.fixture
def glue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("glue", region_name=REGION)
        for namespace in NAMESPACES:
            client.create_database(DatabaseInput={"Name": namespace})
        yield client


def register_as_spark_does(glue: Any, table: TableDef) -> None:
    location = f"s3://warehouse-bucket/warehouse/delta/{table.namespace}/{table.name}"
    glue.create_table(
        DatabaseName=table.namespace,
        TableInput={
            "Name": table.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"spark.sql.sources.provider": "delta", "EXTERNAL": "TRUE"},
            "StorageDescriptor": {
                "Columns": SPARK_PLACEHOLDER_COLUMNS,
                "Location": location,
                "SerdeInfo": {"Parameters": {"path": location}},
            },
        },
    )


def test_glue_columns_are_the_definitions_columns_in_hive_types_without_not_null() -> None:
    assert glue_columns(BRONZE_EVENTS)[:2] == [
        {"Name": "data", "Type": "binary"},
        {"Name": "stream_name", "Type": "string"},
    ]
    (expectations,) = [column for column in glue_columns(DQ_RESULTS) if column["Name"] == "expectations"]
    assert expectations["Type"] == (
        "array<struct<expectation:string,severity:string,success:boolean,element_count:bigint,unexpected_count:bigint>>"
    )
    for table in ALL_TABLES:
        assert len(glue_columns(table)) == len(table.columns)
        assert not any("null" in column["Type"] for column in glue_columns(table))


def test_glue_columns_names_a_column_it_cannot_read() -> None:
    broken = TableDef("telcopulse_gold", "broken", columns=("ok STRING", "no type at all!"))
    with pytest.raises(ColumnDefinitionError, match="telcopulse_gold.broken: cannot read column 'no type at all!'"):
        glue_columns(broken)


def test_every_table_the_views_read_is_a_view_or_a_table_the_sync_knows() -> None:
    views = analyst_views()
    synced = {table.identifier for table in tables_read_by(views)}
    assert synced
    assert {name for view in views for name in view.tables} - {view.name for view in views} == synced


def test_sync_gives_spark_registered_delta_tables_their_columns_and_keeps_the_rest(glue: Any) -> None:
    tables = tables_read_by(analyst_views())
    for table in tables:
        register_as_spark_does(glue, table)

    updated = sync_delta_schemas(glue, tables=tables)

    assert updated == [table.identifier for table in tables]
    for table in tables:
        found = glue.get_table(DatabaseName=table.namespace, Name=table.name)["Table"]
        columns = [{k: c[k] for k in ("Name", "Type")} for c in found["StorageDescriptor"]["Columns"]]
        assert columns == [{k: c[k] for k in ("Name", "Type")} for c in glue_columns(table)]
        assert found["Parameters"]["spark.sql.sources.provider"] == "delta"
        path = found["StorageDescriptor"]["SerdeInfo"]["Parameters"]["path"]
        assert path.endswith(f"/delta/{table.namespace}/{table.name}")
        assert found["TableType"] == "EXTERNAL_TABLE"
    assert sync_delta_schemas(glue, tables=tables) == []  # nothing left to sync


def test_sync_leaves_iceberg_tables_and_tables_not_created_yet_alone(glue: Any) -> None:
    iceberg = {
        "Name": BRONZE_EVENTS.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"table_type": "ICEBERG", "metadata_location": "s3://warehouse-bucket/m.json"},
        "StorageDescriptor": {"Columns": [{"Name": "data", "Type": "binary"}], "Location": "s3://warehouse-bucket/x"},
    }
    glue.create_table(DatabaseName=BRONZE_EVENTS.namespace, TableInput=iceberg)

    assert sync_delta_schemas(glue, tables=(BRONZE_EVENTS, DQ_RESULTS)) == []

    found = glue.get_table(DatabaseName=BRONZE_EVENTS.namespace, Name=BRONZE_EVENTS.name)["Table"]
    assert found["StorageDescriptor"]["Columns"] == [{"Name": "data", "Type": "binary"}]
