"""The Glue maintenance entrypoint: argument contract and wiring, with a stand-in for ``awsglue``."""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from typing import Any

import pytest

from pipelines.ops import glue_maintain
from pipelines.ops.maintain import MaintenancePolicy, TableReport
from pipelines.settings import Runtime
from tests.pipelines.test_glue_jobs import get_resolved_options

ARGV = [
    "glue_maintain.py",
    "--JOB_NAME",
    "telcopulse-maintain",
    "--TELCOPULSE_WAREHOUSE_URI",
    "s3://warehouse-bucket/warehouse",
    "--TELCOPULSE_CHECKPOINT_URI",
    "s3://checkpoints-bucket/checkpoints",
    "--TELCOPULSE_REGION",
    "eu-west-1",
    "--TELCOPULSE_TABLE_FORMAT",
    "iceberg",
]


@pytest.fixture
def fake_glue(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awsglue", types.ModuleType("awsglue"))
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)

    def maintain(spark: Any, settings: Any, policy: MaintenancePolicy) -> list[TableReport]:
        calls.update(spark=spark, settings=settings, policy=policy)
        return [TableReport("telcopulse_bronze.network_events")]

    monkeypatch.setattr("pipelines.ops.maintain.maintain", maintain)
    monkeypatch.setattr("pipelines.spark.build_spark", lambda settings, name: f"session:{name}")
    return calls


def test_main_maintains_the_glue_catalog_with_default_retention(fake_glue: dict[str, Any]) -> None:
    glue_maintain.main(ARGV)

    settings = fake_glue["settings"]
    assert settings.runtime is Runtime.AWS and settings.region == "eu-west-1"
    assert settings.checkpoints == "s3://checkpoints-bucket/checkpoints"
    assert settings.warehouse == "s3://warehouse-bucket/warehouse"
    assert fake_glue["policy"] == MaintenancePolicy()
    assert fake_glue["spark"] == "session:telcopulse-maintain"


def test_main_takes_optional_retention_and_orphan_age(fake_glue: dict[str, Any]) -> None:
    glue_maintain.main([*ARGV, "--TELCOPULSE_RETAIN_HOURS", "6", "--TELCOPULSE_ORPHAN_AGE_HOURS", "48"])

    assert fake_glue["policy"].retain == timedelta(hours=6)
    assert fake_glue["policy"].orphan_age == timedelta(hours=48)
