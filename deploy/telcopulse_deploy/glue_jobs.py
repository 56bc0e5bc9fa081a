"""Glue jobs: one Glue 5.1 streaming job per layer, running the same job code as locally.

``JobPackage`` (core stack) ships what ``make -C deploy package`` built to the artifacts bucket: the jobs'
wheel with the pinned modules Glue installs next to it, and the GX suites. ``StreamingJob`` (one stack per
layer) is a job: its entrypoint ``pipelines/<layer>/glue_job.py`` as the script, a security configuration,
a least-privilege role, its log groups, and metric filters that turn its JSON batch lines into metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from pipelines.settings import Runtime, Settings, TableFormat
from pipelines.spark import table_format_conf
from telcopulse_deploy import catalog, refs
from telcopulse_deploy.config import REPO_ROOT, EnvConfig, GlueSizing, Layer
from telcopulse_deploy.nag import (
    KMS_DATA_KEY_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    acknowledge_wildcards,
)
from telcopulse_deploy.packaging import GluePackage
from telcopulse_deploy.refs import CoreRefs
from telcopulse_deploy.storage import Storage, checkpoint_uri, warehouse_uri

METRICS_NAMESPACE = "TelcoPulse"
# Metric name -> JSON field of the batch line (pipelines.logs.log_batch); "1" counts batches.
BATCH_METRICS = {
    "Batches": "1",
    "RowsIn": "$.rows_in",
    "RowsOut": "$.rows_out",
    "RowsQuarantined": "$.rows_quarantined",
}
SUITES_DIR = REPO_ROOT / "expectations"
KEEP_RUNNING_SCHEDULE = "cron(0/15 * * * ? *)"
MAINTENANCE_SCHEDULE = "cron(30 3 * * ? *)"  # daily, 03:30 UTC


def metrics_namespace(config: EnvConfig) -> str:
    return f"{METRICS_NAMESPACE}/{config.name}"


def batch_metric(config: EnvConfig, name: str, layer: Layer, *, period_minutes: int = 5) -> cloudwatch.Metric:
    """One of ``BATCH_METRICS`` for ``layer``, summed over ``period_minutes``."""
    return cloudwatch.Metric(
        namespace=metrics_namespace(config),
        metric_name=name,
        dimensions_map={"Layer": layer.value},
        statistic="Sum",
        period=Duration.minutes(period_minutes),
    )


def spark_conf_argument(conf: dict[str, str]) -> str:
    """Glue's one ``--conf`` argument carrying several Spark settings (``k=v --conf k=v ...``)."""
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def job_settings(*, stream_name: str, warehouse: str, checkpoints: str, config: EnvConfig) -> Settings:
    """The ``Settings`` a job builds from its arguments on Glue, for deriving its table format's Spark conf here.

    Values not passed are the defaults, as on Glue (no TELCOPULSE_* variables there), whatever this shell has.
    """
    return Settings.model_construct(
        runtime=Runtime.AWS,
        stream_name=stream_name,
        warehouse_uri=warehouse,
        checkpoint_uri=checkpoints,
        region=Aws.REGION,
        trigger_seconds=float(config.trigger_seconds),
        table_format=config.table_format,
    )


def table_format_arguments(settings: Settings) -> dict[str, str]:
    """Glue's switches for the table format: its libraries, its Spark conf, and the setting for the job code.

    Delta tables are registered in the Glue Data Catalog through Spark's session catalog, which Glue backs
    with the Data Catalog only under ``--enable-glue-datacatalog``; Iceberg's GlueCatalog needs no metastore.
    """
    arguments = {
        "--datalake-formats": settings.table_format.value,
        "--conf": spark_conf_argument(table_format_conf(settings)),
        "--TELCOPULSE_TABLE_FORMAT": settings.table_format.value,
    }
    if settings.is_delta:
        arguments["--enable-glue-datacatalog"] = "true"
    return arguments


@dataclass(frozen=True)
class PackageLocation:
    """Where the package of this synth lands in the artifacts bucket, and what Glue installs from it."""

    prefix: str
    wheel_name: str | None
    requirements: tuple[str, ...]

    def python_modules_arguments(self, artifacts_bucket: str) -> dict[str, str]:
        """``--additional-python-modules``: the wheel, then its pinned closure, installed without resolving.

        ``--no-deps`` keeps pip from replacing Glue's own Spark, boto3 or pandas with the wheel's pins.
        """
        if self.wheel_name is None:
            return {}
        wheel = f"s3://{artifacts_bucket}/{self.prefix}/{self.wheel_name}"
        return {
            "--additional-python-modules": ",".join([wheel, *self.requirements]),
            "--python-modules-installer-option": "--no-deps",
        }


