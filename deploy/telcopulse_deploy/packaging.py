"""What ``make -C deploy package`` builds, where it lands, and what a synth does when it is not there.

The wheel and the Lambda bundle are built at deploy time, never at synth or in tests (they need an index).
A synth without them still works offline: the Glue jobs and the Lambda then get placeholders, and the
synth warns; ``-c require_package=true`` (what ``make -C deploy deploy`` passes) turns that into an error.

Run as ``python -m telcopulse_deploy.packaging glue|lambda`` to print the pinned requirements of a target:
the dependency closure of its roots, as installed in this virtualenv (itself pinned by requirements.lock),
minus what the target runtime already provides.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from telcopulse_deploy.config import REPO_ROOT

PACKAGE_DIR = REPO_ROOT / "build" / "deploy"
GLUE_SUBDIR = "glue"
LAMBDA_SUBDIR = "lambda"
GLUE_REQUIREMENTS = "requirements.txt"

# The jobs import great_expectations (silver's suite) and pydantic_settings (Settings); everything else they
# use is in Glue 5.1 itself. Never install Spark, py4j, the AWS SDK (and what it depends on) or
# numpy/pandas/pyarrow over Glue's own copies.
GLUE_ROOTS = ("great-expectations", "pydantic-settings")
GLUE_PROVIDED = (
    "pyspark", "py4j", "boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six",
    "certifi", "numpy", "pandas", "pyarrow",
)  # fmt: skip
# The S3 trigger imports the producer (pyarrow through the ports) and Settings; Lambda's Python has boto3.
LAMBDA_ROOTS = ("pyarrow", "pydantic-settings")
LAMBDA_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
# Lambda's Python 3.11 runs on Amazon Linux 2 (glibc 2.26): pyarrow 21 publishes only manylinux_2_28 wheels,
# 20.0.0 is the newest with manylinux2014 ones (and inside pyproject's pyarrow range).
LAMBDA_OVERRIDES = {"pyarrow": "20.0.0"}
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]] = {
    GLUE_SUBDIR: (GLUE_ROOTS, GLUE_PROVIDED, {}),
    LAMBDA_SUBDIR: (LAMBDA_ROOTS, LAMBDA_PROVIDED, LAMBDA_OVERRIDES),
}


class PackageMissingError(RuntimeError):
    """``require_package`` is set but ``make -C deploy package`` has not produced the artifacts."""


@dataclass(frozen=True)
class GluePackage:
    """The jobs' wheel (None: placeholder) and the pinned modules Glue installs next to it."""

    directory: Path
    wheel: Path | None
    requirements: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        """Content hash of the wheel: a new build gets a new S3 prefix, so jobs pick it up on restart."""
        if self.wheel is None:
            return "placeholder"
        return hashlib.sha256(self.wheel.read_bytes()).hexdigest()[:16]


def glue_package(package_dir: Path = PACKAGE_DIR) -> GluePackage:
    """The built Glue package under ``package_dir``, or a placeholder when there is none."""
    directory = package_dir / GLUE_SUBDIR
    wheels = sorted(directory.glob("telcopulse-*.whl")) if directory.is_dir() else []
    if not wheels:
        return GluePackage(directory=directory, wheel=None, requirements=())
    requirements_file = directory / GLUE_REQUIREMENTS
    lines = requirements_file.read_text().splitlines() if requirements_file.exists() else []
    requirements = tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return GluePackage(directory=directory, wheel=wheels[-1], requirements=requirements)


def lambda_bundle(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The Lambda's code directory (handler plus dependencies), or None when it was not built."""
    directory = package_dir / LAMBDA_SUBDIR
    handler = directory / "pipelines" / "producer" / "s3_trigger.py"
    return directory if handler.exists() else None


def pinned_closure(
    roots: Iterable[str], provided: Iterable[str], overrides: Mapping[str, str] | None = None
) -> list[str]:
    """``name==version`` for ``roots`` and everything they need here, minus ``provided`` (not descended).

    Markers are evaluated for this interpreter, which is the targets' Python (3.11); extras are not followed.
    ``overrides`` replace the installed version of a package where the target needs another build.

    Raises:
        importlib.metadata.PackageNotFoundError: a root or dependency is not installed in this environment.
    """
    skip = {canonicalize_name(name) for name in provided}
    environment = {key: str(value) for key, value in default_environment().items()} | {"extra": ""}
    pinned: dict[str, str] = {}
    pending = [canonicalize_name(name) for name in roots]
    while pending:
        name = pending.pop()
        if name in skip or name in pinned:
            continue
        distribution = metadata.distribution(name)
        pinned[name] = f"{name}=={(overrides or {}).get(name, distribution.version)}"
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(canonicalize_name(requirement.name))
    return [pinned[name] for name in sorted(pinned)]


def main(argv: list[str] | None = None) -> int:
    """Print the pinned requirements of ``glue`` or ``lambda``, one per line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in TARGETS:
        sys.stderr.write(f"usage: python -m telcopulse_deploy.packaging {{{'|'.join(TARGETS)}}}\n")
        return 2
    roots, provided, overrides = TARGETS[args[0]]
    sys.stdout.write("".join(f"{line}\n" for line in pinned_closure(roots, provided, overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
