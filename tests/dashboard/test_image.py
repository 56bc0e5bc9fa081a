"""The dashboard image: what it runs on AWS must not need the jobs' Spark or DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.settings import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "dashboard" / "Dockerfile"


def test_dashboard_on_aws_imports_neither_spark_nor_duckdb() -> None:
    code = (
        "import sys, pipelines.cli, dashboard.queries, pipelines.adapters.athena\n"
        "from pipelines.adapters.registry import query_engine\n"
        "from pipelines.settings import Settings\n"
        "query_engine(Settings())\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(','.join(sorted(roots & {'pyspark', 'duckdb', 'great_expectations'})))\n"
    )
    env = {**os.environ, "TELCOPULSE_RUNTIME": "aws"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_runs_as_a_non_root_user_with_a_health_check() -> None:
    text = DOCKERFILE.read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER telcopulse\n" in text
    assert "/_stcore/health" in text.split("HEALTHCHECK", 1)[1]
    assert "TELCOPULSE_RUNTIME=aws" in text