def grant_glue_metrics(grantee: iam.IGrantable) -> iam.Grant:
    """Publish Glue's job metrics (``--enable-metrics``), and no other namespace."""
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["cloudwatch:PutMetricData"],
        resource_arns=["*"],  # PutMetricData has no resource-level permissions; the namespace condition scopes it
        conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
    )


class JobPackage(Construct):
    """The jobs' wheel, pinned requirements and GX suites, under ``glue/<wheel hash>/`` in artifacts."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        package: GluePackage,
        require_package: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = f"glue/{package.fingerprint}"
        self.location = PackageLocation(
            prefix=prefix,
            wheel_name=package.wheel.name if package.wheel else None,
            requirements=package.requirements,
        )
        if package.wheel is None:
            message = (
                "No jobs package under build/deploy: the Glue jobs get no wheel and cannot start. "
                "Run `make -C deploy package` before deploying."
            )
            if require_package:
                Validations.of(self).add_error("TelcoPulse-PackageMissing", message)
            else:
                Annotations.of(self).add_warning_v2("TelcoPulse-PackageMissing", message)
            source = s3deploy.Source.data("PLACEHOLDER.txt", "Run `make -C deploy package` and deploy again.\n")
        else:
            source = s3deploy.Source.asset(str(package.directory))
        self.deployments = [
            s3deploy.BucketDeployment(
                self,
                "Wheel",
                sources=[source],
                destination_bucket=storage.artifacts,
                destination_key_prefix=f"{prefix}/",
                memory_limit=512,
            ),
            s3deploy.BucketDeployment(
                self,
                "Suites",
                sources=[s3deploy.Source.asset(str(SUITES_DIR), exclude=["*", "!*.json"])],
                destination_bucket=storage.artifacts,
                destination_key_prefix=f"{prefix}/expectations/",
                memory_limit=256,
            ),
        ]


@dataclass(frozen=True)
class JobSpec:
    """What differs between TelcoPulse's Glue jobs; everything else ``GlueJob`` sets the same way."""

    name: str
    script: Path
    command: str
    description: str
    sizing: GlueSizing
    max_retries: int
    arguments: dict[str, str]
    timeout_minutes: int | None = None


