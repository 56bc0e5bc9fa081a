"""Analyst views: each file is one Trino CREATE OR REPLACE VIEW, and each answers right on DuckDB.

The DuckDB half runs the views transpiled by sqlglot over real Iceberg tables written by Spark.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlglot
from pyspark.sql import SparkSession
from sqlglot import exp

from catalog.tables import DQ_RESULTS, OPERATOR_KPIS, POSTAL_OUTAGES, POSTAL_STATUS_COUNTS, QUARANTINE
from pipelines.adapters.duckdb_engine import DuckDBQueryEngine
from pipelines.query.views import VIEWS_DIR, ViewDefinitionError, analyst_views, parse_view
from pipelines.settings import Settings
from tests.pipelines.query.lake import Lake, write_lake

VIEW_FILES = sorted(VIEWS_DIR.glob("*.sql"))


@pytest.fixture(scope="module")
def lake(spark: SparkSession, settings: Settings) -> Lake:
    return write_lake(spark, settings)


@pytest.fixture(scope="module")
def engine(lake: Lake) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(lake.settings)


def frame(engine: DuckDBQueryEngine, sql: str) -> pd.DataFrame:
    return engine.query(sql).to_pandas()


def rows(lake: Lake, table: str) -> pd.DataFrame:
    return pd.DataFrame(lake.rows[table])


@pytest.mark.parametrize("path", VIEW_FILES, ids=lambda p: p.stem)
def test_view_file_is_one_trino_create_or_replace_view(path: Path) -> None:
    text = path.read_text()
    statements = sqlglot.parse(text, read="trino")
    assert len(statements) == 1
    create = statements[0]
    assert isinstance(create, exp.Create) and create.kind == "VIEW" and create.args.get("replace")
    view = parse_view(text, source=path.name)
    assert view.name.split(".")[0] in {"telcopulse_gold", "telcopulse_silver"}
    assert view.name.split(".")[1] == path.stem
    # The file's leading comment documents the view; engines get the bare statement.
    assert view.description and view.trino_sql.startswith("CREATE OR REPLACE VIEW")


def test_parse_view_refuses_anything_but_create_or_replace_view() -> None:
    with pytest.raises(ViewDefinitionError, match="CREATE OR REPLACE VIEW"):
        parse_view("CREATE VIEW telcopulse_gold.v AS SELECT 1")
    with pytest.raises(ViewDefinitionError, match="one statement"):
        parse_view("CREATE OR REPLACE VIEW a.v AS SELECT 1; SELECT 2")
    with pytest.raises(ViewDefinitionError, match="schema-qualified"):
        parse_view("CREATE OR REPLACE VIEW v AS SELECT 1")


def test_every_view_runs_on_duckdb(engine: DuckDBQueryEngine) -> None:
    for view in analyst_views():
        engine.query(f"SELECT * FROM {view.name}")


def test_operator_kpis_latest_is_the_newest_window_per_operator(
    engine: DuckDBQueryEngine, lake: Lake
) -> None:
    got = frame(engine, "SELECT * FROM telcopulse_gold.v_operator_kpis_latest ORDER BY operator")
    assert got["operator"].tolist() == ["Orange", "VIVO"]
    assert got["avg_signal"].tolist() == [-90.0, -100.0]
    assert got["avg_gps_precision_m"].tolist() == [3.0, 10.0]
    assert got["window_start"].tolist() == [
        pd.Timestamp(lake.anchor - timedelta(minutes=3)),
        pd.Timestamp(lake.anchor - timedelta(minutes=9)),
    ]


def test_operator_kpis_hourly_divides_sums_not_averages(engine: DuckDBQueryEngine, lake: Lake) -> None:
    source = rows(lake, OPERATOR_KPIS.identifier)
    source["hour"] = pd.to_datetime(source["window_start"]).dt.floor("h")
    source["precision_sum"] = source["precision_sum"].astype(float)
    sums = source.groupby(["hour", "operator"], as_index=False)[
        ["signal_sum", "signal_count", "precision_sum", "precision_count"]
    ].sum()
    got = frame(engine, "SELECT * FROM telcopulse_gold.v_operator_kpis_hourly ORDER BY hour, operator")
    expected = sums.sort_values(["hour", "operator"]).reset_index(drop=True)
    assert got["operator"].tolist() == expected["operator"].tolist()
    assert got["avg_signal"].tolist() == pytest.approx(
        (expected["signal_sum"] / expected["signal_count"]).tolist()
    )
    assert got["avg_gps_precision_m"].tolist() == pytest.approx(
        (expected["precision_sum"] / expected["precision_count"]).tolist()
    )
    # Any range of hours re-aggregates exactly from the carried sums.
    whole = frame(
        engine,
        "SELECT operator, CAST(sum(signal_sum) AS DOUBLE) / sum(signal_count) AS avg_signal "
        "FROM telcopulse_gold.v_operator_kpis_hourly GROUP BY operator ORDER BY operator",
    )
    assert whole["avg_signal"].tolist() == [-83.75, -87.5]


def test_postal_status_counts_hourly_sums_counts(engine: DuckDBQueryEngine, lake: Lake) -> None:
    source = rows(lake, POSTAL_STATUS_COUNTS.identifier)
    source["hour"] = pd.to_datetime(source["window_start"]).dt.floor("h")
    keys = ["hour", "postal_code", "status", "status_name"]
    expected = (
        source.groupby(keys, as_index=False)["event_count"].sum().sort_values(keys).reset_index(drop=True)
    )
    got = frame(
        engine,
        "SELECT * FROM telcopulse_gold.v_postal_status_counts_hourly ORDER BY hour, postal_code, status",
    )
    assert (
        got[["postal_code", "status_name"]].values.tolist()
        == expected[["postal_code", "status_name"]].values.tolist()
    )
    assert got["event_count"].astype(int).tolist() == expected["event_count"].tolist()


def test_postal_outages_open_lists_only_outages_without_end(engine: DuckDBQueryEngine, lake: Lake) -> None:
    got = frame(engine, "SELECT * FROM telcopulse_gold.v_postal_outages_open")
    open_rows = [row for row in lake.rows[POSTAL_OUTAGES.identifier] if row["outage_end"] is None]
    assert got["postal_code"].tolist() == [row["postal_code"] for row in open_rows]
    assert got["bad_share"].tolist() == [0.75]
    assert int(got["open_seconds"].iloc[0]) >= 5 * 60


def test_dq_pass_rate_counts_duplicates_as_passed(engine: DuckDBQueryEngine, lake: Lake) -> None:
    got = frame(engine, "SELECT * FROM telcopulse_silver.v_dq_pass_rate_hourly")
    source = rows(lake, DQ_RESULTS.identifier)
    assert int(got["rows_in"].sum()) == int(source["rows_in"].sum())
    total = frame(
        engine,
        "SELECT CAST(sum(rows_in) - sum(rows_quarantined) AS DOUBLE) / sum(rows_in) AS pass_rate, "
        "CAST(sum(rows_valid) AS DOUBLE) / sum(rows_in) AS valid_share, sum(failed_batches) AS failed "
        "FROM telcopulse_silver.v_dq_pass_rate_hourly",
    )
    assert total["pass_rate"].iloc[0] == pytest.approx(145 / 150)
    assert total["valid_share"].iloc[0] == pytest.approx(140 / 150)
    assert int(total["failed"].iloc[0]) == 1


def test_quarantine_reasons_unnests_every_reason(engine: DuckDBQueryEngine, lake: Lake) -> None:
    got = frame(
        engine,
        "SELECT reason, sum(records) AS records FROM telcopulse_silver.v_quarantine_reasons_hourly "
        "GROUP BY reason ORDER BY reason",
    )
    counted = pd.Series(
        [r for row in lake.rows[QUARANTINE.identifier] for r in row["reasons"]]
    ).value_counts()
    assert dict(zip(got["reason"], got["records"].astype(int), strict=True)) == counted.to_dict()
