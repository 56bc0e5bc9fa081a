"""Dashboard queries over the real lake (Iceberg and Delta): sums over sums, filters as bound values, portable SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
import sqlglot

from catalog.tables import ALL_TABLES
from dashboard import queries
from dashboard.queries import Filters, Level
from pipelines.adapters.duckdb_engine import DuckDBQueryEngine
from pipelines.settings import TableFormat
from tests.pipelines.query.lake import Lake

HOSTILE_OPERATORS = ("x' OR '1'='1", "'; DROP TABLE telcopulse_gold.operator_kpis; --", 'Orange" OR 1=1 --')


class RecordingEngine:
    """The real engine, keeping every SQL text it was given."""

    def __init__(self, engine: DuckDBQueryEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        self.statements.append(sql)
        return self.engine.query(sql, params)


@pytest.fixture(scope="module", params=list(TableFormat), ids=[f.value for f in TableFormat])
def engine(request: pytest.FixtureRequest, lake: Lake) -> DuckDBQueryEngine:
    """The engine on the lake's Iceberg tables, then on Delta tables holding the same rows."""
    chosen = lake if request.param is TableFormat.ICEBERG else request.getfixturevalue("delta_lake")
    return DuckDBQueryEngine(chosen.settings)


def last(lake: Lake, span: timedelta, operators: tuple[str, ...] = ()) -> Filters:
    end = lake.anchor + timedelta(minutes=1)
    return Filters(end - span, end, operators)


def test_operator_kpis_divides_summed_sums_by_summed_counts(engine: DuckDBQueryEngine, lake: Lake) -> None:
    hour = queries.operator_kpis(engine, last(lake, timedelta(hours=1)))
    assert hour.to_dict("records") == [
        {"operator": "Orange", "avg_signal": -83.75, "avg_gps_precision_m": 8.0, "readings": 8, "windows": 2},
        {"operator": "VIVO", "avg_signal": -100.0, "avg_gps_precision_m": 10.0, "readings": 3, "windows": 1},
    ]
    day = queries.operator_kpis(engine, last(lake, timedelta(hours=24), ("VIVO",)))
    # (-300 - 50) / (3 + 1), not the average of the window averages (-75).
    assert day[["operator", "avg_signal", "avg_gps_precision_m"]].to_dict("records") == [
        {"operator": "VIVO", "avg_signal": -87.5, "avg_gps_precision_m": 32.5}
    ]


def test_status_counts_come_from_gold_or_from_silver_per_operator(
    engine: DuckDBQueryEngine, lake: Lake
) -> None:
    every = queries.status_counts(engine, last(lake, timedelta(hours=1)))
    assert every.values.tolist() == [
        ["08001", "OUT_OF_SERVICE", 4],
        ["28001", "IN_SERVICE", 10],
        ["28001", "OUT_OF_SERVICE", 2],
    ]
    orange = queries.status_counts(engine, last(lake, timedelta(hours=1), ("Orange",)))
    assert orange.values.tolist() == [
        ["08001", "OUT_OF_SERVICE", 1],
        ["28001", "IN_SERVICE", 2],
        ["unknown", "IN_SERVICE", 1],
    ]


def test_unknown_is_gold_s_label_for_missing_values() -> None:
    from pipelines.gold.schema import UNKNOWN

    assert queries.UNKNOWN == UNKNOWN


def test_outages_lists_open_ones_first_and_those_ended_in_range(
    engine: DuckDBQueryEngine, lake: Lake
) -> None:
    got = queries.outages(engine, last(lake, timedelta(hours=1)))
    assert got[["postal_code", "is_open"]].values.tolist() == [["08001", True], ["46001", False]]
    old = queries.outages(engine, last(lake, timedelta(minutes=15)))
    assert old["postal_code"].tolist() == ["08001"]


def test_data_quality_queries(engine: DuckDBQueryEngine, lake: Lake) -> None:
    rates = queries.dq_pass_rate(engine, last(lake, timedelta(minutes=15)))
    assert rates["batches"].sum() == 2
    assert queries.overall_pass_rate(rates) == pytest.approx(145 / 150)
    reasons = queries.quarantine_reasons(engine, last(lake, timedelta(minutes=15)))
    assert reasons.values.tolist() == [["signal:range", 2], ["lat:null", 1]]


def test_freshness_queries(engine: DuckDBQueryEngine, lake: Lake) -> None:
    fresh = queries.gold_freshness(engine, last(lake, timedelta(minutes=15)))
    assert fresh["newest_window_start"].iloc[0].to_pydatetime() == lake.anchor - timedelta(minutes=3)
    commits = queries.layer_commits(engine, last(lake, timedelta(minutes=15)))
    assert commits["layer"].tolist() == ["bronze", "silver", "gold"]
    assert commits["last_commit"].notna().all()


@pytest.mark.parametrize("hostile", HOSTILE_OPERATORS)
def test_hostile_filter_values_cannot_change_a_query(
    engine: DuckDBQueryEngine, lake: Lake, hostile: str
) -> None:
    for name, query in queries.PANEL_QUERIES.items():
        attacked = query(engine, last(lake, timedelta(hours=24), (hostile,)))
        harmless = query(engine, last(lake, timedelta(hours=24), ("no such operator",)))
        assert attacked.equals(harmless), name
    for table in ALL_TABLES:
        counted = engine.query(f"SELECT count(*) AS n FROM {table.identifier}").column("n")[0].as_py()
        assert counted == len(lake.rows.get(table.identifier, [])), table.identifier


def test_every_dashboard_query_is_trino_sql(engine: DuckDBQueryEngine, lake: Lake) -> None:
    recording = RecordingEngine(engine)
    for query in queries.PANEL_QUERIES.values():
        for operators in ((), ("Orange", "VIVO")):
            query(recording, last(lake, timedelta(hours=24), operators))
    queries.known_operators(recording, lake.anchor)
    assert recording.statements
    for sql in recording.statements:
        sqlglot.parse_one(sql, read="trino")  # raises on anything Athena's parser would not take


@pytest.mark.parametrize(
    ("age", "level"),
    [(None, Level.NO_DATA), (100, Level.OK), (200, Level.LAGGING), (301, Level.STALE)],
)
def test_freshness_level_turns_amber_at_half_and_red_past_the_limit(age: int | None, level: Level) -> None:
    moment = None if age is None else timedelta(seconds=age)
    assert queries.freshness_level(moment, timedelta(seconds=300)) is level