class GlueJob(Construct):
    """A TelcoPulse Glue 5.1 job: its script, role, security configuration and log groups, the table format's
    Spark conf and the jobs' package as arguments, and the grants every job needs (catalog, warehouse, package,
    logs).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvConfig, spec: JobSpec, core: CoreRefs,
        package: PackageLocation,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.config = config
        self.job_name = spec.name
        self.temp_prefix = f"tmp/{spec.name.removeprefix(config.prefix + '-')}/"
        removal = RemovalPolicy.RETAIN if config.keep_data_on_destroy else RemovalPolicy.DESTROY
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=f"Glue job {spec.name}: {spec.description}",
        )
        log_prefix = f"/aws-glue/{spec.name}"
        self.output_logs, self.error_logs = (
            logs.LogGroup(
                self,
                f"{kind.title()}Logs",
                log_group_name=f"{log_prefix}/{kind}",
                encryption_key=core.key,
                retention=config.log_retention,
                removal_policy=removal,
            )
            for kind in ("output", "error")
        )
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=spec.name,
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=core.key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=core.key.key_arn
                ),
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=core.key.key_arn
                    )
                ],
            ),
        )
        script = s3_assets.Asset(self, "Script", path=str(spec.script))
        self.arguments = self._common_arguments(core, package, log_prefix) | spec.arguments
        self.job = glue.CfnJob(
            self,
            "Job",
            name=spec.name,
            description=f"TelcoPulse: {spec.description}",
            role=self.role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name=spec.command, python_version="3", script_location=script.s3_object_url
            ),
            glue_version=config.glue_version,
            worker_type=spec.sizing.worker_type,
            number_of_workers=spec.sizing.max_workers,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            max_retries=spec.max_retries,
            timeout=spec.timeout_minutes,
            security_configuration=self.security_configuration.ref,
            default_arguments=self.arguments,
        )
        script.grant_read(self.role)
        core.artifacts.grant_read(self.role, f"{package.prefix}/*")
        # Every job creates missing TelcoPulse tables at start (bootstrap_tables), so each writes the warehouse.
        catalog.grant_read_write(self.role, Stack.of(self))
        if config.table_format is TableFormat.DELTA:
            catalog.grant_session_catalog(self.role, Stack.of(self))
        core.warehouse.grant_read_write(self.role)
        core.checkpoints.grant_read_write(self.role, f"{self.temp_prefix}*")
        for group in (self.output_logs, self.error_logs):
            group.grant_write(self.role)
            # The security configuration makes Glue associate the data key with the groups it writes to.
            group.grant(self.role, "logs:AssociateKmsKey")
        core.key.grant_encrypt_decrypt(self.role)
        grant_glue_metrics(self.role)
        self.acknowledge_objects(
            f"{refs.imported_value(config, refs.BUCKETS['warehouse'])}/*",
            f"{refs.imported_value(config, refs.BUCKETS['checkpoints'])}/{self.temp_prefix}*",
            f"{refs.imported_value(config, refs.BUCKETS['artifacts'])}/{package.prefix}/*",
            "arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
        )
        acknowledge_wildcards(
            self.role,
            reason="The jobs create and commit any table of the three TelcoPulse databases (Iceberg's GlueCatalog "
            "or, for Delta, Spark's session catalog on Glue); nothing else.",
            resources=[catalog.table_arn_pattern(namespace) for namespace in catalog.NAMESPACES],
        )
        acknowledge_wildcards(
            self.role,
            reason="cloudwatch:PutMetricData has no resource-level permissions; the condition limits it to "
            "Glue's own namespace.",
            resources=["*"],
        )
        CfnOutput(
            self,
            "RoleArn",
            value=self.role.role_arn,
            description="The job role: grant it the TelcoPulse databases where Lake Formation governs them",
        )

    def _common_arguments(self, core: CoreRefs, package: PackageLocation, log_prefix: str) -> dict[str, str]:
        """Glue's switches, the table format's conf and the package: the same for every TelcoPulse job."""
        settings = job_settings(
            stream_name=core.stream.stream_name,
            warehouse=warehouse_uri(core.warehouse),
            checkpoints=checkpoint_uri(core.checkpoints),
            config=self.config,
        )
        return {
            "--job-language": "python",
            **table_format_arguments(settings),
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--enable-auto-scaling": "true",
            "--custom-logGroup-prefix": log_prefix,
            "--TempDir": f"s3://{core.checkpoints.bucket_name}/{self.temp_prefix}",
            **package.python_modules_arguments(core.artifacts.bucket_name),
            "--TELCOPULSE_WAREHOUSE_URI": settings.warehouse,
            "--TELCOPULSE_CHECKPOINT_URI": settings.checkpoints,
            "--TELCOPULSE_REGION": settings.region,
        }

    def acknowledge_objects(self, *resources: str) -> None:
        """Acknowledge the S3/KMS grant wildcards of this role on ``resources`` (TelcoPulse's own objects)."""
        acknowledge_wildcards(
            self.role,
            reason="aws-cdk-lib's S3 and KMS grants: object and data-key actions on TelcoPulse's own buckets "
            "and key only, objects limited to this job's prefixes where the job has them.",
            actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_DATA_KEY_ACTIONS),
            resources=resources,
        )

    def schedule(self, suffix: str, *, cron: str, description: str, enabled: bool = True) -> glue.CfnTrigger:
        """Start the job on ``cron`` (UTC) by the trigger ``<job>-<suffix>``; a start during a run is refused.

        ``enabled=False`` creates the trigger deactivated (an operator activates it, or starts the job by hand).
        """
        return glue.CfnTrigger(
            self,
            "".join(part.title() for part in suffix.split("-")),
            name=f"{self.job_name}-{suffix}",
            description=description,
            type="SCHEDULED",
            schedule=cron,
            start_on_creation=enabled,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.ref)],
        )


LAYER_SUMMARIES = {
    Layer.BRONZE: "Kinesis -> telcopulse_bronze.network_events, byte for byte",
    Layer.SILVER: "bronze -> typed, validated, deduplicated silver, quarantine and dq_results",
    Layer.GOLD: "silver -> windowed KPIs, postal status counts and outages",
}


