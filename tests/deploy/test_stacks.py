"""The synthesized stacks: the resources and policies that matter, per environment, on the templates."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match
from telcopulse_deploy.config import (
    LAYERS,
    Layer,
    UnknownEnvironmentError,
    UnknownTableFormatError,
    chosen_table_format,
    env_config,
)
from telcopulse_deploy.glue_jobs import spark_conf_argument

from catalog.tables import NAMESPACES
from pipelines.bronze import glue_job as bronze_glue_job
from pipelines.gold import glue_job as gold_glue_job
from pipelines.query.views import analyst_views
from pipelines.settings import Runtime, Settings, TableFormat
from pipelines.silver import glue_job as silver_glue_job
from pipelines.spark import table_format_conf
from tests.deploy.conftest import Synthesized

GLUE_ENTRYPOINTS = {Layer.BRONZE: bronze_glue_job, Layer.SILVER: silver_glue_job, Layer.GOLD: gold_glue_job}


@pytest.fixture(scope="module")
def dev(synthesized: Any) -> Synthesized:
    return synthesized(env="dev")


@pytest.fixture(scope="module")
def prod(synthesized: Any) -> Synthesized:
    return synthesized(env="prod")


@pytest.fixture(scope="module")
def dev_delta(synthesized: Any) -> Synthesized:
    return synthesized(env="dev", table_format="delta")


def resources(synth: Synthesized, stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: dict(resource) for logical_id, resource in synth.template(stack).find_resources(kind).items()}


def glue_job(synth: Synthesized, layer: Layer | str) -> dict[str, Any]:
    """The properties of the Glue job of ``layer`` (or of the stack named ``<prefix>-maintenance``)."""
    suffix = layer.value if isinstance(layer, Layer) else layer
    stack = next(name for name in synth.stack_names if name.endswith(f"-{suffix}"))
    (job,) = resources(synth, stack, "AWS::Glue::Job").values()
    return dict(job["Properties"])


def role_statements(synth: Synthesized, stack: str, role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of roles whose logical id starts with ``role_prefix``."""
    statements = []
    for policy in resources(synth, stack, "AWS::IAM::Policy").values():
        roles = [ref["Ref"] for ref in policy["Properties"]["Roles"]]
        if any(role.startswith(role_prefix) for role in roles):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def test_app_synthesizes_every_stack_of_one_environment(dev: Synthesized) -> None:
    names = {"core", "bronze", "silver", "gold", "maintenance", "ingest", "query", "dashboard", "monitoring"}
    assert set(dev.stack_names) == {f"telcopulse-dev-{name}" for name in names}
    for name in dev.stack_names:
        assert dev.template_path(name).exists()


def test_cdk_nag_reports_no_unacknowledged_error(dev: Synthesized, prod: Synthesized, dev_delta: Synthesized) -> None:
    for synth in (dev, prod, dev_delta):
        report = json.loads((synth.outdir / "validation-report.json").read_text())
        nag = [
            v
            for plugin in report["pluginReports"]
            if plugin["pluginName"] == "AwsSolutions"
            for v in plugin["violations"]
        ]
        assert [v["ruleName"] for v in nag if v["severity"] == "error"] == []


def test_cdk_nag_errors_fail_the_synth(tmp_path: Any) -> None:
    from app import build_app
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3
    from telcopulse_deploy.config import cdk_context

    app = App(context={**cdk_context(), "env": "dev", "package_dir": str(tmp_path / "none")}, outdir=str(tmp_path))
    build_app(app)
    s3.Bucket(Stack(app, "Careless"), "Unencrypted")  # no TLS-only policy, no access logs
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*Careless/Unencrypted(.|\n)*AwsSolutions-S1"):
        app.synth()


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(UnknownEnvironmentError, match="staging"):
        env_config("staging")


