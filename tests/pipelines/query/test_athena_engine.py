"""AthenaQueryEngine offline: parameters go as execution parameters (Trino literals), results as Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from botocore.stub import Stubber

from pipelines.adapters.athena import AthenaQueryEngine, trino_literal
from pipelines.errors import QueryEngineError
from pipelines.settings import Runtime, Settings

SQL = (
    "SELECT operator, avg_signal FROM telcopulse_gold.operator_kpis WHERE operator = ? AND window_start >= ?"
)
QUERY_ID = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "true"),
        (42, "42"),
        (-1.5, "-1.5E0"),
        (1e-7, "1e-07"),
        (Decimal("3.250000"), "DECIMAL '3.250000'"),
        ("Orange", "'Orange'"),
        ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
        ("'; DROP TABLE t; --", "'''; DROP TABLE t; --'"),
        (datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=UTC), "TIMESTAMP '2026-01-01 01:02:03.000004 UTC'"),
        (
            datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=1))),
            "TIMESTAMP '2026-01-01 01:00:00.000000 UTC'",
        ),
        (datetime(2026, 1, 1), "TIMESTAMP '2026-01-01 00:00:00.000000 UTC'"),
        (date(2026, 1, 2), "DATE '2026-01-02'"),
    ],
)
def test_trino_literal_renders_one_literal(value: Any, literal: str) -> None:
    assert trino_literal(value) == literal


def test_trino_literal_refuses_unknown_types_and_non_finite_floats() -> None:
    with pytest.raises(TypeError):
        trino_literal(object())
    with pytest.raises(ValueError):
        trino_literal(float("nan"))


@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AthenaQueryEngine, Stubber]]:
    # Fake credentials: the Stubber answers before any request could leave the process.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    engine = AthenaQueryEngine(Settings(runtime=Runtime.AWS, athena_workgroup="wg-test", region="eu-west-1"))
    with Stubber(engine.connection.client) as stubber:
        yield engine, stubber
    engine.close()


def _succeeded_execution() -> dict[str, Any]:
    return {
        "QueryExecution": {
            "QueryExecutionId": QUERY_ID,
            "Query": SQL,
            "StatementType": "DML",
            "Status": {"State": "SUCCEEDED"},
            "WorkGroup": "wg-test",
            "QueryExecutionContext": {"Database": "telcopulse_gold"},
        }
    }


def _results() -> dict[str, Any]:
    columns = [("operator", "varchar"), ("avg_signal", "double")]
    rows = [("operator", "avg_signal"), ("Orange", "-83.75")]
    return {
        "UpdateCount": 0,
        "ResultSet": {
            "Rows": [{"Data": [{"VarCharValue": value} for value in row]} for row in rows],
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {
                        "Name": name,
                        "Label": name,
                        "Type": kind,
                        "Precision": 0,
                        "Scale": 0,
                        "Nullable": "NULLABLE",
                    }
                    for name, kind in columns
                ]
            },
        },
    }


def test_athena_query_sends_parameters_as_execution_parameters(
    athena: tuple[AthenaQueryEngine, Stubber],
) -> None:
    engine, stubber = athena
    since = datetime(2026, 1, 1, tzinfo=UTC)
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": QUERY_ID},
        {
            "QueryString": SQL,
            "WorkGroup": "wg-test",
            "QueryExecutionContext": {"Catalog": "awsdatacatalog", "Database": "telcopulse_gold"},
            "ExecutionParameters": ["'x'' OR ''1''=''1'", "TIMESTAMP '2026-01-01 00:00:00.000000 UTC'"],
        },
    )
    stubber.add_response("get_query_execution", _succeeded_execution(), {"QueryExecutionId": QUERY_ID})
    # pyathena reads the column metadata first, then the rows (no OutputLocation: no S3 read).
    for _ in range(2):
        stubber.add_response("get_query_results", _results())
    table = engine.query(SQL, ["x' OR '1'='1", since])
    assert table.to_pylist() == [{"operator": "Orange", "avg_signal": -83.75}]
    stubber.assert_no_pending_responses()


def test_athena_query_wraps_service_errors(athena: tuple[AthenaQueryEngine, Stubber]) -> None:
    engine, stubber = athena
    stubber.add_client_error(
        "start_query_execution", "InvalidRequestException", "workgroup wg-test is disabled"
    )
    with pytest.raises(QueryEngineError, match="wg-test.*disabled"):
        engine.query("SELECT 1")


@pytest.mark.aws
def test_athena_query_runs_on_a_real_workgroup() -> None:
    engine = AthenaQueryEngine(Settings(runtime=Runtime.AWS))
    assert engine.query("SELECT ? AS answer", [42]).to_pylist() == [{"answer": 42}]
