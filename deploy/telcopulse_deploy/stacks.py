"""The stacks of one environment: each deployable on its own, each made of the constructs of its concern.

    <prefix>-core        key, buckets, stream, Glue databases, the jobs' package     (exports by name)
    <prefix>-bronze      Glue streaming job: Kinesis -> bronze                       (imports core)
    <prefix>-silver      Glue streaming job: bronze -> silver                        (imports core)
    <prefix>-gold        Glue streaming job: silver -> gold                          (imports core)
    <prefix>-maintenance Glue batch job, daily: expiry, compaction, orphan files     (imports core)
    <prefix>-ingest      uploads bucket + Lambda: CSV -> stream                      (imports core)
    <prefix>-query       Athena workgroup and the analyst views                      (imports core)
    <prefix>-dashboard   Streamlit on Fargate behind Cognito + ALB                   (imports core)
    <prefix>-monitoring  CloudWatch dashboard, alarms, alarm topic                   (imports core)

``cdk deploy <prefix>-silver`` deploys silver (and core first, if it changed); ``cdk deploy --all`` all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Stack, Tags
from constructs import Construct

from telcopulse_deploy import refs
from telcopulse_deploy.athena import QueryWorkgroup
from telcopulse_deploy.catalog import LakeCatalog
from telcopulse_deploy.config import LAYERS, PROJECT, EnvConfig, Layer
from telcopulse_deploy.dashboard import Dashboard
from telcopulse_deploy.glue_jobs import JobPackage, MaintenanceJob, PackageLocation, StreamingJob
from telcopulse_deploy.ingest_lambda import CsvIngest
from telcopulse_deploy.monitoring import Monitoring
from telcopulse_deploy.nag import (
    KMS_DATA_KEY_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    acknowledge_cdk_custom_resources,
    acknowledge_wildcards,
    logical_arn,
)
from telcopulse_deploy.packaging import PACKAGE_DIR, glue_package, lambda_bundle
from telcopulse_deploy.storage import Storage, warehouse_uri
from telcopulse_deploy.stream import EventStream

CDK_ASSETS = "arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"


class CoreStack(Stack):
    """Everything the layers share: data key, buckets, stream, catalog, and the jobs' package."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        package_dir: Path,
        require_package: bool,
    ) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: storage, stream, catalog")
        self.storage = Storage(self, "Storage", config=config)
        self.stream = EventStream(self, "Stream", config=config, key=self.storage.key).stream
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            warehouse_uri=warehouse_uri(self.storage.warehouse),
            keep_on_destroy=config.keep_data_on_destroy,
            table_format=config.table_format,
        )
        self.package = JobPackage(
            self,
            "JobPackage",
            storage=self.storage,
            package=glue_package(package_dir),
            require_package=require_package,
        )
        refs.export_core(self, config, storage=self.storage, stream=self.stream)
        for handler in acknowledge_cdk_custom_resources(self):
            if not handler.node.id.startswith("Custom::CDKBucketDeployment"):
                continue
            acknowledge_wildcards(
                handler,
                reason="aws-cdk-lib's BucketDeployment copies CDK's staged assets into the artifacts bucket.",
                actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_DATA_KEY_ACTIONS),
                resources=(CDK_ASSETS, f"{logical_arn(self.storage.artifacts)}/*"),
            )


class LayerJobStack(Stack):
    """One layer's Glue streaming job."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        layer: Layer,
        package: PackageLocation,
    ) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: {layer.value} Glue job")
        self.job = StreamingJob(
            self, "Job", config=config, layer=layer, core=refs.CoreRefs(self, config), package=package
        )


class MaintenanceStack(Stack):
    """The daily table maintenance job."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig, package: PackageLocation) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: daily table maintenance")
        self.job = MaintenanceJob(self, "Job", config=config, core=refs.CoreRefs(self, config), package=package)


class IngestStack(Stack):
    """CSV uploads -> stream."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        package_dir: Path,
        require_package: bool,
    ) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: CSV ingest")
        self.ingest = CsvIngest(
            self,
            "Ingest",
            config=config,
            core=refs.CoreRefs(self, config),
            bundle=lambda_bundle(package_dir),
            require_package=require_package,
        )
        acknowledge_cdk_custom_resources(self)


class QueryStack(Stack):
    """Athena workgroup and views."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: Athena workgroup and views")
        core = refs.CoreRefs(self, config)
        self.workgroup = QueryWorkgroup(self, "Athena", config=config, results=core.athena_results, key=core.key)


class DashboardStack(Stack):
    """The dashboard service."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig, require_package: bool) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: dashboard")
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            config=config,
            core=refs.CoreRefs(self, config),
            require_package=require_package,
        )
        acknowledge_cdk_custom_resources(self)


class MonitoringStack(Stack):
    """Dashboards and alarms over every other stack (by names, so it deploys on its own too)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig, alarm_email: str | None) -> None:
        super().__init__(scope, construct_id, description=f"TelcoPulse {config.name}: dashboards and alarms")
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            stream=refs.CoreRefs(self, config).stream,
            alarm_email=alarm_email,
        )


@dataclass(frozen=True)
class TelcoPulseStacks:
    core: CoreStack
    jobs: dict[Layer, LayerJobStack]
    maintenance: MaintenanceStack
    ingest: IngestStack
    query: QueryStack
    dashboard: DashboardStack
    monitoring: MonitoringStack

    @property
    def all(self) -> list[Stack]:
        return [
            self.core, *self.jobs.values(), self.maintenance, self.ingest, self.query, self.dashboard, self.monitoring
        ]  # fmt: skip


def build_stacks(
    app: App,
    config: EnvConfig,
    *,
    package_dir: Path = PACKAGE_DIR,
    require_package: bool = False,
    alarm_email: str | None = None,
) -> TelcoPulseStacks:
    """Every stack of ``config``'s environment in ``app``, tagged with project and environment."""
    core = CoreStack(
        app,
        config.stack_name("core"),
        config=config,
        package_dir=package_dir,
        require_package=require_package,
    )
    jobs = {
        layer: LayerJobStack(
            app, config.stack_name(layer.value), config=config, layer=layer, package=core.package.location
        )
        for layer in LAYERS
    }
    maintenance = MaintenanceStack(app, config.stack_name("maintenance"), config=config, package=core.package.location)
    ingest = IngestStack(
        app,
        config.stack_name("ingest"),
        config=config,
        package_dir=package_dir,
        require_package=require_package,
    )
    query = QueryStack(app, config.stack_name("query"), config=config)
    dashboard = DashboardStack(app, config.stack_name("dashboard"), config=config, require_package=require_package)
    monitoring = MonitoringStack(app, config.stack_name("monitoring"), config=config, alarm_email=alarm_email)
    stacks = TelcoPulseStacks(core, jobs, maintenance, ingest, query, dashboard, monitoring)
    for stack in stacks.all:
        if stack is not core:
            stack.add_stack_dependency(core, "imports core's named exports")
        Tags.of(stack).add("project", PROJECT)
        Tags.of(stack).add("environment", config.name)
    dashboard.add_stack_dependency(query, "queries run in the query stack's workgroup")
    return stacks
