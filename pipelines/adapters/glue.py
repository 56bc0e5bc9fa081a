"""What every Glue entrypoint shares: its argument contract, ``Settings`` from it, JSON logs, SIGTERM.

``awsglue`` exists only on Glue, so nothing here imports it; entrypoints import it inside ``main``.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from threading import Event

from pipelines.logs import JsonLineFormatter, configure_logging
from pipelines.settings import Runtime, Settings, TableFormat

# Arguments every streaming layer's job receives (CDK passes exactly these; a test keeps them in step).
STREAMING_JOB_ARGS = (
    "JOB_NAME",
    "TELCOPULSE_STREAM_NAME",
    "TELCOPULSE_WAREHOUSE_URI",
    "TELCOPULSE_CHECKPOINT_URI",
    "TELCOPULSE_REGION",
    "TELCOPULSE_TRIGGER_SECONDS",
    "TELCOPULSE_TABLE_FORMAT",
)


def settings_from_args(args: Mapping[str, str]) -> Settings:
    """The job's ``Settings`` from its resolved ``--TELCOPULSE_*`` arguments (runtime ``aws``)."""
    optional: dict[str, object] = {}
    if "TELCOPULSE_STREAM_NAME" in args:
        optional["stream_name"] = args["TELCOPULSE_STREAM_NAME"]
    if "TELCOPULSE_TRIGGER_SECONDS" in args:
        optional["trigger_seconds"] = float(args["TELCOPULSE_TRIGGER_SECONDS"])
    if "TELCOPULSE_TABLE_FORMAT" in args:
        optional["table_format"] = TableFormat(args["TELCOPULSE_TABLE_FORMAT"])
    return Settings(
        runtime=Runtime.AWS,
        warehouse_uri=args["TELCOPULSE_WAREHOUSE_URI"],
        checkpoint_uri=args["TELCOPULSE_CHECKPOINT_URI"],
        region=args["TELCOPULSE_REGION"],
        **optional,  # type: ignore[arg-type]
    )


def log_json_lines() -> None:
    """One JSON object per log line on stderr: CloudWatch metric filters read the batch lines' fields."""
    configure_logging()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLineFormatter())


def run_streaming_layer(
    run: Callable[..., int], argv: Sequence[str] | None, *, job_args: Sequence[str] = STREAMING_JOB_ARGS
) -> None:
    """Resolve the job's arguments and run a layer's job until Glue stops the run (SIGTERM)."""
    from awsglue.utils import getResolvedOptions

    settings = settings_from_args(getResolvedOptions(list(sys.argv if argv is None else argv), list(job_args)))
    log_json_lines()
    stop = Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(settings, stop=stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
