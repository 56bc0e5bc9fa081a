"""Shared fixtures: one real Spark session per test run on one real Iceberg catalog, a real kinesalite."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from catalog.tables import ALL_TABLES
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.settings import PROJECT_ROOT, Settings, TableFormat
from pipelines.spark import build_spark

SAMPLE_CSV = PROJECT_ROOT.parent / "shared" / "data" / "mobile-logs.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the in-process catalog: every in-process job and the Spark fixture share this home."""
    home = tmp_path_factory.mktemp("telcopulse-home")
    return Settings(home=home, kinesis_port=free_port(), trigger_seconds=0.2, window_seconds=60)


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[SparkSession]:
    session = build_spark(settings, "telcopulse-tests", cores=1)
    session.conf.set("spark.sql.shuffle.partitions", "1")
    bootstrap_tables(session, settings)
    yield session
    session.stop()


@pytest.fixture
def empty_tables(spark: SparkSession, settings: Settings) -> Settings:
    """Every TelcoPulse table exists and is empty (DELETE keeps snapshots; tests stamp fresh query ids)."""
    for table in ALL_TABLES:
        spark.sql(f"DROP TABLE IF EXISTS {settings.table(table.identifier)} PURGE")
    bootstrap_tables(spark, settings)
    return settings


@contextmanager
def local_stack(home: Path, **overrides: Any) -> Iterator[Settings]:
    """A real kinesalite on a free loopback port with its own home; stopped afterwards."""
    from pipelines.local import stack

    local = Settings(home=home, kinesis_port=free_port(), trigger_seconds=0.2, **overrides)
    stack.up(local, shards=2)
    try:
        yield local
    finally:
        stack.down(local)


@pytest.fixture
def kinesalite(tmp_path: Path) -> Iterator[Settings]:
    with local_stack(tmp_path / "home") as local:
        yield local


def run_cli(
    settings: Settings,
    *args: str,
    timeout: float = 300,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `telcopulse ARGS` in a child process with ``settings``' home and port (plus ``env``)."""
    env = {
        **(env or {}),
        **os.environ,
        "TELCOPULSE_HOME": str(settings.home),
        "TELCOPULSE_KINESIS_PORT": str(settings.kinesis_port),
        "TELCOPULSE_TRIGGER_SECONDS": str(settings.trigger_seconds),
        "TELCOPULSE_WINDOW_SECONDS": str(settings.window_seconds),
        "TELCOPULSE_TABLE_FORMAT": settings.table_format.value,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"telcopulse {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result


def delta_too_in_slow_suite() -> pytest.MarkDecorator:
    """Parametrize ``table_format``: Iceberg in the default run, Delta Lake in the slow suite (`make test-faults`)."""
    return pytest.mark.parametrize(
        "table_format",
        [TableFormat.ICEBERG, pytest.param(TableFormat.DELTA, marks=pytest.mark.slow)],
        ids=[TableFormat.ICEBERG.value, TableFormat.DELTA.value],
    )


@pytest.fixture(scope="session", params=list(TableFormat), ids=[f.value for f in TableFormat])
def replayed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The sample twice (the second copy: producer retries) plus every hostile record, through all three layers;
    once on Iceberg tables and once on Delta tables."""
    from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
    from pipelines.producer.hostile import HOSTILE

    home = tmp_path_factory.mktemp(f"replayed-{request.param.value}") / "home"
    with local_stack(home, table_format=request.param) as local:
        run_cli(local, "produce", "--csv", str(SAMPLE_CSV), "--date", "2026-11-22")
        report = BotoKinesisSink(kinesis_client(local), local.stream_name).put(
            [(f"h{i}", raw) for i, (_, raw, _) in enumerate(HOSTILE)]
        )
        assert report.sent == len(HOSTILE)
        run_cli(local, "run", "bronze", "--until-idle", "2")
        run_cli(local, "produce", "--csv", str(SAMPLE_CSV), "--date", "2026-11-22")
        # GX audits a silver batch whenever the last audit is done (by default once a minute).
        run_cli(local, "run", "all", "--until-idle", "3", env={"TELCOPULSE_GX_EVERY_SECONDS": "0"})
        yield local
