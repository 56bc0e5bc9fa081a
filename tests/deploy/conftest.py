"""Synthesized CDK apps, built once per test session per variant (a synth takes seconds, the first ~10 s).

Each variant is synthesized to a temporary cloud assembly with cdk-nag as a validation plugin, exactly as
``deploy/app.py`` does; tests read the templates from that assembly instead of synthesizing again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
if str(DEPLOY_DIR) not in sys.path:
    sys.path.insert(0, str(DEPLOY_DIR))


def _node_major() -> str:
    """The local node's major version: jsii silences its end-of-life banner only for the versions listed."""
    node = shutil.which("node")
    if node is None:
        return "20"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    return version.strip().lstrip("v").split(".")[0] or "20"


os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _node_major())

from app import build_app  # noqa: E402
from aws_cdk import App, assertions  # noqa: E402
from telcopulse_deploy.config import cdk_context  # noqa: E402
from telcopulse_deploy.stacks import TelcoPulseStacks  # noqa: E402


@dataclass
class Synthesized:
    """One synthesized app: its stacks, the cloud assembly directory and the templates in it."""

    stacks: TelcoPulseStacks
    outdir: Path

    def template_path(self, stack_name: str) -> Path:
        return self.outdir / f"{stack_name}.template.json"

    def template(self, stack_name: str) -> assertions.Template:
        return assertions.Template.from_string(self.template_path(stack_name).read_text())

    def template_json(self, stack_name: str) -> dict[str, Any]:
        return dict(self.template(stack_name).to_json())

    @property
    def stack_names(self) -> list[str]:
        return [stack.stack_name for stack in self.stacks.all]


def synthesize(outdir: Path, *, environ: Mapping[str, str] | None = None, **context: Any) -> Synthesized:
    """Build and synthesize the app with cdk.json's context plus ``context``, into ``outdir``.

    The app sees ``environ`` (nothing unless given) instead of this shell's environment, so that a
    ``TELCOPULSE_TABLE_FORMAT`` exported for other tests does not change what is synthesized here.
    """
    app = App(context={**cdk_context(DEPLOY_DIR), **context}, outdir=str(outdir))
    stacks = build_app(app, environ={} if environ is None else environ)
    app.synth()
    return Synthesized(stacks=stacks, outdir=outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Synthesized]]:
    """``synthesized(env=..., **context)``: the app for that context, synthesized once per session.

    Unless a test passes ``package_dir``, the app sees no ``make -C deploy package`` output.
    """
    cache: dict[tuple[tuple[str, str], ...], Synthesized] = {}
    nothing_packaged = tmp_path_factory.mktemp("no-package")

    def get(**context: Any) -> Synthesized:
        context.setdefault("package_dir", str(nothing_packaged))  # never whatever build/ holds right now
        key = tuple(sorted((name, str(value)) for name, value in context.items()))
        if key not in cache:
            cache[key] = synthesize(tmp_path_factory.mktemp("cdk-out"), **context)
        return cache[key]

    yield get


@pytest.fixture(scope="session")
def fake_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make -C deploy package`` leaves, in miniature: a wheel, its requirements, a Lambda tree."""
    root = tmp_path_factory.mktemp("package")
    glue = root / "glue"
    glue.mkdir()
    (glue / "telcopulse-0.1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
    (glue / "requirements.txt").write_text("# pinned\npydantic-settings==2.16.3\ngreat-expectations==1.5.0\n")
    handler = root / "lambda" / "pipelines" / "producer" / "s3_trigger.py"
    handler.parent.mkdir(parents=True)
    handler.write_text("def handler(event, context):\n    return {}\n")
    return root
