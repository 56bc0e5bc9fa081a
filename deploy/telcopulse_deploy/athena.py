"""Athena: the ``<prefix>`` workgroup (encrypted results, a scan limit) and the analyst views, saved.

The views are ``catalog/views/*.sql`` (Trino), in dependency order. They are saved as named queries
rather than created at deploy time because a view can only be created once the tables it reads exist,
i.e. after the jobs' first run; ``python -m telcopulse_deploy.views`` then runs them (see deploy/README.md).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipelines.query.views import AnalystView, analyst_views
from telcopulse_deploy.config import EnvConfig

# 10 GB per query: a dashboard query over gold reads megabytes; a runaway scan of bronze stops here.
BYTES_SCANNED_CUTOFF = 10 * 1024**3
QUERY_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetQueryResultsStream",
    "athena:GetWorkGroup",
)


def workgroup_name(config: EnvConfig) -> str:
    return config.prefix


def output_uri(results: s3.IBucket) -> str:
    """Where the workgroup writes query results (``TELCOPULSE_ATHENA_OUTPUT_URI``)."""
    return f"s3://{results.bucket_name}/results/"


def grant_query(grantee: iam.IGrantable, stack: Stack, *, config: EnvConfig, results: s3.IBucket) -> iam.Grant:
    """Run queries in the environment's workgroup and keep their results (reading tables: ``catalog``)."""
    results.grant_read_write(grantee, "results/*")
    arn = stack.format_arn(service="athena", resource="workgroup", resource_name=workgroup_name(config))
    return iam.Grant.add_to_principal(grantee=grantee, actions=list(QUERY_ACTIONS), resource_arns=[arn])


class QueryWorkgroup(Construct):
    """The workgroup every TelcoPulse query runs in, and one named query per analyst view."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        results: s3.IBucket,
        key: kms.IKey,
        views: tuple[AnalystView, ...] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = workgroup_name(config)
        self.output_uri = output_uri(results)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.name,
            description="TelcoPulse queries: dashboard, analysts and the views",
            recursive_delete_option=not config.keep_data_on_destroy,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.output_uri,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.views = analyst_views() if views is None else views
        self.named_queries = []
        for order, view in enumerate(self.views):
            self.named_queries.append(
                athena.CfnNamedQuery(
                    self,
                    f"View{order:02d}",
                    name=f"{order:02d} {view.name}",
                    description=f"Creates the view {view.name} (run in this order; see deploy/README.md)",
                    database=view.name.split(".")[0],
                    query_string=view.trino_sql,
                    work_group=self.workgroup.ref,
                )
            )
