"""GX's audit of a silver batch runs beside the stream: it agrees with the rules' counts, or says that it does not."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from threading import Event

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations import SILVER_EVENTS, load_suite
from pipelines.adapters.gx_validator import ExpectationOutcome, GxValidator
from pipelines.producer.hostile import HOSTILE, payload
from pipelines.silver import schema
from pipelines.silver.audit import GxAudit
from pipelines.silver.rules import rules_of, unexpected_counts
from tests.pipelines.silver.test_transform import PARAMS, routed


@pytest.fixture(scope="module")
def batch(spark: SparkSession) -> DataFrame:
    return routed(spark, [raw for _, raw, _ in HOSTILE] + [payload()]).cache()


def rules_outcomes(batch: DataFrame) -> list[ExpectationOutcome]:
    rules = rules_of(load_suite(SILVER_EVENTS))
    row = batch.agg(F.count(F.lit(1)).alias("rows"), *unexpected_counts(rules, PARAMS)).first()
    assert row is not None
    counts = [row[f"_unexpected_{i}"] for i in range(len(rules))]
    return [
        ExpectationOutcome(rule.reason, rule.severity, count == 0, row["rows"], count)
        for rule, count in zip(rules, counts, strict=True)
    ]


def test_an_audit_agrees_with_the_rules_writes_data_docs_and_releases_the_batch(
    batch: DataFrame, tmp_path: Path
) -> None:
    validator = GxValidator(load_suite(SILVER_EVENTS), docs_root=tmp_path)
    audit = GxAudit(validator, every_seconds=0)
    released = Event()

    agrees = audit.submit(
        batch.select(*schema.TYPED_COLUMNS), PARAMS, rules_outcomes(batch), batch_id=7, release=released.set
    )

    assert agrees.result(timeout=300) is True
    assert released.is_set()
    assert validator.data_docs_index() is not None
    audit.close()


def test_an_audit_that_disagrees_with_the_rules_logs_an_error(
    batch: DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    audit = GxAudit(GxValidator(load_suite(SILVER_EVENTS)), every_seconds=0)
    expected = rules_outcomes(batch)
    expected[0] = replace(expected[0], unexpected_count=expected[0].unexpected_count + 1)

    with caplog.at_level(logging.ERROR, logger="pipelines.silver.audit"):
        agrees = audit.submit(batch.select(*schema.TYPED_COLUMNS), PARAMS, expected, batch_id=8, release=lambda: None)
        assert agrees.result(timeout=300) is False
    audit.close()

    assert "disagree on silver batch 8" in caplog.text


def test_a_failed_audit_is_logged_releases_the_batch_and_does_not_raise(
    spark: SparkSession, caplog: pytest.LogCaptureFixture
) -> None:
    audit = GxAudit(GxValidator(load_suite(SILVER_EVENTS)), every_seconds=0)
    failing = spark.range(1).select(F.raise_error(F.lit("disk gone")).alias("x"))
    released = Event()

    with caplog.at_level(logging.ERROR, logger="pipelines.silver.audit"):
        agrees = audit.submit(failing, PARAMS, [], batch_id=9, release=released.set)
        assert agrees.result(timeout=300) is False
    audit.close()

    assert released.is_set()
    assert "GX audit of silver batch 9 failed" in caplog.text


def test_an_audit_is_due_once_a_period_and_never_while_one_runs(batch: DataFrame) -> None:
    now = [0.0]
    audit = GxAudit(GxValidator(load_suite(SILVER_EVENTS)), every_seconds=60, clock=lambda: now[0])
    assert not audit.due()  # the first one period after start-up
    now[0] = 60.0
    assert audit.due()

    gate = Event()
    running = audit.submit(
        batch.select(*schema.TYPED_COLUMNS), PARAMS, rules_outcomes(batch), batch_id=1, release=lambda: gate.wait(60)
    )
    now[0] = 500.0
    assert not audit.due()
    gate.set()
    assert running.result(timeout=300) is True
    assert audit.due()
    audit.close()