def test_stream_is_kms_encrypted_on_demand_in_dev_and_provisioned_in_prod(dev: Synthesized, prod: Synthesized) -> None:
    dev.template("telcopulse-dev-core").has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": "telcopulse-dev-events",
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "StreamEncryption": {
                "EncryptionType": "KMS",
                "KeyId": {"Fn::GetAtt": [Match.string_like_regexp("DataKey"), "Arn"]},
            },
        },
    )
    prod.template("telcopulse-prod-core").has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "ShardCount": env_config("prod").stream_shards,
            "RetentionPeriodHours": 168,
        },
    )


def test_every_bucket_is_encrypted_private_tls_only_logged_and_cleans_up(dev: Synthesized) -> None:
    for stack in ("telcopulse-dev-core", "telcopulse-dev-ingest"):
        template = dev.template(stack)
        buckets = resources(dev, stack, "AWS::S3::Bucket")
        assert buckets
        for logical_id, bucket in buckets.items():
            props = bucket["Properties"]
            assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            assert props["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
            rules = props["LifecycleConfiguration"]["Rules"]
            assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)
            if not logical_id.startswith("StorageAccessLogs"):
                assert "LoggingConfiguration" in props, logical_id
            template.has_resource_properties(
                "AWS::S3::BucketPolicy",
                {
                    "Bucket": {"Ref": logical_id},
                    "PolicyDocument": {
                        "Statement": Match.array_with(
                            [
                                Match.object_like(
                                    {
                                        "Effect": "Deny",
                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                    }
                                )
                            ]
                        )
                    },
                },
            )


def test_data_buckets_use_the_data_key_and_prod_keeps_them(dev: Synthesized, prod: Synthesized) -> None:
    for logical_id, bucket in resources(dev, "telcopulse-dev-core", "AWS::S3::Bucket").items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert algorithm == ("AES256" if logical_id.startswith("StorageAccessLogs") else "aws:kms"), logical_id
        assert bucket["DeletionPolicy"] == "Delete"
    for bucket in resources(prod, "telcopulse-prod-core", "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"


def test_catalog_has_one_glue_database_per_layer_kept_in_prod(dev: Synthesized, prod: Synthesized) -> None:
    databases = resources(dev, "telcopulse-dev-core", "AWS::Glue::Database").values()
    assert sorted(db["Properties"]["DatabaseInput"]["Name"] for db in databases) == sorted(NAMESPACES)
    assert {db["DeletionPolicy"] for db in resources(prod, "telcopulse-prod-core", "AWS::Glue::Database").values()} == {
        "Retain"
    }


@pytest.mark.parametrize("layer", LAYERS)
def test_glue_job_is_a_small_autoscaled_glue_5_1_streaming_job(dev: Synthesized, layer: Layer) -> None:
    job = glue_job(dev, layer)
    assert job["Name"] == f"telcopulse-dev-{layer.value}"
    assert job["Command"]["Name"] == "gluestreaming"
    assert job["GlueVersion"] == "5.1"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert "SecurityConfiguration" in job
    arguments = job["DefaultArguments"]
    assert arguments["--enable-auto-scaling"] == "true"
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--job-language"] == "python"
    assert arguments["--enable-metrics"] == "true"
    conf = json.dumps(arguments["--conf"])
    assert "spark.sql.catalog.telcopulse.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog" in conf
    assert "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions" in conf


@pytest.mark.parametrize("layer", LAYERS)
def test_glue_job_arguments_are_exactly_what_its_entrypoint_resolves(dev: Synthesized, layer: Layer) -> None:
    passed = {name.removeprefix("--") for name in glue_job(dev, layer)["DefaultArguments"]}
    wanted = set(GLUE_ENTRYPOINTS[layer].JOB_ARGS) - {"JOB_NAME"}  # Glue passes JOB_NAME itself
    assert wanted <= passed
    assert {name for name in passed if name.startswith("TELCOPULSE_")} == wanted


def test_prod_jobs_scale_further_than_dev(prod: Synthesized) -> None:
    for layer in LAYERS:
        assert glue_job(prod, layer)["NumberOfWorkers"] == env_config("prod").glue[layer].max_workers
        assert glue_job(prod, layer)["DefaultArguments"]["--TELCOPULSE_TRIGGER_SECONDS"] == "30"


def test_with_delta_the_maintenance_trigger_is_created_inactive(dev_delta: Synthesized) -> None:
    """Delta on S3 takes one writing driver per table: maintenance must not run beside the streaming jobs."""
    (trigger,) = resources(dev_delta, "telcopulse-dev-maintenance", "AWS::Glue::Trigger").values()
    assert trigger["Properties"]["StartOnCreation"] is False
    assert "streaming jobs stopped" in trigger["Properties"]["Description"]


def test_maintenance_is_a_daily_glue_batch_job_that_only_reads_checkpoints(dev: Synthesized) -> None:
    from pipelines.ops import glue_maintain

    template = dev.template("telcopulse-dev-maintenance")
    (job,) = resources(dev, "telcopulse-dev-maintenance", "AWS::Glue::Job").values()
    props = job["Properties"]
    assert (props["Name"], props["Command"]["Name"], props["GlueVersion"]) == (
        "telcopulse-dev-maintenance",
        "glueetl",
        "5.1",
    )
    passed = {name.removeprefix("--") for name in props["DefaultArguments"]}
    assert set(glue_maintain.JOB_ARGS) - {"JOB_NAME"} <= passed
    template.has_resource_properties("AWS::Glue::Trigger", {"Type": "SCHEDULED", "StartOnCreation": True})
    statements = role_statements(dev, "telcopulse-dev-maintenance", "JobRole")
    checkpoint_writes = [
        s
        for s in statements
        if "checkpoints-bucket-arn" in json.dumps(s["Resource"])
        and "s3:PutObject" in actions_of([s])
        and "/checkpoints/" in json.dumps(s["Resource"])
    ]
    assert checkpoint_writes == []
    assert not any(a.startswith("kinesis:") for a in actions_of(statements))


def test_without_a_package_jobs_get_no_modules_and_the_lambda_a_placeholder(dev: Synthesized) -> None:
    assert "--additional-python-modules" not in glue_job(dev, Layer.SILVER)["DefaultArguments"]
    dev.template("telcopulse-dev-ingest").has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "index.handler", "Runtime": "python3.11"}
    )


