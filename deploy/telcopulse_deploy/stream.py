"""Stream: the Kinesis data stream every producer writes contract-v1 records to."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from telcopulse_deploy.config import EnvConfig, StreamCapacity
from telcopulse_deploy.nag import acknowledge


class EventStream(Construct):
    """The ``<prefix>-events`` stream: KMS-encrypted with the data key, on-demand or provisioned shards."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        provisioned = config.stream_capacity is StreamCapacity.PROVISIONED
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=f"{config.prefix}-events",
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=config.stream_shards if provisioned else None,
            retention_period=Duration.hours(config.stream_retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN if config.keep_data_on_destroy else RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.stream,
            {"AwsSolutions-KDS3": "A customer key, not aws/kinesis: its key policy decides who may read."},
        )
