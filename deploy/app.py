"""The CDK app: every TelcoPulse stack of one environment, checked by cdk-nag on every synth.

    cdk synth -c env=prod          (from deploy/; cdk.json runs this file)
    python deploy/app.py -c env=prod   (the same synth without the CDK CLI, into deploy/cdk.out)

Context: ``env`` (dev|prod, default dev), ``table_format`` (iceberg|delta; else ``TELCOPULSE_TABLE_FORMAT``,
else iceberg), ``alarm_email`` (optional subscriber of the alarm topic), ``require_package`` (true: fail unless
``make -C deploy package`` ran), ``package_dir`` (where it put them).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
for path in (DEPLOY_DIR, DEPLOY_DIR.parent):  # telcopulse_deploy, and the project's pipelines/ and catalog/
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from aws_cdk import App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from telcopulse_deploy.config import TABLE_FORMAT_CONTEXT, cdk_context, chosen_table_format, env_config  # noqa: E402
from telcopulse_deploy.packaging import PACKAGE_DIR  # noqa: E402
from telcopulse_deploy.stacks import TelcoPulseStacks, build_stacks  # noqa: E402


def context_from_argv(argv: list[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` pairs, as the CDK CLI accepts them."""
    pairs: dict[str, str] = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in ("-c", "--context") and "=" in value:
            key, _, item = value.partition("=")
            pairs[key] = item
    return pairs


def is_true(value: object) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def build_app(app: App, *, environ: Mapping[str, str] | None = None) -> TelcoPulseStacks:
    """The stacks of the environment in the app's ``env`` context, with cdk-nag as a validation plugin.

    Args:
        app: the app, its context set.
        environ: where ``TELCOPULSE_TABLE_FORMAT`` is looked up when the context names no table format
            (``os.environ`` unless given).
    """
    table_format = chosen_table_format(
        app.node.try_get_context(TABLE_FORMAT_CONTEXT), os.environ if environ is None else environ
    )
    config = replace(env_config(app.node.try_get_context("env")), table_format=table_format)
    package_dir = app.node.try_get_context("package_dir")
    stacks = build_stacks(
        app,
        config,
        package_dir=Path(package_dir) if package_dir else PACKAGE_DIR,
        require_package=is_true(app.node.try_get_context("require_package")),
        alarm_email=app.node.try_get_context("alarm_email") or None,
    )
    # cdk-nag 3 runs as a policy-validation plugin: an unacknowledged error fails the synth.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def main(argv: list[str] | None = None) -> None:
    """Synthesize; under the CDK CLI with its context and output directory, else cdk.json's and cdk.out."""
    if "CDK_OUTDIR" in os.environ:
        app = App()
    else:
        context = {**cdk_context(DEPLOY_DIR), **context_from_argv(sys.argv[1:] if argv is None else argv)}
        shutil.rmtree(DEPLOY_DIR / "cdk.out", ignore_errors=True)  # one synth, one environment
        app = App(context=context, outdir=str(DEPLOY_DIR / "cdk.out"))
    build_app(app)
    app.synth()


if __name__ == "__main__":
    main()
