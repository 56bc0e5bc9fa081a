"""Dashboard: the Streamlit app on ECS Fargate behind an HTTPS load balancer that signs users in with Cognito.

The image is ``dashboard/Dockerfile`` built with the repository root as context (it installs the project's
own wheel); ``from_asset`` only fingerprints it at synth, Docker runs at deploy. The domain name and its
ACM certificate are deploy-time parameters (``DashboardDomainName``, ``DashboardCertificateArn``): the load
balancer can only authenticate on HTTPS, and neither value belongs in the repository. Users are created by
an administrator (no self sign-up) and sign in with a password and a one-time code.
"""

from __future__ import annotations

from aws_cdk import (
    Annotations,
    Aws,
    CfnOutput,
    CfnParameter,
    Duration,
    Fn,
    IgnoreMode,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elbv2_actions
from aws_cdk import aws_logs as logs
from constructs import Construct

from telcopulse_deploy import athena, catalog, refs
from telcopulse_deploy.config import DEPLOY_DIR, REPO_ROOT, EnvConfig
from telcopulse_deploy.nag import (
    KMS_DATA_KEY_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    acknowledge,
    acknowledge_wildcards,
)
from telcopulse_deploy.refs import CoreRefs
from telcopulse_deploy.storage import ALB_LOGS_PREFIX

DOCKERFILE = "dashboard/Dockerfile"
PLACEHOLDER_DIR = DEPLOY_DIR / "placeholders" / "dashboard"
STREAMLIT_PORT = 8501
HEALTH_PATH = "/_stcore/health"
# The image needs only these (see dashboard/Dockerfile); everything else stays out of the build context.
IMAGE_CONTEXT = (
    "pyproject.toml",
    "README.md",
    "requirements.lock",
    "pipelines",
    "catalog",
    "expectations",
    "dashboard",
)


def dashboard_image() -> tuple[ecs.ContainerImage, bool]:
    """The dashboard image asset, and whether it is the real one (False: the placeholder page)."""
    if (REPO_ROOT / DOCKERFILE).exists():
        image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT),
            file=DOCKERFILE,
            ignore_mode=IgnoreMode.DOCKER,
            exclude=["*", *(f"!{path}" for path in IMAGE_CONTEXT), "**/__pycache__"],
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        return image, True
    return ecs.ContainerImage.from_asset(str(PLACEHOLDER_DIR), platform=ecr_assets.Platform.LINUX_AMD64), False


