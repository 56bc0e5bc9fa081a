"""The dashboard as a person sees it: `telcopulse dashboard` on loopback, driven by headless Chromium.

Checks that the numbers on the page are the lake's, saves a screenshot, and that a new gold window
appears by itself (the live fragment's ``run_every``; ``?refresh=2``) without reloading the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from catalog.tables import OPERATOR_KPIS
from pipelines.settings import PROJECT_ROOT, TableFormat
from tests.conftest import free_port
from tests.dashboard.browser import Page, chromium_page, find_chromium
from tests.pipelines.query.lake import Lake, append_rows, kpi_row

SCREENSHOT = PROJECT_ROOT / "build" / "dashboard" / "screenshot.png"
CHART = '[data-testid="stVegaLiteChart"]'
CHARTS_ON_PAGE = 5
REFRESH_SECONDS = 2


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        message = "headless Chromium is not installed: run scripts/install-browser.sh (Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the dashboard exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.3)
    raise AssertionError(f"the dashboard was not healthy within {timeout:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(params=[TableFormat.ICEBERG, TableFormat.DELTA], ids=lambda f: f.value)
def shown_lake(request: pytest.FixtureRequest) -> Lake:
    """The known lake in Iceberg tables, then the same rows in Delta tables."""
    return request.getfixturevalue("lake" if request.param is TableFormat.ICEBERG else "delta_lake")


@pytest.fixture
def dashboard_url(shown_lake: Lake, tmp_path: Path) -> Iterator[str]:
    """`telcopulse dashboard` on a free loopback port over the lake's home and format; stopped afterwards."""
    port = free_port()
    log = tmp_path / "dashboard.log"
    env = {
        **os.environ,
        "TELCOPULSE_HOME": str(shown_lake.settings.home),
        "TELCOPULSE_TABLE_FORMAT": shown_lake.settings.table_format.value,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield f"{url}/?refresh={REFRESH_SECONDS}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _charts_and_table_drawn(page: Page) -> bool:
    return page.count(CHART) >= CHARTS_ON_PAGE and "-83.75" in page.text()


def test_dashboard_in_a_browser_shows_the_lake_and_refreshes_itself(
    chromium: str, dashboard_url: str, shown_lake: Lake, spark: SparkSession, tmp_path: Path
) -> None:
    lake, settings = shown_lake, shown_lake.settings
    with chromium_page(chromium, tmp_path / "profile", dashboard_url) as page:
        page.wait_for(_charts_and_table_drawn, timeout=90, what="the charts and the KPI table")
        text = page.text()
        for shown in (
            "Orange",
            "-83.75",
            "8.00",
            "VIVO",
            "-100.00",
            "10.00",
            "1 open outage",
            "08001",
            "96.67%",
        ):
            assert shown in text, shown
        screenshot = SCREENSHOT.with_stem(f"{SCREENSHOT.stem}-{settings.table_format.value}")
        page.screenshot(screenshot)
        assert screenshot.stat().st_size > 10_000

        # A reload would drop this marker: the new data must arrive through the live fragment.
        page.evaluate("window.telcopulseMarker = 'same page'")
        append_rows(spark, settings, OPERATOR_KPIS, [kpi_row(lake.anchor, 2, "Movistar", [-60, -62], [4, 6])])
        try:
            page.wait_for(
                lambda p: "Movistar" in p.text() and "-61.00" in p.text(),
                timeout=60,
                what="the new gold window to appear without a reload",
            )
            assert page.evaluate("window.telcopulseMarker") == "same page"
        finally:
            spark.sql(f"DELETE FROM {settings.table(OPERATOR_KPIS.identifier)} WHERE operator = 'Movistar'")
