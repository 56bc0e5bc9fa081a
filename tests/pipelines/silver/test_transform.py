from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from chispa import assert_column_equality, assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations import SILVER_EVENTS, load_suite
from pipelines.bronze import schema as bronze_schema
from pipelines.producer.hostile import GOOD, HOSTILE, payload
from pipelines.silver import schema
from pipelines.silver.batch import suite_params, typed_and_routed
from pipelines.silver.transform import (
    canonical_operators,
    drop_duplicate_events,
    drop_seen_events,
    normalize_operator,
    parse_events,
    to_quarantine_rows,
    to_silver_rows,
)
from pipelines.spark import java_class

INGEST = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
PARAMS = suite_params(INGEST, max_future_minutes=10)
CANONICAL = canonical_operators(["Movistar", "Yoigo", "vodafone ES"])


def bronze(spark: SparkSession, payloads: list[bytes]) -> DataFrame:
    rows = [(data, "s", "shard-0", str(i), "k", INGEST, INGEST) for i, data in enumerate(payloads)]
    return spark.createDataFrame(rows, bronze_schema.NETWORK_EVENTS)


def routed(spark: SparkSession, payloads: list[bytes]) -> DataFrame:
    return typed_and_routed(
        bronze(spark, payloads), suite=load_suite(SILVER_EVENTS), canonical=CANONICAL, params=PARAMS
    )


def test_parse_events_types_a_sample_row(spark: SparkSession) -> None:
    row = parse_events(bronze(spark, [payload()])).first()

    assert row is not None
    assert (row.event_id, row.lat, row.lon, row.signal, row.status, row.status_name) == (
        "ev-good",
        41.67089,
        0.53407,
        2,
        0,
        "STATE_IN_SERVICE",
    )
    assert (row.satellites, row.gps_precision_m, row.location_provider, row.defects) == (4, 51.0, "gps", [])
    assert row.event_time == datetime(2026, 11, 23, 10, 0)


_times = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31))
_time_texts = st.tuples(
    _times,
    st.sampled_from(["T", " "]),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(["Z", "z", "+00:00", "+05:30", "-0800", "+01"]),
).map(
    lambda t: t[0].strftime(f"%Y-%m-%d{t[1]}%H:%M:%S") + (f".{t[0].microsecond:06d}"[: t[2] + 1] if t[2] else "") + t[3]
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_time_texts, min_size=1, max_size=30))
def test_parse_events_reads_event_times_as_sparks_cast_does_in_any_session_time_zone(
    spark: SparkSession, texts: list[str]
) -> None:
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")  # UTC texts must not depend on it
    try:
        rows = (
            parse_events(bronze(spark, [payload(event_time=text) for text in texts]))
            .select(F.unix_micros("event_time").alias("parsed"), "sequence_number")
            .orderBy(F.col("sequence_number").cast("int"))
            .collect()
        )
        expected = (
            spark.createDataFrame([(t,) for t in texts], "t string")
            .select(F.unix_micros(F.col("t").cast("timestamp")).alias("micros"))
            .collect()
        )
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)

    for text, row, want in zip(texts, rows, expected, strict=True):
        assert row.parsed == want.micros, text
        if text.endswith("Z"):
            wall_clock = datetime.fromisoformat(text[:-1].replace(" ", "T")).replace(tzinfo=UTC)
            assert row.parsed == (wall_clock - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1), text


def test_parse_events_postal_codes_lose_float_suffix_but_keep_the_rest(spark: SparkSession) -> None:
    cases = [
        ("250236.0", "250236"),
        ("81786.00", "81786"),
        ("08001", "08001"),
        ("", None),
        ("  ", None),
        ("250236.5", "250236.5"),
        (None, None),
    ]
    df = parse_events(bronze(spark, [payload(postal_code=sent) for sent, _ in cases]))
    expected = spark.createDataFrame(
        [(str(i), want) for i, (_, want) in enumerate(cases)], "sequence_number string, expected string"
    )
    result = df.join(expected, "sequence_number")

    assert_column_equality(result, "postal_code", "expected")


def test_parse_events_blanks_become_null_and_numbers_may_be_json_numbers(spark: SparkSession) -> None:
    row = parse_events(bronze(spark, [payload(operator=" ", network="", lat=41.5, signal=7, status=0)])).first()

    assert row is not None
    assert (row.operator, row.network, row.lat, row.signal, row.defects) == (None, None, 41.5, 7, [])


def test_parse_events_counts_unknown_fields_without_rejecting(spark: SparkSession) -> None:
    row = routed(spark, [payload(firmware="1.2", battery=80)]).first()

    assert row is not None
    assert row.extra_fields == ["battery", "firmware"]
    assert row.reasons == []


def test_normalize_operator_collapses_case_and_space_variants(spark: SparkSession) -> None:
    cases = [
        ("movistar", "Movistar"),
        ("MOVISTAR ", "Movistar"),
        ("YOIGO", "Yoigo"),
        ("vodafone  es", "vodafone ES"),
        ("Tuenti", "Tuenti"),
        (None, None),
    ]  # unknown names stay as sent; NULL stays NULL
    df = spark.createDataFrame(cases, "operator string, expected string")

    assert_column_equality(normalize_operator(df, canonical=CANONICAL), "operator", "expected")