class Dashboard(Construct):
    """VPC, Fargate service, Cognito-authenticated ALB; the task may only query through Athena."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvConfig,
        core: CoreRefs,
        require_package: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.keep_data_on_destroy else RemovalPolicy.DESTROY
        domain_name = CfnParameter(
            self,
            "DomainName",
            type="String",
            description="DNS name the dashboard is served at (point it at the DashboardUrl load balancer)",
            allowed_pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
        )
        certificate_arn = CfnParameter(
            self,
            "CertificateArn",
            type="String",
            description="ARN of an ACM certificate for DomainName, in this stack's region",
            allowed_pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$",
        )
        domain_name.override_logical_id("DashboardDomainName")
        certificate_arn.override_logical_id("DashboardCertificateArn")

        flow_logs = logs.LogGroup(
            self, "FlowLogs", encryption_key=core.key, retention=config.log_retention, removal_policy=removal
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            flow_logs={"all": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))},
        )
        cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

        user_pool, client, domain = self._sign_in(config, domain_name.value_as_string, removal)

        alb_security_group = ec2.SecurityGroup(
            self,
            "AlbSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Dashboard load balancer: HTTPS (and HTTP redirect) in",
        )
        alb_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from anywhere")
        alb_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        acknowledge(
            alb_security_group,
            {"AwsSolutions-EC23": "A public dashboard: its listener authenticates each request (Cognito)."},
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            security_group=alb_security_group,
            drop_invalid_header_fields=True,
        )
        self.load_balancer.set_attribute("access_logs.s3.enabled", "true")
        self.load_balancer.set_attribute("access_logs.s3.bucket", core.access_logs.bucket_name)
        self.load_balancer.set_attribute("access_logs.s3.prefix", ALB_LOGS_PREFIX)

        service = self._service(config, cluster, core, removal, require_package)
        service.connections.allow_from(alb_security_group, ec2.Port.tcp(STREAMLIT_PORT), "Load balancer to Streamlit")
        target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=self.vpc,
            port=STREAMLIT_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[service],
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200"),
            deregistration_delay=Duration.seconds(30),
        )
        # Streamlit keeps a websocket per session: sticky sessions keep a user on one task.
        target_group.enable_cookie_stickiness(Duration.hours(8))
        self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn.value_as_string)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=elbv2_actions.AuthenticateCognitoAction(
                user_pool=user_pool,
                user_pool_client=client,
                user_pool_domain=domain,
                next=elbv2.ListenerAction.forward([target_group]),
                session_timeout=Duration.hours(8),
            ),
        )
        self.load_balancer.add_redirect(source_port=80, target_port=443)

        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{domain_name.value_as_string}",
            description="Sign in here; the DNS name must resolve to LoadBalancerDnsName",
        )
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description="CNAME (or alias) target for DashboardDomainName",
        )
        CfnOutput(
            self,
            "TaskRoleArn",
            value=service.task_definition.task_role.role_arn,
            description="The dashboard role: grant it read access where Lake Formation governs the databases",
        )
        CfnOutput(
            self,
            "UserPoolId",
            value=user_pool.user_pool_id,
            description="Create dashboard users here (no self sign-up)",
        )

    def _sign_in(
        self, config: EnvConfig, domain_name: str, removal: RemovalPolicy
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient, cognito.UserPoolDomain]:
        """Users created by admins, strong passwords and TOTP required; an OAuth client for the ALB."""
        user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=config.keep_data_on_destroy,
            removal_policy=removal,
        )
        domain = user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=Fn.join("-", [config.prefix, Aws.ACCOUNT_ID])),
        )
        client = user_pool.add_client(
            "LoadBalancer",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"https://{domain_name}/oauth2/idpresponse"],
                logout_urls=[f"https://{domain_name}/"],
            ),
            prevent_user_existence_errors=True,
        )
        return user_pool, client, domain

    def _service(
        self,
        config: EnvConfig,
        cluster: ecs.Cluster,
        core: CoreRefs,
        removal: RemovalPolicy,
        require_package: bool,
    ) -> ecs.FargateService:
        image, real = dashboard_image()
        if not real:
            message = f"{DOCKERFILE} not found: the dashboard service runs a placeholder page."
            if require_package:
                Validations.of(self).add_error("TelcoPulse-DashboardImageMissing", message)
            else:
                Annotations.of(self).add_warning_v2("TelcoPulse-DashboardImageMissing", message)
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=512,
            memory_limit_mib=1024,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        container_logs = logs.LogGroup(
            self, "Logs", encryption_key=core.key, retention=config.log_retention, removal_policy=removal
        )
        task.add_container(
            "Streamlit",
            image=image,
            port_mappings=[ecs.PortMapping(container_port=STREAMLIT_PORT)],
            logging=ecs.LogDriver.aws_logs(stream_prefix="dashboard", log_group=container_logs),
            environment={
                "TELCOPULSE_RUNTIME": "aws",
                "TELCOPULSE_REGION": Aws.REGION,
                "TELCOPULSE_ATHENA_WORKGROUP": athena.workgroup_name(config),
                "TELCOPULSE_ATHENA_OUTPUT_URI": athena.output_uri(core.athena_results),
                # What the jobs write: Athena's metadata tables differ between Iceberg and Delta.
                "TELCOPULSE_TABLE_FORMAT": config.table_format.value,
            },
            readonly_root_filesystem=False,
        )
        acknowledge(
            task,
            {
                "AwsSolutions-ECS2": (
                    "Only non-secret configuration (region, workgroup, result location, table format) is in the "
                    "environment; AWS credentials come from the task role."
                ),
            },
        )
        acknowledge(
            task.obtain_execution_role(),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ecr:GetAuthorizationToken, which the execution role needs to pull the image, has no "
                    "resource-level permissions."
                ),
            },
        )
        acknowledge_wildcards(
            task.task_role,
            reason="aws-cdk-lib's S3 and KMS grants: read the warehouse, keep query results under results/, "
            "use the data key; Glue read access covers the tables of the three TelcoPulse databases.",
            actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_DATA_KEY_ACTIONS),
            resources=(
                f"{refs.imported_value(config, refs.BUCKETS['warehouse'])}/*",
                f"{refs.imported_value(config, refs.BUCKETS['athena_results'])}/results/*",
                *(catalog.table_arn_pattern(namespace) for namespace in catalog.NAMESPACES),
            ),
        )
        athena.grant_query(task.task_role, Stack.of(self), config=config, results=core.athena_results)
        catalog.grant_read(task.task_role, Stack.of(self))
        core.warehouse.grant_read(task.task_role)
        core.key.grant_encrypt_decrypt(task.task_role)
        return ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=config.dashboard_tasks,
            min_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            assign_public_ip=False,
        )