def test_with_a_package_jobs_install_the_wheel_and_its_pins_without_resolving(
    synthesized: Any, fake_package: Any
) -> None:
    synth = synthesized(env="dev", package_dir=str(fake_package), require_package="true")
    arguments = glue_job(synth, Layer.BRONZE)["DefaultArguments"]
    modules = json.dumps(arguments["--additional-python-modules"])
    assert "/telcopulse-0.1.0-py3-none-any.whl,pydantic-settings==2.16.3,great-expectations==1.5.0" in modules
    assert arguments["--python-modules-installer-option"] == "--no-deps"
    synth.template("telcopulse-dev-ingest").has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "pipelines.producer.s3_trigger.handler"}
    )


def test_require_package_fails_the_synth_when_nothing_was_packaged(tmp_path: Any) -> None:
    from tests.deploy.conftest import synthesize

    with pytest.raises(RuntimeError, match="ValidationFailed(.|\n)*TelcoPulse-PackageMissing"):
        synthesize(tmp_path / "out", env="dev", package_dir=str(tmp_path / "nothing"), require_package="true")


def test_only_bronze_reads_the_stream_and_only_silver_writes_data_docs(dev: Synthesized) -> None:
    for layer in LAYERS:
        statements = role_statements(dev, f"telcopulse-dev-{layer.value}", "JobRole")
        actions = actions_of(statements)
        assert ("kinesis:GetRecords" in actions) == (layer is Layer.BRONZE)
        docs = [s for s in statements if "data-docs-bucket-arn" in json.dumps(s["Resource"])]
        assert bool(docs) == (layer is Layer.SILVER)
        assert "glue:CreateTable" in actions and "glue:UpdateTable" in actions
        assert not any(a.startswith("glue:Delete") for a in actions)
        (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
        assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}