def test_drop_duplicate_events_keeps_the_first_arrival(spark: SparkSession) -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    df = spark.createDataFrame(
        [("a", late, "s1", "9"), ("a", early, "s0", "5"), ("b", late, "s0", "7")],
        "event_id string, arrival_time timestamp, shard_id string, sequence_number string",
    )
    expected = spark.createDataFrame([("a", early, "s0", "5"), ("b", late, "s0", "7")], df.schema)

    assert_df_equality(drop_duplicate_events(df), expected, ignore_row_order=True)


def test_drop_seen_events_removes_ids_already_in_silver(spark: SparkSession) -> None:
    batch = spark.createDataFrame([("a", 1), ("b", 2)], "event_id string, n int")
    seen = spark.createDataFrame([("a",), ("a",), ("z",)], "event_id string")

    assert_df_equality(drop_seen_events(batch, seen), spark.createDataFrame([("b", 2)], batch.schema))


def test_drop_seen_events_with_the_batch_broadcast_drops_the_same_rows_without_sorting_silver(
    spark: SparkSession,
) -> None:
    batch = spark.createDataFrame([("a", 1), ("b", 2), ("b", 3), ("c", 4)], "event_id string, n int")
    seen = spark.createDataFrame([("a",), ("a",), ("c",), ("z",)], "event_id string")

    kept = drop_seen_events(batch, seen, broadcast_batch=True)

    assert_df_equality(kept, drop_seen_events(batch, seen), ignore_row_order=True)
    assert sorted(kept.collect()) == [("b", 2), ("b", 3)]
    # As with a silver table too large to broadcast: only the hint broadcasts (plans are adaptive: both stages).
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        plan = _plan(drop_seen_events(batch, seen, broadcast_batch=True))
        default_plan = _plan(drop_seen_events(batch, seen))
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    assert "BroadcastHashJoin" in plan and "SortMergeJoin" not in plan
    assert "SortMergeJoin" in default_plan


def _plan(df: DataFrame) -> str:
    df.collect()
    return str(df._jdf.queryExecution().executedPlan().toString())


def test_typed_and_routed_gives_every_hostile_record_its_reason(spark: SparkSession) -> None:
    result = routed(spark, [raw for _, raw, _ in HOSTILE]).orderBy(F.col("sequence_number").cast("int")).collect()

    for (name, _, reason), row in zip(HOSTILE, result, strict=True):
        assert reason in row.reasons, f"{name}: {row.reasons}"


def test_silver_and_quarantine_rows_carry_each_batchs_time_without_compiling_again(spark: SparkSession) -> None:
    """A batch's own time reaches the code that writes its rows as data: a new batch compiles none of it again."""
    batch = routed(spark, [payload(), payload(lat="91")]).cache()
    valid, rejected = batch.where(F.size(schema.REASONS) == 0), batch.where(F.size(schema.REASONS) > 0)

    def written(at: datetime) -> tuple[list[datetime], list[datetime]]:
        silver = to_silver_rows(valid, processed_time=at).collect()
        quarantine = to_quarantine_rows(rejected, suite_version="v", quarantined_at=at).collect()
        return [r.processed_time for r in silver], [r.quarantined_at for r in quarantine]

    first = INGEST + timedelta(seconds=1)
    assert written(first) == ([first.replace(tzinfo=None)], [first.replace(tzinfo=None)])
    compiled = java_class(spark, "org.apache.spark.metrics.source.CodegenMetrics").METRIC_COMPILATION_TIME()
    before = compiled.getCount()
    later = first + timedelta(minutes=1, microseconds=7)
    assert written(later) == ([later.replace(tzinfo=None)], [later.replace(tzinfo=None)])
    assert compiled.getCount() == before


def test_typed_and_routed_passes_the_good_record(spark: SparkSession) -> None:
    df = routed(spark, [payload()]).withColumn("expected", F.array().cast("array<string>"))

    assert_column_equality(df, schema.REASONS, "expected")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
_hostile_payload = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.dictionaries(st.sampled_from([*GOOD.keys(), "extra", "x"]), _json_values, max_size=20).map(
        lambda d: json.dumps(d, allow_nan=True).encode()
    ),
    st.fixed_dictionaries({k: st.just(v) for k, v in GOOD.items()}).flatmap(
        lambda base: st.dictionaries(st.sampled_from(list(GOOD)), _json_values, max_size=4).map(
            lambda changes: json.dumps({**base, **changes}, allow_nan=True).encode()
        )
    ),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payloads=st.lists(_hostile_payload, min_size=1, max_size=40))
def test_any_input_lands_in_exactly_one_place_with_a_reason(spark: SparkSession, payloads: list[bytes]) -> None:
    rows = routed(spark, payloads).select("sequence_number", schema.REASONS, *schema.TYPED_COLUMNS).collect()

    assert sorted(int(r.sequence_number) for r in rows) == list(range(len(payloads)))
    for row in rows:
        valid = not row.reasons
        if valid:  # a row that goes to silver satisfies the table's NOT NULL columns
            assert None not in (row.event_id, row.event_time, row.lat, row.lon, row.signal, row.status)
        assert all(":" in reason for reason in row.reasons)
