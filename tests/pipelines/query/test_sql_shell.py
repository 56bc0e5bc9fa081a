"""`telcopulse sql`: formats, statement splitting, the prompt, and the command over the real lake."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.duckdb_engine import DuckDBQueryEngine
from pipelines.query.sql_shell import (
    OutputFormat,
    format_csv,
    format_json,
    format_table,
    interactive,
    split_statements,
)
from tests.conftest import run_cli
from tests.pipelines.query.lake import Lake

SAMPLE = pa.table(
    {
        "operator": ["Orange", None],
        "avg_signal": [-83.75, None],
        "total": pa.array([Decimal("8"), Decimal("1.5")], pa.decimal128(38, 6)),
        "at": [datetime(2026, 1, 1, tzinfo=UTC), None],
        "reasons": [["a:b", "c,d"], []],
    }
)


def test_format_json_is_a_list_of_row_objects() -> None:
    assert json.loads(format_json(SAMPLE)) == [
        {
            "operator": "Orange",
            "avg_signal": -83.75,
            "total": 8,
            "at": "2026-01-01T00:00:00+00:00",
            "reasons": ["a:b", "c,d"],
        },
        {"operator": None, "avg_signal": None, "total": 1.5, "at": None, "reasons": []},
    ]


def test_format_csv_quotes_and_leaves_null_empty() -> None:
    assert format_csv(SAMPLE).splitlines() == [
        "operator,avg_signal,total,at,reasons",
        'Orange,-83.75,8.000000,2026-01-01T00:00:00+00:00,"[""a:b"", ""c,d""]"',
        ",,1.500000,,[]",
    ]


def test_format_table_aligns_columns_and_counts_rows() -> None:
    lines = format_table(SAMPLE).splitlines()
    assert lines[0].startswith("operator | avg_signal |")
    assert lines[2].startswith("Orange   |     -83.75 |")
    assert lines[-1] == "(2 rows)"


def test_split_statements_joins_lines_until_a_semicolon() -> None:
    lines = ["SELECT 1;", "", "SELECT", "  2;", "SELECT 3"]
    assert list(split_statements(lines)) == ["SELECT 1", "SELECT\n  2", "SELECT 3"]


def test_split_statements_stops_at_quit() -> None:
    assert list(split_statements(["SELECT 1;", "\\q", "SELECT 2;"])) == ["SELECT 1"]


def test_interactive_reports_a_failing_statement_and_goes_on(lake: Lake) -> None:
    engine = DuckDBQueryEngine(lake.settings)
    out, err = io.StringIO(), io.StringIO()
    lines = [
        "SELECT count(*) AS n FROM telcopulse_gold.no_such_table;",
        "SELECT count(*) AS n",
        "FROM telcopulse_gold.operator_kpis;",
    ]
    failures = interactive(engine, lines, out, err, OutputFormat.JSON, prompt=False)
    assert failures == 1
    assert json.loads(out.getvalue()) == [{"n": 4}]
    assert "no_such_table" in err.getvalue()


@pytest.mark.parametrize("output", ["json", "csv"])
def test_sql_command_queries_views_under_their_glue_names(lake: Lake, output: str) -> None:
    sql = "SELECT operator, avg_signal FROM telcopulse_gold.v_operator_kpis_latest ORDER BY operator"
    result = run_cli(lake.settings, "sql", sql, "--format", output, timeout=120)
    if output == "json":
        assert json.loads(result.stdout) == [
            {"operator": "Orange", "avg_signal": -90.0},
            {"operator": "VIVO", "avg_signal": -100.0},
        ]
    else:
        assert result.stdout.splitlines() == ["operator,avg_signal", "Orange,-90.0", "VIVO,-100.0"]


def test_sql_command_without_catalog_fails_with_a_clear_message(tmp_path: Path) -> None:
    from pipelines.settings import Settings

    result = run_cli(Settings(home=tmp_path), "sql", "SELECT 1", check=False, timeout=120)
    assert result.returncode == 2
    assert "no Iceberg catalog" in result.stderr
    assert "Traceback" not in result.stderr
