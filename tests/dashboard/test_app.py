"""The dashboard under Streamlit's AppTest: data, filters, the empty state and the error state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.query.dashboard import app_path
from pipelines.settings import Settings
from tests.pipelines.query.lake import Lake


def run_app(monkeypatch: pytest.MonkeyPatch, home: Path) -> AppTest:
    monkeypatch.setenv("TELCOPULSE_HOME", str(home))
    app = AppTest.from_file(str(app_path()), default_timeout=120)
    app.query_params["refresh"] = "5"
    return app.run()


def texts(elements: Iterable[Any]) -> str:
    return "\n".join(str(element.value) for element in elements)


def kpi_rows(app: AppTest) -> list[list[str]]:
    table = app.table[0].value
    return [
        [str(index), *map(str, row)] for index, row in zip(table.index, table.values.tolist(), strict=True)
    ]


def assert_no_traceback(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]


def test_app_shows_the_lake(monkeypatch: pytest.MonkeyPatch, lake: Lake) -> None:
    app = run_app(monkeypatch, lake.settings.home)
    assert_no_traceback(app)
    assert kpi_rows(app) == [["Orange", "-83.75", "8.00", "8", "2"], ["VIVO", "-100.00", "10.00", "3", "1"]]
    assert "1 open outage" in texts(app.error) and "08001" in texts(app.error)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Pass rate in range"] == "96.67%"
    assert metrics["Quarantined (by reason)"] == "3"
    assert {"Bronze last commit", "Silver last commit", "Gold last commit"} <= set(metrics)
    assert app.sidebar.multiselect[0].options == ["Orange", "VIVO"]


def test_app_filters_apply_to_the_panels(monkeypatch: pytest.MonkeyPatch, lake: Lake) -> None:
    app = run_app(monkeypatch, lake.settings.home)
    app.sidebar.radio[0].set_value("Last 24 h")
    app.sidebar.multiselect[0].set_value(["VIVO"])
    app.run()
    assert_no_traceback(app)
    assert kpi_rows(app) == [["VIVO", "-87.50", "32.50", "4", "2"]]
    assert "from silver readings of the selected operators" in texts(app.caption)


def test_app_custom_range_shows_only_its_windows(monkeypatch: pytest.MonkeyPatch, lake: Lake) -> None:
    app = run_app(monkeypatch, lake.settings.home)
    app.sidebar.radio[0].set_value("Custom")
    app.run()
    start, end = app.sidebar.datetime_input
    naive = lake.anchor.replace(tzinfo=None)
    start.set_value(naive - timedelta(hours=3))
    end.set_value(naive - timedelta(hours=1))
    app.run()
    assert_no_traceback(app)
    assert kpi_rows(app) == [["VIVO", "-50.00", "100.00", "1", "1"]]


def test_app_empty_state_says_there_is_no_data_yet(
    monkeypatch: pytest.MonkeyPatch, empty_lake: Settings
) -> None:
    app = run_app(monkeypatch, empty_lake.home)
    assert_no_traceback(app)
    assert "No data yet" in texts(app.info)
    assert not app.error
    assert not app.table


def test_app_error_state_names_the_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = run_app(monkeypatch, tmp_path)
    assert_no_traceback(app)
    message = texts(app.error)
    assert "Cannot query the lakehouse" in message and "no Iceberg catalog" in message
    assert not app.table
