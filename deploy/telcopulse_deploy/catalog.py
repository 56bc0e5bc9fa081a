"""Catalog: the Glue databases ``telcopulse_bronze|silver|gold``; the jobs create the tables in them.

The tables are not declared here, whatever the table format: every job runs ``bootstrap_tables`` from
``catalog/tables.py`` at start, which creates any missing table. Iceberg tables go through Iceberg's
GlueCatalog (``table_type=ICEBERG``, partitioning, sort order and properties); Delta tables through Spark's
session catalog on Glue (``CREATE TABLE ... USING delta LOCATION 's3://...'``: provider ``delta``, the S3
path, and the schema in the Delta log, which Athena reads). One definition serves every catalog, and
CloudFormation never owns (or deletes) table metadata.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct

from catalog.tables import NAMESPACES
from pipelines.settings import TableFormat

READ_ACTIONS = (
    "glue:GetCatalog",
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetTableVersion",
    "glue:GetTableVersions",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
# Iceberg's GlueCatalog commits by UpdateTable (optimistic, on the metadata location); nothing drops tables.
WRITE_ACTIONS = ("glue:CreateTable", "glue:UpdateTable")
# Spark's session catalog on Glue (Delta) looks up the database ``default`` when it starts and creates it if
# the account has none (Glue's Data Catalog support for Spark SQL jobs: the role needs glue:CreateDatabase).
SESSION_DEFAULT_DATABASE = "default"
SESSION_CATALOG_ACTIONS = ("glue:GetDatabase", "glue:CreateDatabase")
FORMAT_LABELS = {TableFormat.ICEBERG: "Iceberg", TableFormat.DELTA: "Delta Lake"}


class LakeCatalog(Construct):
    """One Glue database per medallion layer, located under the warehouse bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        warehouse_uri: str,
        keep_on_destroy: bool,
        table_format: TableFormat = TableFormat.ICEBERG,
    ) -> None:
        super().__init__(scope, construct_id)
        label = FORMAT_LABELS[table_format]
        self.databases = [
            glue.CfnDatabase(
                self,
                name,
                catalog_id=Stack.of(self).account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=name,
                    description=f"TelcoPulse {name.removeprefix('telcopulse_')} layer ({label} tables)",
                    location_uri=f"{warehouse_uri}/{name}.db",
                ),
            )
            for name in NAMESPACES
        ]
        # Deleting a Glue database deletes its tables' metadata: kept wherever the data is kept.
        for database in self.databases:
            database.apply_removal_policy(RemovalPolicy.RETAIN if keep_on_destroy else RemovalPolicy.DESTROY)


def table_arn_pattern(namespace: str) -> str:
    """Every table of one database, as cdk-nag names the resource wildcard in a grant."""
    return f"arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/{namespace}/*"


def _arns(stack: Stack) -> list[str]:
    arns = [stack.format_arn(service="glue", resource="catalog")]
    for name in NAMESPACES:
        arns.append(stack.format_arn(service="glue", resource="database", resource_name=name))
        arns.append(stack.format_arn(service="glue", resource="table", resource_name=f"{name}/*"))
    return arns


def grant_read(grantee: iam.IGrantable, stack: Stack) -> iam.Grant:
    """Read the TelcoPulse databases and every table in them (queries, the dashboard)."""
    return iam.Grant.add_to_principal(grantee=grantee, actions=list(READ_ACTIONS), resource_arns=_arns(stack))


def grant_read_write(grantee: iam.IGrantable, stack: Stack) -> iam.Grant:
    """Read, create and commit TelcoPulse tables (the jobs); never delete one."""
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=[*READ_ACTIONS, *WRITE_ACTIONS], resource_arns=_arns(stack)
    )


def grant_session_catalog(grantee: iam.IGrantable, stack: Stack) -> iam.Grant:
    """Let Spark's session catalog on Glue start: find, or once create, the database ``default`` (Delta jobs)."""
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(SESSION_CATALOG_ACTIONS),
        resource_arns=[
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=SESSION_DEFAULT_DATABASE),
        ],
    )