class StreamingJob(GlueJob):
    """The Glue streaming job of ``layer``: same code as locally, Glue catalog, checkpoints in S3.

    Least privilege per layer: only bronze reads the stream, only silver writes Data Docs, each job its own
    checkpoints.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        layer: Layer,
        core: CoreRefs,
        package: PackageLocation,
        keep_running: bool = True,
    ) -> None:
        self.layer = layer
        arguments = {
            "--TELCOPULSE_STREAM_NAME": core.stream.stream_name,
            "--TELCOPULSE_TRIGGER_SECONDS": str(config.trigger_seconds),
            **({"--TELCOPULSE_STREAM_ARN": core.stream.stream_arn} if layer is Layer.BRONZE else {}),
        }
        spec = JobSpec(
            name=config.job_name(layer),
            script=REPO_ROOT / "pipelines" / layer.value / "glue_job.py",
            command="gluestreaming",
            description=f"{layer.value}: {LAYER_SUMMARIES[layer]}",
            sizing=config.glue[layer],
            max_retries=2,
            arguments=arguments,
        )
        super().__init__(scope, construct_id, config=config, spec=spec, core=core, package=package)
        core.checkpoints.grant_read_write(self.role, f"checkpoints/{layer.value}/*")
        checkpoints = f"{refs.imported_value(config, refs.BUCKETS['checkpoints'])}/checkpoints/{layer.value}/*"
        self.acknowledge_objects(checkpoints)
        if layer is Layer.BRONZE:
            core.stream.grant_read(self.role)
        if layer is Layer.SILVER:
            core.data_docs.grant_read_write(self.role)
            self.acknowledge_objects(f"{refs.imported_value(config, refs.BUCKETS['data_docs'])}/*")
        self._add_metric_filters(config)
        if keep_running:
            # A streaming job ends after a failure that used up its retries or at Glue's maximum run time.
            self.schedule("keep-running", cron=KEEP_RUNNING_SCHEDULE,
                          description="Start the streaming job if it is not running")  # fmt: skip

    def _add_metric_filters(self, config: EnvConfig) -> None:
        """``RowsIn``/``RowsOut``/``RowsQuarantined``/``Batches`` per layer from the JSON batch lines."""
        pattern = logs.FilterPattern.all(
            logs.FilterPattern.string_value("$.event", "=", "batch"),
            logs.FilterPattern.string_value("$.layer", "=", self.layer.value),
        )
        for name, value in BATCH_METRICS.items():
            self.output_logs.add_metric_filter(
                f"{name}Filter",
                filter_pattern=pattern,
                metric_namespace=metrics_namespace(config),
                metric_name=name,
                metric_value=value,
                dimensions={"Layer": "$.layer"},
            )


class MaintenanceJob(GlueJob):
    """The daily maintenance batch job (``pipelines/ops/glue_maintain.py``): expiry, compaction, orphan files.

    It reads every job's checkpoints (the expiry rule keeps what the streaming readers still need) and
    writes nothing but the warehouse and its own temp space.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvConfig, core: CoreRefs, package: PackageLocation
    ) -> None:
        spec = JobSpec(
            name=maintenance_job_name(config),
            script=REPO_ROOT / "pipelines" / "ops" / "glue_maintain.py",
            command="glueetl",
            description="maintenance: snapshot expiry, compaction and orphan files of every TelcoPulse table",
            sizing=GlueSizing(max_workers=2),
            max_retries=0,
            arguments={},
            timeout_minutes=120,
        )
        super().__init__(scope, construct_id, config=config, spec=spec, core=core, package=package)
        core.checkpoints.grant_read(self.role, "checkpoints/*")
        self.acknowledge_objects(f"{refs.imported_value(config, refs.BUCKETS['checkpoints'])}/checkpoints/*")
        # Delta on S3 is transactional only for one writing driver per table: while the streaming jobs commit,
        # a maintenance commit could overwrite one of theirs. Under Delta the daily trigger is created inactive;
        # run maintenance in a window with the streaming jobs stopped (deploy/README.md, Table format).
        delta = config.table_format is TableFormat.DELTA
        self.schedule(
            "daily",
            cron=MAINTENANCE_SCHEDULE,
            description="Maintain every TelcoPulse table once a day"
            + (" (Delta: inactive; run with the streaming jobs stopped)" if delta else ""),
            enabled=not delta,
        )


def maintenance_job_name(config: EnvConfig) -> str:
    return f"{config.prefix}-maintenance"
