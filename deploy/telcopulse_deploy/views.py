"""Create (or replace) the analyst views in Athena, in dependency order, once the jobs have made the tables.

    python -m telcopulse_deploy.views --workgroup telcopulse-dev [--region eu-west-1]

The SQL is ``catalog/views/*.sql``, the same text the stack saves as named queries.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from pipelines.query.views import AnalystView, analyst_views

DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class ViewNotCreatedError(RuntimeError):
    """Athena did not create a view (typically: a table it reads does not exist yet)."""


def create_views(
    athena: Any,
    *,
    workgroup: str,
    views: Sequence[AnalystView],
    poll_s: float = 1.0,
    timeout_s: float = 300.0,
) -> list[str]:
    """Run each view's ``CREATE OR REPLACE VIEW`` in ``workgroup`` and wait for it; returns the view names.

    Raises:
        ViewNotCreatedError: a statement failed, was cancelled or did not finish within ``timeout_s``.
    """
    created = []
    for view in views:
        execution = athena.start_query_execution(
            QueryString=view.trino_sql,
            WorkGroup=workgroup,
            QueryExecutionContext={"Database": view.name.split(".")[0]},
        )["QueryExecutionId"]
        deadline = time.monotonic() + timeout_s
        while True:
            status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            if status["State"] in DONE or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", status["State"])
            raise ViewNotCreatedError(f"{view.name}: {reason}")
        created.append(view.name)
    return created


def main(argv: list[str] | None = None) -> int:
    """Command line: create every analyst view in the given workgroup."""
    import boto3

    parser = argparse.ArgumentParser(description="Create (or replace) the analyst views in Athena, in order.")
    parser.add_argument("--workgroup", required=True, help="Athena workgroup, e.g. telcopulse-dev")
    parser.add_argument("--region", default=None, help="AWS region (default: the SDK's)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    athena = boto3.client("athena", region_name=args.region)
    for name in create_views(athena, workgroup=args.workgroup, views=analyst_views()):
        sys.stdout.write(f"created {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
