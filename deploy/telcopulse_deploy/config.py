"""What differs between environments: one frozen ``EnvConfig`` per ``-c env=...``, nothing account-specific.

Accounts and regions never appear here: the stacks are environment-agnostic and deploy to whatever the
deploying credentials point at. Sizes follow the load each environment is built for (see deploy/README.md).
The table format is chosen per deployment, not per environment: ``-c table_format=iceberg|delta``, else
``TELCOPULSE_TABLE_FORMAT`` (the variable the jobs' ``Settings`` read locally), else Iceberg.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.settings import TableFormat

if TYPE_CHECKING:
    from aws_cdk import aws_logs as logs

DEPLOY_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = DEPLOY_DIR.parent
PROJECT = "telcopulse"
DEFAULT_ENV = "dev"
TABLE_FORMAT_CONTEXT = "table_format"
TABLE_FORMAT_VARIABLE = "TELCOPULSE_TABLE_FORMAT"


class UnknownEnvironmentError(ValueError):
    """``-c env=...`` names an environment that has no ``EnvConfig``."""


class UnknownTableFormatError(ValueError):
    """``-c table_format=...`` or ``TELCOPULSE_TABLE_FORMAT`` names a format TelcoPulse does not write."""


class StreamCapacity(StrEnum):
    ON_DEMAND = "on_demand"
    PROVISIONED = "provisioned"


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


LAYERS = (Layer.BRONZE, Layer.SILVER, Layer.GOLD)


@dataclass(frozen=True)
class GlueSizing:
    """Workers of one streaming job: ``max_workers`` is the auto-scaling ceiling (driver included)."""

    worker_type: str = "G.1X"
    max_workers: int = 2


@dataclass(frozen=True)
class EnvConfig:
    """One environment: capacity, retention and whether data outlives ``cdk destroy``."""

    name: str
    stream_capacity: StreamCapacity
    stream_shards: int
    stream_retention_hours: int
    glue: dict[Layer, GlueSizing]
    trigger_seconds: int
    log_retention_days: int
    keep_data_on_destroy: bool
    nat_gateways: int
    dashboard_tasks: int
    lambda_memory_mb: int = 1024
    glue_version: str = "5.1"
    table_format: TableFormat = TableFormat.ICEBERG
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """Name prefix of every named resource, e.g. ``telcopulse-dev``."""
        return f"{PROJECT}-{self.name}"

    @property
    def log_retention(self) -> logs.RetentionDays:
        """CloudWatch's retention for ``log_retention_days`` (one of the periods CloudWatch offers)."""
        from aws_cdk import (
            aws_logs as logs,
        )  # here, not at import: packaging reads this module without the CDK

        retention = {
            14: logs.RetentionDays.TWO_WEEKS,
            30: logs.RetentionDays.ONE_MONTH,
            90: logs.RetentionDays.THREE_MONTHS,
        }
        return retention[self.log_retention_days]

    def job_name(self, layer: Layer) -> str:
        return f"{self.prefix}-{layer.value}"

    def stack_name(self, concern: str) -> str:
        return f"{self.prefix}-{concern}"


# dev: ~100 readings/s. One on-demand stream, the smallest Glue G.1X job (driver + one executor) per layer.
# prod: ~10,000 readings/s. 12 provisioned shards (10 needed at 1,000 records/s each, plus headroom);
# Glue auto-scales each job between 2 workers and the ceiling below.
ENVIRONMENTS: dict[str, EnvConfig] = {
    "dev": EnvConfig(
        name="dev",
        stream_capacity=StreamCapacity.ON_DEMAND,
        stream_shards=0,
        stream_retention_hours=24,
        glue={layer: GlueSizing(max_workers=2) for layer in LAYERS},
        trigger_seconds=60,
        log_retention_days=14,
        keep_data_on_destroy=False,
        nat_gateways=1,
        dashboard_tasks=1,
    ),
    "prod": EnvConfig(
        name="prod",
        stream_capacity=StreamCapacity.PROVISIONED,
        stream_shards=12,
        stream_retention_hours=168,
        glue={
            Layer.BRONZE: GlueSizing(max_workers=4),
            Layer.SILVER: GlueSizing(max_workers=6),
            Layer.GOLD: GlueSizing(max_workers=4),
        },
        trigger_seconds=30,
        log_retention_days=90,
        keep_data_on_destroy=True,
        nat_gateways=2,
        dashboard_tasks=2,
        lambda_memory_mb=2048,
    ),
}


def env_config(name: str | None) -> EnvConfig:
    """The ``EnvConfig`` called ``name`` (``dev`` when none is given).

    Raises:
        UnknownEnvironmentError: no environment has that name.
    """
    key = name or DEFAULT_ENV
    if key not in ENVIRONMENTS:
        raise UnknownEnvironmentError(f"unknown environment {key!r}; choose one of {sorted(ENVIRONMENTS)}")
    return ENVIRONMENTS[key]


def chosen_table_format(context_value: str | None, environ: Mapping[str, str]) -> TableFormat:
    """The deployment's table format: ``-c table_format=...``, else ``TELCOPULSE_TABLE_FORMAT``, else Iceberg.

    Args:
        context_value: the ``table_format`` CDK context value, if any.
        environ: the environment of the synth (``os.environ``).

    Raises:
        UnknownTableFormatError: the chosen value is neither ``iceberg`` nor ``delta``; the message names
            where it came from.
    """
    if context_value:
        value, source = context_value, f"-c {TABLE_FORMAT_CONTEXT}"
    elif environ.get(TABLE_FORMAT_VARIABLE):
        value, source = environ[TABLE_FORMAT_VARIABLE], TABLE_FORMAT_VARIABLE
    else:
        return TableFormat.ICEBERG
    try:
        return TableFormat(value.strip().lower())
    except ValueError:
        choices = ", ".join(member.value for member in TableFormat)
        message = f"unknown table format {value!r} from {source}; choose one of {choices}"
        raise UnknownTableFormatError(message) from None


def cdk_context(deploy_dir: Path = DEPLOY_DIR) -> dict[str, Any]:
    """The context the CDK CLI would pass: ``cdk.json``'s ``context`` overlaid with ``cdk.context.json``.

    ``python deploy/app.py`` uses this so that a synth without the CLI sees the same feature flags.
    """
    context: dict[str, Any] = dict(json.loads((deploy_dir / "cdk.json").read_text()).get("context", {}))
    cached = deploy_dir / "cdk.context.json"
    if cached.exists():
        context.update(json.loads(cached.read_text()))
    return context
