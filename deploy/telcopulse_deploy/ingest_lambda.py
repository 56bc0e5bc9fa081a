"""Ingest: a CSV dropped in the uploads bucket becomes contract-v1 records on the stream.

The handler is ``pipelines.producer.s3_trigger`` (the CSV producer's own code), packaged with its
dependencies by ``make -C deploy package``. Without that bundle a synth still works and the function is a
placeholder that fails with a message saying how to build it.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Size, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from telcopulse_deploy.config import EnvConfig
from telcopulse_deploy.nag import (
    KMS_DATA_KEY_ACTIONS,
    S3_READ_ACTIONS,
    acknowledge,
    acknowledge_wildcards,
    logical_arn,
)
from telcopulse_deploy.refs import CoreRefs
from telcopulse_deploy.storage import secure_bucket

HANDLER = "pipelines.producer.s3_trigger.handler"
PLACEHOLDER_CODE = (
    "def handler(event, context):\n"
    "    raise RuntimeError('TelcoPulse ingest is not packaged: `make -C deploy package`, then deploy')\n"
)


def function_name(config: EnvConfig) -> str:
    return f"{config.prefix}-csv-ingest"


class CsvIngest(Construct):
    """Uploads bucket -> (ObjectCreated ``*.csv``) -> Lambda -> Kinesis, with a dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        core: CoreRefs,
        bundle: Path | None,
        require_package: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.keep_data_on_destroy else RemovalPolicy.DESTROY
        self.uploads = secure_bucket(
            self,
            "Uploads",
            config=config,
            key=core.key,
            access_logs=core.access_logs,
            lifecycle_rules=[s3.LifecycleRule(id="expire-uploads", expiration=Duration.days(30))],
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=core.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal,
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=core.key,
            retention=config.log_retention,
            removal_policy=removal,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CSV ingest Lambda: read uploads, put records on the stream, write its own logs",
        )
        if bundle is None:
            message = "No Lambda bundle under build/deploy: the CSV ingest function is a placeholder."
            if require_package:
                Validations.of(self).add_error("TelcoPulse-PackageMissing", message)
            else:
                Annotations.of(self).add_warning_v2("TelcoPulse-PackageMissing", message)
            code: lambda_.Code = lambda_.Code.from_inline(PLACEHOLDER_CODE)
            handler = "index.handler"
        else:
            code, handler = lambda_.Code.from_asset(str(bundle)), HANDLER
        # Python 3.11 is the project's Python (the same as Glue 5.1's), so one wheel serves both.
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name(config),
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=code,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            memory_size=config.lambda_memory_mb,
            ephemeral_storage_size=Size.gibibytes(2),
            timeout=Duration.minutes(10),
            retry_attempts=2,
            dead_letter_queue=self.dead_letters,
            environment={
                "TELCOPULSE_RUNTIME": "aws",
                "TELCOPULSE_STREAM_NAME": core.stream.stream_name,
                "TELCOPULSE_REGION": Aws.REGION,
                "TELCOPULSE_HOME": "/tmp/telcopulse",
            },
            description="TelcoPulse: CSV in the uploads bucket -> contract-v1 records on the stream",
        )
        acknowledge(
            self.function,
            {
                "AwsSolutions-L1": (
                    "Python 3.11 on purpose: the project's Python (requires-python <3.12, as on Glue 5.1), so "
                    "the handler runs the producer code exactly as it is tested."
                )
            },
        )
        log_group.grant_write(role)
        self.uploads.grant_read(role, "*.csv")
        core.stream.grant_write(role)
        Annotations.of(self.uploads).acknowledge_warning(
            "@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
            "The core access-log bucket accepts S3 server access logs from every bucket of the account.",
        )
        acknowledge_wildcards(
            role,
            reason="aws-cdk-lib's S3, Kinesis and KMS grants: read uploaded CSVs of this bucket only, put "
            "records on the one stream, use the one data key.",
            actions=(*S3_READ_ACTIONS, *KMS_DATA_KEY_ACTIONS),
            resources=(f"{logical_arn(self.uploads)}/*.csv",),
        )
        self.uploads.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(suffix=".csv"),
        )
