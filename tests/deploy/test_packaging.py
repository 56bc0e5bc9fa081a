"""Packaging: what `make -C deploy package` pins for Glue and Lambda, and how a synth finds its output."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import pytest
from telcopulse_deploy import packaging


def test_pinned_closure_pins_installed_versions_and_skips_what_the_target_provides() -> None:
    pins = packaging.pinned_closure(["pydantic-settings"], provided=["python-dotenv"])

    assert f"pydantic-settings=={metadata.version('pydantic-settings')}" in pins
    assert f"pydantic=={metadata.version('pydantic')}" in pins
    assert not any(pin.startswith("python-dotenv==") for pin in pins)
    names = [pin.split("==")[0] for pin in pins]
    assert names == sorted(names)


def test_glue_closure_never_replaces_what_glue_runs_on() -> None:
    names = {pin.split("==")[0] for pin in packaging.pinned_closure(packaging.GLUE_ROOTS, packaging.GLUE_PROVIDED)}

    assert {"great-expectations", "pydantic-settings"} <= names
    assert not names & {"pyspark", "py4j", "boto3", "botocore", "numpy", "pandas", "pyarrow"}


def test_glue_package_is_a_placeholder_until_a_wheel_is_built(tmp_path: Path) -> None:
    package = packaging.glue_package(tmp_path)

    assert package.wheel is None and package.requirements == ()
    assert package.fingerprint == "placeholder"
    assert packaging.lambda_bundle(tmp_path) is None


def test_glue_package_reads_the_wheel_and_its_pins(fake_package: Path) -> None:
    package = packaging.glue_package(fake_package)

    assert package.wheel is not None and package.wheel.name == "telcopulse-0.1.0-py3-none-any.whl"
    assert package.requirements == ("pydantic-settings==2.16.3", "great-expectations==1.5.0")
    assert len(package.fingerprint) == 16
    assert packaging.lambda_bundle(fake_package) == fake_package / "lambda"


def test_main_prints_the_pins_of_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert packaging.main(["lambda"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "pyarrow==20.0.0" in lines  # the newest pyarrow with wheels for Lambda's Amazon Linux 2
    assert not any(line.startswith("boto3==") for line in lines)


def test_main_refuses_an_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert packaging.main(["docker"]) == 2
    assert "usage" in capsys.readouterr().err
