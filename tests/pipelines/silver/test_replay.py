"""replay-quarantine: records that pass after a rule fix move to silver exactly once and are marked."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from catalog.tables import QUARANTINE, SILVER_EVENTS
from expectations import SILVER_EVENTS as SUITE
from expectations import load_suite
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.producer.hostile import payload
from pipelines.settings import Settings, TableFormat
from pipelines.silver import schema
from pipelines.silver.replay import replay_quarantine
from pipelines.silver.transform import canonical_operators

NOW = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def _signal_up_to_99() -> dict[str, Any]:
    """The suite after a 'rule fix': signal 99 becomes acceptable."""
    suite = copy.deepcopy(load_suite(SUITE))
    for expectation in suite["expectations"]:
        if expectation["kwargs"].get("column") == "signal" and "max_value" in expectation["kwargs"]:
            expectation["kwargs"]["max_value"] = 99
    return suite


def _quarantine(spark: SparkSession, settings: Settings, rows: list[tuple[bytes, str, list[str]]]) -> None:
    data = [
        (raw, "shard-0", seq, NOW, NOW, reasons, "silver.network_events@1.0.0", NOW, None) for raw, seq, reasons in rows
    ]
    frame = spark.createDataFrame(data, schema.QUARANTINE)
    if settings.is_delta:
        frame.write.format("delta").mode("append").save(settings.table_location(QUARANTINE.identifier))
    else:
        frame.writeTo(settings.table(QUARANTINE.identifier)).append()


def _replay(spark: SparkSession, settings: Settings, suite: dict[str, Any], **kwargs: Any) -> Any:
    return replay_quarantine(
        spark,
        silver_table=settings.table(SILVER_EVENTS.identifier),
        quarantine_table=settings.table(QUARANTINE.identifier),
        suite=suite,
        canonical=canonical_operators(["vodafone ES"]),
        **kwargs,
    )


@pytest.fixture(params=list(TableFormat), ids=[f.value for f in TableFormat])
def either_format(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> Settings:
    """Empty tables of the Iceberg test catalog, or of a Delta home of its own."""
    if request.param is TableFormat.ICEBERG:
        return request.getfixturevalue("empty_tables")  # type: ignore[no-any-return]
    settings = request.getfixturevalue("settings")
    delta = settings.model_copy(update={"home": tmp_path / "delta-home", "table_format": TableFormat.DELTA})
    bootstrap_tables(spark, delta)
    return delta  # type: ignore[no-any-return]


def test_replay_moves_fixed_records_once_and_marks_them(spark: SparkSession, either_format: Settings) -> None:
    settings = either_format
    fixed = payload(event_id="ev-99", event_time="2026-11-23T10:00:00Z", signal="99")
    _quarantine(
        spark,
        settings,
        [
            (fixed, "1", ["signal:expect_column_values_to_be_between"]),
            (b"not json", "2", ["payload:not_json"]),
        ],
    )

    first = _replay(spark, settings, _signal_up_to_99())
    second = _replay(spark, settings, _signal_up_to_99())

    assert (first.considered, first.moved_to_silver, first.still_failing) == (2, 1, 1)
    assert (second.considered, second.moved_to_silver) == (1, 0)
    silver = spark.table(settings.table(SILVER_EVENTS.identifier)).collect()
    assert [(r.event_id, r.signal) for r in silver] == [("ev-99", 99)]
    marked = {r.sequence_number: r.replayed_at for r in spark.table(settings.table(QUARANTINE.identifier)).collect()}
    assert marked["1"] is not None and marked["2"] is None


def test_replay_after_a_crash_marks_without_adding_twice(spark: SparkSession, empty_tables: Settings) -> None:
    settings = empty_tables
    fixed = payload(event_id="ev-crash", event_time="2026-11-23T10:00:00Z", signal="99")
    _quarantine(spark, settings, [(fixed, "7", ["signal:expect_column_values_to_be_between"])])
    _replay(spark, settings, _signal_up_to_99())
    # As if the first replay had crashed after appending to silver but before marking quarantine:
    spark.sql(f"UPDATE {settings.table(QUARANTINE.identifier)} SET replayed_at = NULL")

    again = _replay(spark, settings, _signal_up_to_99())

    assert (again.considered, again.moved_to_silver, again.already_in_silver) == (1, 0, 1)
    assert spark.table(settings.table(SILVER_EVENTS.identifier)).count() == 1


def test_replay_with_the_unchanged_suite_moves_nothing(spark: SparkSession, empty_tables: Settings) -> None:
    settings = empty_tables
    _quarantine(spark, settings, [(payload(event_id="ev-x", signal="99"), "3", ["signal:x"])])

    report = _replay(spark, settings, load_suite(SUITE), reason="signal")

    assert (report.considered, report.moved_to_silver, report.still_failing) == (1, 0, 1)
