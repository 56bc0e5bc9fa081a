"""Silver on AWS Glue 5.1 streaming: ``pipelines.silver.job.run`` on the Glue Data Catalog, checkpoints in S3.

The job code is the local one; only ``Settings`` differ (runtime ``aws``): it reads its upstream Iceberg
table incrementally and keeps its checkpoint and ledger exactly as it does locally.
"""

from __future__ import annotations

from pipelines.adapters.glue import STREAMING_JOB_ARGS, run_streaming_layer, settings_from_args

JOB_ARGS = STREAMING_JOB_ARGS
__all__ = ["JOB_ARGS", "main", "settings_from_args"]


def main(argv: list[str] | None = None) -> None:
    """Glue entrypoint: resolve the job arguments and run silver until the job run is stopped.

    Args:
        argv: the job's command line as Glue passes it (``sys.argv``: script name, then ``--NAME value``).
    """
    from pipelines.silver.job import run

    run_streaming_layer(run, argv, job_args=JOB_ARGS)


if __name__ == "__main__":
    main()
