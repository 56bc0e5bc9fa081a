"""cdk-nag acknowledgements: every suppression names the finding and says why it is acceptable."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge cdk-nag ``findings`` (finding id -> reason) on ``scope`` and everything below it.

    Findings are exact ids such as ``AwsSolutions-IAM5[Resource::*]``: cdk-nag 3 matches no prefixes, so an
    acknowledgement never hides a finding nobody looked at.
    """
    Validations.of(scope).acknowledge(*(Acknowledgment(id=finding, reason=why) for finding, why in findings.items()))


LAMBDA_BASIC_EXECUTION = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# Constructs aws-cdk-lib adds to a stack for its custom resources (bucket notifications and deployments,
# emptying buckets on delete, restricting a VPC's default security group).
CDK_CUSTOM_RESOURCE_IDS = ("Custom::", "BucketNotificationsHandler")
CDK_MANAGED_LAMBDA = {
    f"AwsSolutions-IAM4[Policy::{LAMBDA_BASIC_EXECUTION}]": (
        "A Lambda function that aws-cdk-lib creates and manages for a custom resource; its role's logging "
        "policy is not configurable."
    ),
    "AwsSolutions-L1": "Runtime of a Lambda that aws-cdk-lib creates and upgrades for a custom resource.",
}

# What aws-cdk-lib's bucket and key grants contain: S3 grants a prefix through action and object wildcards.
S3_READ_ACTIONS = ("s3:GetBucket*", "s3:GetObject*", "s3:List*")
S3_WRITE_ACTIONS = ("s3:Abort*", "s3:DeleteObject*")
KMS_DATA_KEY_ACTIONS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")


def acknowledge_wildcards(
    scope: IConstruct, *, reason: str, actions: Iterable[str] = (), resources: Iterable[str] = ()
) -> None:
    """Acknowledge AwsSolutions-IAM5 for the given wildcard ``actions`` and ``resources`` with one reason."""
    findings = {f"AwsSolutions-IAM5[Action::{action}]": reason for action in actions}
    findings |= {f"AwsSolutions-IAM5[Resource::{resource}]": reason for resource in resources}
    acknowledge(scope, findings)


def logical_arn(construct: IConstruct) -> str:
    """``<LogicalId.Arn>``: how cdk-nag names the ARN of a resource of the same stack in a finding."""
    stack = Stack.of(construct)
    return f"<{stack.resolve(stack.get_logical_id(construct.node.default_child))}.Arn>"  # type: ignore[arg-type]


def acknowledge_cdk_custom_resources(stack: Stack) -> list[IConstruct]:
    """Acknowledge ``CDK_MANAGED_LAMBDA`` on the custom-resource handlers aws-cdk-lib put in ``stack``.

    Only on those constructs: a Lambda function of our own still gets every finding. Returns them.
    """
    handlers = [child for child in stack.node.children if child.node.id.startswith(CDK_CUSTOM_RESOURCE_IDS)]
    for handler in handlers:
        acknowledge(handler, CDK_MANAGED_LAMBDA)
    return handlers