def test_no_policy_grants_everything_or_attaches_full_access(dev: Synthesized) -> None:
    for name in dev.stack_names:
        template = dev.template_json(name)
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            for statement in props.get("PolicyDocument", {}).get("Statement", []):
                if statement["Effect"] == "Deny":
                    continue  # the TLS-only bucket policies deny s3:* over plain HTTP
                actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
                assert "*" not in actions and not any(a.endswith(":*") for a in actions), (name, logical_id)
            for arn in props.get("ManagedPolicyArns", []):
                assert "FullAccess" not in json.dumps(arn), (name, logical_id)
                # Only roles aws-cdk-lib creates for its own custom resources carry a managed policy.
                assert logical_id.startswith(("Custom", "BucketNotificationsHandler")), (name, logical_id)


def test_no_account_id_or_region_is_written_into_a_template(dev: Synthesized, prod: Synthesized) -> None:
    account = re.compile(r"(?<![\d.])\d{12}(?![\d.])")
    region = re.compile(r"\b(us|eu|ap|sa|ca|me|af|il|mx)-(north|south|east|west|central|northeast|southeast)-\d\b")
    for synth in (dev, prod):
        for name in synth.stack_names:
            template = synth.template_json(name)
            # Mappings hold CDK's region facts (ELB's log-delivery accounts), resolved at deploy time.
            body = json.dumps({k: v for k, v in template.items() if k != "Mappings"})
            assert not account.search(body), name
            assert not region.search(body), name


def test_csv_ingest_is_an_s3_notification_on_csv_files_to_a_lambda_with_a_dead_letter_queue(
    dev: Synthesized,
) -> None:
    template = dev.template("telcopulse-dev-ingest")
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    Match.object_like(
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}},
                        }
                    )
                ]
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "telcopulse-dev-csv-ingest",
            "DeadLetterConfig": Match.object_like({}),
            "Environment": {"Variables": Match.object_like({"TELCOPULSE_RUNTIME": "aws"})},
        },
    )
    actions = actions_of(role_statements(dev, "telcopulse-dev-ingest", "IngestRole"))
    assert {"kinesis:PutRecords", "s3:GetObject*"} <= actions
    assert not any(a.startswith("kinesis:Get") for a in actions)


def test_athena_workgroup_encrypts_results_and_saves_every_view(dev: Synthesized) -> None:
    template = dev.template("telcopulse-dev-query")
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "telcopulse-dev",
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": Match.object_like(
                        {"EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"})}
                    ),
                }
            ),
        },
    )
    views = analyst_views()
    assert views
    template.resource_count_is("AWS::Athena::NamedQuery", len(views))
    for view in views:
        template.has_resource_properties("AWS::Athena::NamedQuery", {"QueryString": view.trino_sql})


def test_dashboard_is_fargate_behind_cognito_on_https_only(dev: Synthesized) -> None:
    template = dev.template("telcopulse-dev-dashboard")
    assert {"DashboardDomainName", "DashboardCertificateArn"} <= set(template.to_json()["Parameters"])
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "DefaultActions": [
                Match.object_like({"Type": "authenticate-cognito", "Order": 1}),
                Match.object_like({"Type": "forward", "Order": 2}),
            ],
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [Match.object_like({"Type": "redirect"})],
        },
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "MfaConfiguration": "ON",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        },
    )
    template.has_resource_properties("AWS::ECS::Service", {"LaunchType": "FARGATE"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "LoadBalancerAttributes": Match.array_with([{"Key": "access_logs.s3.enabled", "Value": "true"}]),
        },
    )
    task_actions = actions_of(role_statements(dev, "telcopulse-dev-dashboard", "DashboardTaskTaskRole"))
    assert "athena:StartQueryExecution" in task_actions
    assert not any(a.startswith(("glue:Create", "glue:Update", "kinesis:")) for a in task_actions)


