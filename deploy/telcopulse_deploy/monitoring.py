"""Monitoring: a CloudWatch dashboard and alarms for a pipeline that is late, failing or letting bad data in.

Alarms (all notify the ``<prefix>-alarms`` topic):
- Kinesis iterator age: bronze has fallen behind the stream by more than the freshness budget.
- Job failures: a Glue job run ended FAILED, TIMEOUT, ERROR or STOPPED (EventBridge -> topic, counted).
- DQ failure rate: silver quarantined more than ``1 - min_dq_pass_rate`` of its input.
- Gold freshness: gold committed no batch for three five-minute periods.
- Ingest errors: the CSV ingest Lambda failed.
Thresholds come from ``pipelines.settings.Settings`` (the same ones ``telcopulse status`` uses locally).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from pipelines.settings import Settings
from telcopulse_deploy.config import LAYERS, EnvConfig, Layer
from telcopulse_deploy.glue_jobs import batch_metric, maintenance_job_name
from telcopulse_deploy.ingest_lambda import function_name as ingest_function_name
from telcopulse_deploy.storage import data_key

FAILED_STATES = ("FAILED", "TIMEOUT", "ERROR", "STOPPED")
FIVE_MINUTES = Duration.minutes(5)


class Monitoring(Construct):
    """Dashboard, alarms and the alarm topic of one environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        stream: kinesis.IStream,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        thresholds = Settings.model_construct()
        key = data_key(self, "AlarmKey", config=config, alias="alarms", for_logs=False)
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Alarms", topic_name=f"{config.prefix}-alarms", master_key=key, enforce_ssl=True)
        self.topic.apply_removal_policy(RemovalPolicy.DESTROY)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = cloudwatch_actions.SnsAction(self.topic)

        iterator_age = stream.metric_get_records_iterator_age_milliseconds(
            statistic="Maximum", period=Duration.minutes(1)
        )
        rows_in = batch_metric(config, "RowsIn", Layer.SILVER)
        quarantined = batch_metric(config, "RowsQuarantined", Layer.SILVER)
        dq_failure_rate = cloudwatch.MathExpression(
            expression="IF(rows_in > 0, quarantined / rows_in, 0)",
            using_metrics={"rows_in": rows_in, "quarantined": quarantined},
            label="Silver DQ failure rate",
            period=FIVE_MINUTES,
        )
        gold_batches = batch_metric(config, "Batches", Layer.GOLD)
        ingest_errors, ingest_invocations = (
            cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name=name,
                statistic="Sum",
                period=FIVE_MINUTES,
                dimensions_map={"FunctionName": ingest_function_name(config)},
            )
            for name in ("Errors", "Invocations")
        )
        failed_runs = events.Rule(
            self,
            "JobFailed",
            description="A TelcoPulse Glue job run ended without success",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={
                    "jobName": [*(config.job_name(layer) for layer in LAYERS), maintenance_job_name(config)],
                    "state": list(FAILED_STATES),
                },
            ),
            targets=[targets.SnsTopic(self.topic)],
        )
        failed_count = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": failed_runs.rule_name},
            statistic="Sum",
            period=FIVE_MINUTES,
        )

        self.alarms = {
            "KinesisIteratorAge": iterator_age.create_alarm(
                self,
                "KinesisIteratorAge",
                alarm_description="Bronze is behind the stream by more than the freshness budget",
                threshold=thresholds.max_freshness_seconds * 1000,
                evaluation_periods=5,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "JobFailures": failed_count.create_alarm(
                self,
                "JobFailures",
                alarm_description="A Glue job run failed, timed out or was stopped",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "DqFailureRate": dq_failure_rate.create_alarm(
                self,
                "DqFailureRate",
                alarm_description="Silver quarantines more than its DQ budget",
                threshold=round(1 - thresholds.min_dq_pass_rate, 6),
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "GoldFreshness": gold_batches.create_alarm(
                self,
                "GoldFreshness",
                alarm_description="Gold committed nothing for 15 minutes",
                threshold=1,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            "IngestErrors": ingest_errors.create_alarm(
                self,
                "IngestErrors",
                alarm_description="The CSV ingest Lambda failed",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        }
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=config.prefix, default_interval=Duration.hours(3)
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Stream: records in", left=[stream.metric_incoming_records(period=FIVE_MINUTES)]
            ),
            cloudwatch.GraphWidget(title="Stream: iterator age (ms)", left=[iterator_age]),
            cloudwatch.GraphWidget(
                title="Rows in per layer", left=[batch_metric(config, "RowsIn", layer) for layer in LAYERS]
            ),
            cloudwatch.GraphWidget(
                title="Rows out per layer", left=[batch_metric(config, "RowsOut", layer) for layer in LAYERS]
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Silver DQ failure rate", left=[dq_failure_rate]),
            cloudwatch.GraphWidget(title="Gold batches", left=[gold_batches]),
            cloudwatch.GraphWidget(title="CSV ingest", left=[ingest_invocations, ingest_errors]),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values())),
        )
