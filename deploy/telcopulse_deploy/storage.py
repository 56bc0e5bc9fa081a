"""Storage: one data key and the buckets of the lakehouse, all encrypted, TLS-only and private.

Every bucket comes from ``secure_bucket``, so the rules live in one place: block public access, TLS 1.2+,
owner-enforced objects, server access logs, aborted uploads cleaned up, and a removal policy that keeps
production data when a stack is destroyed.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, region_info
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from telcopulse_deploy.config import EnvConfig

ALB_LOGS_PREFIX = "alb"
ABORT_UPLOADS = s3.LifecycleRule(
    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
)


def warehouse_uri(warehouse: s3.IBucket) -> str:
    """Where the Iceberg warehouse lives (``TELCOPULSE_WAREHOUSE_URI``)."""
    return f"s3://{warehouse.bucket_name}/warehouse"


def checkpoint_uri(checkpoints: s3.IBucket) -> str:
    """Root of the jobs' Spark checkpoints (``TELCOPULSE_CHECKPOINT_URI``); each job adds its name."""
    return f"s3://{checkpoints.bucket_name}/checkpoints"


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    config: EnvConfig,
    key: kms.IKey | None,
    access_logs: s3.IBucket | None,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    versioned: bool = False,
) -> s3.Bucket:
    """A private, TLS-only bucket: SSE-KMS with ``key`` (SSE-S3 when None, for log-delivery targets).

    Args:
        scope: parent construct.
        construct_id: id of the bucket, also its access-log prefix.
        config: the environment; decides whether objects survive ``cdk destroy``.
        key: customer key for SSE-KMS, or None for SSE-S3 (what S3 and ELB log delivery require).
        access_logs: where S3 server access logs go; None only for the log bucket itself.
        lifecycle_rules: expirations on top of the aborted-upload cleanup every bucket gets.
        versioned: keep noncurrent versions (30 days) to undo accidental deletes.
    """
    keep = config.keep_data_on_destroy
    rules = [ABORT_UPLOADS, *lifecycle_rules]
    if versioned:
        rules.append(s3.LifecycleRule(id="expire-noncurrent", noncurrent_version_expiration=Duration.days(30)))
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=key is not None,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"s3/{construct_id}/" if access_logs else None,
        lifecycle_rules=rules,
        versioned=versioned,
        removal_policy=RemovalPolicy.RETAIN if keep else RemovalPolicy.DESTROY,
        auto_delete_objects=not keep,
    )


def data_key(scope: Construct, construct_id: str, *, config: EnvConfig, alias: str, for_logs: bool = True) -> kms.Key:
    """A rotated customer key; with ``for_logs``, CloudWatch Logs may use it for this account's log groups."""
    key = kms.Key(
        scope,
        construct_id,
        alias=f"alias/{config.prefix}-{alias}",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN if config.keep_data_on_destroy else RemovalPolicy.DESTROY,
        pending_window=Duration.days(7),
    )
    if not for_logs:
        return key
    # Log groups encrypted with this key (Glue, Lambda, ECS, flow logs): the Logs service encrypts for them.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                    )
                }
            },
        )
    )
    return key


class Storage(Construct):
    """The data key and the lakehouse buckets: warehouse, checkpoints, Data Docs, artifacts, Athena results.

    ``access_logs`` receives S3 server access logs of every TelcoPulse bucket and the dashboard ALB's access
    logs (prefix ``alb/``); it is the only SSE-S3 bucket, since both log deliveries require SSE-S3.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = data_key(self, "DataKey", config=config, alias="data")
        self.access_logs = secure_bucket(
            self,
            "AccessLogs",
            config=config,
            key=None,
            access_logs=None,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(config.log_retention_days))],
        )
        self._accept_log_deliveries()

        def bucket(construct_id: str, *rules: s3.LifecycleRule, versioned: bool = False) -> s3.Bucket:
            return secure_bucket(
                self,
                construct_id,
                config=config,
                key=self.key,
                access_logs=self.access_logs,
                lifecycle_rules=rules,
                versioned=versioned,
            )

        # Iceberg deletes what it no longer references itself; versions only guard against a wrong DELETE.
        self.warehouse = bucket("Warehouse", versioned=config.keep_data_on_destroy)
        self.checkpoints = bucket(
            "Checkpoints", s3.LifecycleRule(id="expire-glue-temp", prefix="tmp/", expiration=Duration.days(7))
        )
        self.data_docs = bucket("DataDocs", s3.LifecycleRule(id="expire-docs", expiration=Duration.days(90)))
        self.artifacts = bucket("Artifacts")
        self.athena_results = bucket(
            "AthenaResults", s3.LifecycleRule(id="expire-results", expiration=Duration.days(30))
        )

    def _accept_log_deliveries(self) -> None:
        """Let S3 server access logging (any bucket of this account) and ELB (prefix ``alb/``) write logs.

        Buckets in other stacks point at this one by name: a per-source statement would make this stack
        depend on theirs, so the grant is per account instead.
        """
        self.access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.access_logs.arn_for_objects("s3/*")],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        alb_objects = self.access_logs.arn_for_objects(f"{ALB_LOGS_PREFIX}/AWSLogs/{Aws.ACCOUNT_ID}/*")
        # ELB delivers as a per-region AWS account in older regions and as a service principal in newer ones;
        # the account comes from CDK's region facts, looked up at deploy time since the stack has no region.
        elb_account = Stack.of(self).regional_fact(region_info.FactName.ELBV2_ACCOUNT)
        self.access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[
                    iam.AccountPrincipal(elb_account),
                    iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com"),
                ],
                actions=["s3:PutObject"],
                resources=[alb_objects],
            )
        )
