"""Gold on AWS Glue 5.1 streaming: ``pipelines.gold.job.run`` on the Glue Data Catalog, checkpoints in S3.

The job code is the local one; only ``Settings`` differ (runtime ``aws``). Gold reads silver incrementally
as an Iceberg stream and keeps its checkpoint and ledger exactly as it does locally.
``awsglue`` exists only on Glue: it is imported inside ``main``.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping
from threading import Event

from pipelines.logs import JsonLineFormatter, configure_logging
from pipelines.settings import Runtime, Settings

JOB_ARGS = (
    "JOB_NAME",
    "TELCOPULSE_STREAM_NAME",
    "TELCOPULSE_WAREHOUSE_URI",
    "TELCOPULSE_CHECKPOINT_URI",
    "TELCOPULSE_REGION",
    "TELCOPULSE_TRIGGER_SECONDS",
)


def settings_from_args(args: Mapping[str, str]) -> Settings:
    """The job's ``Settings`` from its resolved ``--TELCOPULSE_*`` arguments (runtime ``aws``)."""
    return Settings(
        runtime=Runtime.AWS,
        stream_name=args["TELCOPULSE_STREAM_NAME"],
        warehouse_uri=args["TELCOPULSE_WAREHOUSE_URI"],
        checkpoint_uri=args["TELCOPULSE_CHECKPOINT_URI"],
        region=args["TELCOPULSE_REGION"],
        trigger_seconds=float(args["TELCOPULSE_TRIGGER_SECONDS"]),
    )


def main(argv: list[str] | None = None) -> None:
    """Glue entrypoint: resolve the job arguments and run gold until the job run is stopped.

    Args:
        argv: the job's command line as Glue passes it (``sys.argv``: script name, then ``--NAME value``).
    """
    from awsglue.utils import getResolvedOptions

    from pipelines.gold.job import run

    settings = settings_from_args(getResolvedOptions(sys.argv if argv is None else argv, list(JOB_ARGS)))
    configure_logging()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLineFormatter())  # CloudWatch metric filters read the batch lines' fields
    stop = Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(settings, stop=stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
