"""Maintenance as a scheduled Glue 5.1 job: ``pipelines.ops.maintain.maintain`` on the Glue Data Catalog.

The code is the local `telcopulse maintain`; only ``Settings`` differ (runtime ``aws``, checkpoints in
S3, which the expiry rule reads to protect the streaming readers). ``awsglue`` exists only on Glue: it is
imported inside ``main``. Optional arguments: ``--TELCOPULSE_RETAIN_HOURS`` (default 24) and
``--TELCOPULSE_ORPHAN_AGE_HOURS`` (default 72).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta

from pipelines.adapters.glue import log_json_lines, settings_from_args
from pipelines.ops.maintain import MaintenancePolicy

JOB_ARGS = (
    "JOB_NAME",
    "TELCOPULSE_WAREHOUSE_URI",
    "TELCOPULSE_CHECKPOINT_URI",
    "TELCOPULSE_REGION",
    "TELCOPULSE_TABLE_FORMAT",
)
OPTIONAL_ARGS = ("TELCOPULSE_RETAIN_HOURS", "TELCOPULSE_ORPHAN_AGE_HOURS")
log = logging.getLogger(__name__)


def policy_from_args(args: Mapping[str, str]) -> MaintenancePolicy:
    """Retention and orphan age from the optional arguments; the local defaults otherwise."""
    defaults = MaintenancePolicy()
    return MaintenancePolicy(
        retain=timedelta(hours=float(args["TELCOPULSE_RETAIN_HOURS"]))
        if "TELCOPULSE_RETAIN_HOURS" in args
        else defaults.retain,
        orphan_age=timedelta(hours=float(args["TELCOPULSE_ORPHAN_AGE_HOURS"]))
        if "TELCOPULSE_ORPHAN_AGE_HOURS" in args
        else defaults.orphan_age,
    )


def present_optional(argv: Sequence[str]) -> list[str]:
    """The optional arguments on the command line (``getResolvedOptions`` fails on a missing one)."""
    return [name for name in OPTIONAL_ARGS if f"--{name}" in argv]


def main(argv: list[str] | None = None) -> None:
    """Glue entrypoint: resolve the job arguments, maintain every table, log one JSON line per table.

    Args:
        argv: the job's command line as Glue passes it (``sys.argv``: script name, then ``--NAME value``).
    """
    from awsglue.utils import getResolvedOptions

    from pipelines.ops.maintain import maintain
    from pipelines.spark import build_spark

    argv = sys.argv if argv is None else argv
    args = getResolvedOptions(argv, [*JOB_ARGS, *present_optional(argv)])
    settings = settings_from_args(args)
    log_json_lines()
    reports = maintain(build_spark(settings, "telcopulse-maintain"), settings, policy_from_args(args))
    for report in reports:
        log.info("maintained %s", report.table, extra={"metrics": {"event": "maintenance", **report.as_dict()}})
    log.info("maintenance done: %s", json.dumps([r.table for r in reports]))


if __name__ == "__main__":
    main()
