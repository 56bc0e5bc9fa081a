"""What the core stack shares, by name: named exports there, ``Fn::ImportValue`` everywhere else.

Other stacks never hold core's constructs, so no hidden cross-stack reference (and no export CDK names for
itself) appears: each shared value has one readable export name, ``<prefix>-<what>``, which also makes
cdk-nag findings on imported resources stable and legible. A stack that imports declares its dependency
on core explicitly.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from telcopulse_deploy.config import EnvConfig
from telcopulse_deploy.storage import Storage

KEY = "key-arn"
STREAM = "stream-arn"
BUCKETS = {
    "access_logs": "access-logs-bucket-arn",
    "warehouse": "warehouse-bucket-arn",
    "checkpoints": "checkpoints-bucket-arn",
    "data_docs": "data-docs-bucket-arn",
    "artifacts": "artifacts-bucket-arn",
    "athena_results": "athena-results-bucket-arn",
}


def export_name(config: EnvConfig, what: str) -> str:
    return f"{config.prefix}-{what}"


def imported_value(config: EnvConfig, what: str) -> str:
    """How cdk-nag names an imported value in a finding id: by its export name."""
    return export_name(config, what)


def export_core(stack: Stack, config: EnvConfig, *, storage: Storage, stream: kinesis.IStream) -> None:
    """Export the key, the stream and every bucket of ``storage`` under their ``<prefix>-<what>`` names."""
    values = {KEY: storage.key.key_arn, STREAM: stream.stream_arn}
    values |= {what: getattr(storage, attribute).bucket_arn for attribute, what in BUCKETS.items()}
    for what, value in values.items():
        CfnOutput(stack, f"Export-{what}", value=value, export_name=export_name(config, what))


class CoreRefs:
    """Core's key, stream and buckets as imports into ``scope``'s stack (grants work as on the originals)."""

    def __init__(self, scope: Construct, config: EnvConfig) -> None:
        def value(what: str) -> str:
            return Fn.import_value(export_name(config, what))

        self.key = kms.Key.from_key_arn(scope, "CoreKey", value(KEY))
        self.stream = kinesis.Stream.from_stream_attributes(
            scope, "CoreStream", stream_arn=value(STREAM), encryption_key=self.key
        )
        self.access_logs = s3.Bucket.from_bucket_attributes(
            scope, "CoreAccessLogs", bucket_arn=value(BUCKETS["access_logs"])
        )

        def bucket(attribute: str) -> s3.IBucket:
            return s3.Bucket.from_bucket_attributes(
                scope, f"Core-{attribute}", bucket_arn=value(BUCKETS[attribute]), encryption_key=self.key
            )

        self.warehouse = bucket("warehouse")
        self.checkpoints = bucket("checkpoints")
        self.data_docs = bucket("data_docs")
        self.artifacts = bucket("artifacts")
        self.athena_results = bucket("athena_results")
