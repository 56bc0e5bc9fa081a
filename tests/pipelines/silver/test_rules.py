"""The routing predicates derived from the suite flag exactly the rows GX itself finds unexpected."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from expectations import SILVER_EVENTS, load_suite
from pipelines.adapters.gx_validator import GxValidator, to_validation_frame
from pipelines.producer.hostile import HOSTILE, payload
from pipelines.silver import schema
from pipelines.silver.rules import (
    UnsupportedExpectationError,
    _routing_columns,
    route_by_rules,
    rules_of,
    unexpected_counts,
)
from pipelines.silver.transform import parse_events
from pipelines.spark import java_class
from tests.pipelines.silver.test_transform import PARAMS, bronze, routed


@pytest.fixture(scope="module")
def validator() -> GxValidator:
    return GxValidator(load_suite(SILVER_EVENTS))


def test_predicates_flag_exactly_gx_unexpected_rows(spark: SparkSession, validator: GxValidator) -> None:
    extra = [
        payload(event_id=f"w{i}", provider=p, activity=a, precission=m, postal_code=c)
        for i, (p, a, m, c) in enumerate(
            [("glonass", "DANCING", "900", "08/001"), ("gps", "STILL", "12", "1")]
        )
    ]
    df = routed(spark, [raw for _, raw, _ in HOSTILE] + [payload()] + extra)
    df = df.orderBy(F.col("sequence_number").cast("int")).cache()
    typed = pa.Table.from_batches(df.select(*schema.TYPED_COLUMNS)._collect_as_arrow())
    outcomes = {
        o.expectation + "/" + o.severity: o
        for o in validator.validate(to_validation_frame(typed), PARAMS, complete=True)
    }
    rules = rules_of(load_suite(SILVER_EVENTS))

    flags = df.select(*[rule.unexpected(PARAMS).alias(f"r{i}") for i, rule in enumerate(rules)]).collect()
    for i, rule in enumerate(rules):
        ours = {index for index, row in enumerate(flags) if row[f"r{i}"]}
        gx = set(outcomes[f"{rule.reason}/{rule.severity}"].unexpected_index_list)
        assert ours == gx, f"{rule.reason} ({rule.severity}): routed {sorted(ours)} but GX says {sorted(gx)}"
    assert any(o.unexpected_count for o in outcomes.values() if o.severity == "warning")


def test_every_rule_of_the_suite_has_notes_and_a_severity() -> None:
    for expectation in load_suite(SILVER_EVENTS)["expectations"]:
        assert expectation["notes"], expectation
        assert expectation["severity"] in {"critical", "warning"}


def test_an_expectation_without_predicate_is_refused() -> None:
    suite = {"expectations": [{"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x"}}]}

    with pytest.raises(UnsupportedExpectationError, match="expect_column_mean_to_be_between"):
        rules_of(suite)


def test_unexpected_counts_equal_gx_outcomes(spark: SparkSession, validator: GxValidator) -> None:
    """Silver reports the rules' counts as the suite's outcome between GX runs: they must be GX's, in order."""
    extra = [payload(event_id="w0", provider="glonass", activity="DANCING", precission="900", postal_code="08/001")]
    df = routed(spark, [raw for _, raw, _ in HOSTILE] + [payload()] + extra).cache()
    typed = pa.Table.from_batches(df.select(*schema.TYPED_COLUMNS)._collect_as_arrow())
    gx = validator.validate(to_validation_frame(typed), PARAMS)
    rules = rules_of(load_suite(SILVER_EVENTS))

    row = df.agg(F.count(F.lit(1)).alias("rows"), *unexpected_counts(rules, PARAMS)).first()

    assert row is not None
    ours = [
        (rule.reason, rule.severity, row[f"_unexpected_{i}"] == 0, row["rows"], row[f"_unexpected_{i}"])
        for i, rule in enumerate(rules)
    ]
    assert ours == [(o.expectation, o.severity, o.success, o.element_count, o.unexpected_count) for o in gx]


def test_a_suite_parameter_may_only_stand_for_a_bound() -> None:
    suite = {
        "expectations": [
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "x", "regex": {"$PARAMETER": "r"}}}
        ]
    }

    with pytest.raises(UnsupportedExpectationError, match="min_value or max_value only"):
        rules_of(suite)


def test_routing_built_once_per_session_still_binds_each_batchs_parameters(spark: SparkSession) -> None:
    """The rules' columns are reused from batch to batch; each batch's own bound still decides."""
    rules = tuple(rules_of(load_suite(SILVER_EVENTS)))
    reading = bronze(spark, [payload(event_time="2026-11-23T10:30:00+00:00")])
    too_far = "event_time:expect_column_values_to_be_between"

    def reasons(max_event_time: str) -> list[str]:
        row = route_by_rules(
            parse_events(reading), rules=list(rules), params={"max_event_time": max_event_time}
        ).first()
        assert row is not None
        return list(row[schema.REASONS])

    assert too_far in reasons("2026-11-23T10:15:00+00:00")
    assert too_far not in reasons("2026-11-23T10:45:00+00:00")
    assert _routing_columns(rules, ("max_event_time",)) is _routing_columns(rules, ("max_event_time",))
    # Exact to the microsecond, the bound itself included (GX's max_value is inclusive).
    assert too_far in reasons("2026-11-23T10:29:59.999999+00:00")
    assert too_far not in reasons("2026-11-23T10:30:00+00:00")
    # Each batch's bound reaches the same generated code: a batch compiles none of the routing again.
    compiled = java_class(spark, "org.apache.spark.metrics.source.CodegenMetrics").METRIC_COMPILATION_TIME()
    before = compiled.getCount()
    assert too_far in reasons("2026-11-23T10:29:00+00:00")
    assert too_far not in reasons("2026-11-23T10:31:00+00:00")
    assert compiled.getCount() == before