def test_dashboard_image_is_built_from_the_repository_with_its_dockerfile(dev: Synthesized) -> None:
    assets = json.loads((dev.outdir / "telcopulse-dev-dashboard.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "dashboard/Dockerfile"
    staged = {path.name for path in (dev.outdir / image["source"]["directory"]).iterdir()}
    assert {"pipelines", "dashboard", "pyproject.toml"} <= staged
    assert not staged & {".venv", "node_modules", "deploy", "tests", ".git"}


def test_monitoring_alarms_on_lag_failures_data_quality_and_freshness(dev: Synthesized) -> None:
    template = dev.template("telcopulse-dev-monitoring")
    alarms = resources(dev, "telcopulse-dev-monitoring", "AWS::CloudWatch::Alarm")
    descriptions = " ".join(alarm["Properties"]["AlarmDescription"] for alarm in alarms.values())
    for topic in (
        "behind the stream",
        "job run failed",
        "DQ budget",
        "Gold committed nothing",
        "ingest Lambda",
    ):
        assert topic in descriptions
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "GetRecords.IteratorAgeMilliseconds",
            "Threshold": 300_000,
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail": {
                    "jobName": [*(f"telcopulse-dev-{layer.value}" for layer in LAYERS), "telcopulse-dev-maintenance"],
                    "state": Match.array_with(["FAILED", "TIMEOUT"]),
                },
            }
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_batch_metrics_come_from_each_jobs_json_batch_lines(dev: Synthesized) -> None:
    template = dev.template("telcopulse-dev-silver")
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": Match.string_like_regexp(r'\$\.layer = "silver"'),
            "MetricTransformations": [
                Match.object_like(
                    {
                        "MetricName": "RowsQuarantined",
                        "MetricValue": "$.rows_quarantined",
                        "MetricNamespace": "TelcoPulse/dev",
                    }
                )
            ],
        },
    )


# Table format: -c table_format=iceberg|delta, else TELCOPULSE_TABLE_FORMAT, else iceberg.

ALL_JOBS = (*LAYERS, "maintenance")


def test_table_format_is_the_context_else_the_environment_else_iceberg() -> None:
    assert chosen_table_format(None, {}) is TableFormat.ICEBERG
    assert chosen_table_format(None, {"TELCOPULSE_TABLE_FORMAT": "delta"}) is TableFormat.DELTA
    assert chosen_table_format("delta", {"TELCOPULSE_TABLE_FORMAT": "iceberg"}) is TableFormat.DELTA
    assert chosen_table_format("Iceberg", {"TELCOPULSE_TABLE_FORMAT": "delta"}) is TableFormat.ICEBERG


@pytest.mark.parametrize(
    ("context_value", "environ", "source"),
    [("hudi", {}, "-c table_format"), (None, {"TELCOPULSE_TABLE_FORMAT": "parquet"}, "TELCOPULSE_TABLE_FORMAT")],
)
def test_unknown_table_format_is_refused_naming_where_it_came_from(
    context_value: str | None, environ: dict[str, str], source: str
) -> None:
    with pytest.raises(UnknownTableFormatError, match=f"'(hudi|parquet)' from {source}; choose one of iceberg, delta"):
        chosen_table_format(context_value, environ)


def test_the_app_refuses_an_unknown_table_format_before_building_anything(tmp_path: Any) -> None:
    from app import build_app
    from aws_cdk import App
    from telcopulse_deploy.config import cdk_context

    app = App(context={**cdk_context(), "env": "dev", "table_format": "hudi"}, outdir=str(tmp_path))
    with pytest.raises(UnknownTableFormatError, match="hudi"):
        build_app(app, environ={})
    assert app.node.children == []


