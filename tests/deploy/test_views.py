"""Creating the analyst views in Athena, in order, and stopping at the first one Athena refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from telcopulse_deploy.views import ViewNotCreatedError, create_views

from pipelines.query.views import analyst_views

REGION = "eu-west-1"


@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="telcopulse-test")
        yield client


def test_create_views_runs_every_view_in_dependency_order(athena: Any) -> None:
    views = analyst_views()

    created = create_views(athena, workgroup="telcopulse-test", views=views, poll_s=0.0)

    assert created == [view.name for view in views]
    executed = athena.list_query_executions(WorkGroup="telcopulse-test")["QueryExecutionIds"]
    assert len(executed) == len(views)


class RefusingAthena:
    """An Athena client whose every query fails, as when a view's table does not exist yet."""

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        return {
            "QueryExecution": {
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "TABLE_NOT_FOUND: telcopulse_gold.operator_kpis",
                }
            }
        }


def test_create_views_names_the_view_athena_refused() -> None:
    views = analyst_views()

    with pytest.raises(ViewNotCreatedError, match=f"{views[0].name}: TABLE_NOT_FOUND"):
        create_views(RefusingAthena(), workgroup="telcopulse-test", views=views, poll_s=0.0)
