"""cfn-lint on every synthesized template: CloudFormation would accept what the app produces."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

# W3005 (a DependsOn that a Ref already implies): aws-cdk-lib adds these itself, e.g. on custom resources'
# roles; they are redundant, not wrong.
IGNORED = ["W3005"]


@pytest.mark.parametrize(
    "context",
    [{"env": "dev"}, {"env": "prod"}, {"env": "dev", "table_format": "delta"}],
    ids=["dev", "prod", "dev-delta"],
)
def test_cfn_lint_finds_nothing_in_any_template(synthesized: Any, context: dict[str, str]) -> None:
    synth = synthesized(**context)
    findings = []
    for name in synth.stack_names:
        template = synth.template_path(name).read_text()
        for match in lint(template, config=ManualArgs(ignore_checks=IGNORED)):
            findings.append(f"{name}: {match.rule.id} {match.message} ({'/'.join(map(str, match.path))})")
    assert findings == []