def test_the_environment_variable_chooses_delta_when_the_context_names_no_format(tmp_path: Any) -> None:
    from app import build_app
    from aws_cdk import App
    from telcopulse_deploy.config import cdk_context

    app = App(context={**cdk_context(), "env": "dev", "package_dir": str(tmp_path)}, outdir=str(tmp_path / "out"))
    stacks = build_app(app, environ={"TELCOPULSE_TABLE_FORMAT": "delta"})
    for layer in LAYERS:
        arguments = stacks.jobs[layer].job.arguments
        assert (arguments["--datalake-formats"], arguments["--TELCOPULSE_TABLE_FORMAT"]) == ("delta", "delta")


@pytest.mark.parametrize("job", ALL_JOBS)
def test_by_default_every_job_stays_on_iceberg_without_the_session_catalog(dev: Synthesized, job: Layer | str) -> None:
    arguments = glue_job(dev, job)["DefaultArguments"]
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--TELCOPULSE_TABLE_FORMAT"] == "iceberg"
    assert "--enable-glue-datacatalog" not in arguments
    assert "org.apache.iceberg.aws.glue.GlueCatalog" in json.dumps(arguments["--conf"])
    stack = f"telcopulse-dev-{job.value if isinstance(job, Layer) else job}"
    assert "database/default" not in json.dumps(role_statements(dev, stack, "JobRole"))


@pytest.mark.parametrize("job", ALL_JOBS)
def test_with_delta_every_job_loads_delta_with_its_spark_conf_on_the_glue_data_catalog(
    dev_delta: Synthesized, job: Layer | str
) -> None:
    arguments = glue_job(dev_delta, job)["DefaultArguments"]
    assert arguments["--datalake-formats"] == "delta"
    assert arguments["--enable-glue-datacatalog"] == "true"
    assert arguments["--TELCOPULSE_TABLE_FORMAT"] == "delta"
    delta = Settings.model_construct(runtime=Runtime.AWS, table_format=TableFormat.DELTA)
    assert arguments["--conf"] == spark_conf_argument(table_format_conf(delta))
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in arguments["--conf"]
    assert "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog" in arguments["--conf"]
    assert "iceberg" not in arguments["--conf"]


@pytest.mark.parametrize("job", ALL_JOBS)
def test_delta_jobs_get_only_the_default_database_beyond_what_iceberg_jobs_get(
    dev: Synthesized, dev_delta: Synthesized, job: Layer | str
) -> None:
    stack = f"telcopulse-dev-{job.value if isinstance(job, Layer) else job}"
    iceberg, delta = role_statements(dev, stack, "JobRole"), role_statements(dev_delta, stack, "JobRole")
    (added,) = [statement for statement in delta if statement not in iceberg]
    assert [statement for statement in iceberg if statement not in delta] == []
    assert sorted(actions_of([added])) == ["glue:CreateDatabase", "glue:GetDatabase"]
    targets = [json.dumps(resource) for resource in added["Resource"]]
    assert len(targets) == 2
    assert targets[0].endswith(':catalog"]]}') and targets[1].endswith(':database/default"]]}')


def test_with_delta_athena_keeps_engine_3_and_every_view_and_the_dashboard_knows_the_format(
    dev: Synthesized, dev_delta: Synthesized
) -> None:
    query = dev_delta.template("telcopulse-dev-query")
    query.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {"EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"}}
            )
        },
    )
    query.resource_count_is("AWS::Athena::NamedQuery", len(analyst_views()))
    for synth, table_format in ((dev, "iceberg"), (dev_delta, "delta")):
        synth.template("telcopulse-dev-dashboard").has_resource_properties(
            "AWS::ECS::TaskDefinition",
            {
                "ContainerDefinitions": [
                    Match.object_like(
                        {"Environment": Match.array_with([{"Name": "TELCOPULSE_TABLE_FORMAT", "Value": table_format}])}
                    )
                ]
            },
        )
    databases = resources(dev_delta, "telcopulse-dev-core", "AWS::Glue::Database").values()
    assert all(db["Properties"]["DatabaseInput"]["Description"].endswith("(Delta Lake tables)") for db in databases)
    assert not resources(dev_delta, "telcopulse-dev-core", "AWS::Glue::Table")
