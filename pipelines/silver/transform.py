"""Silver transforms: decode and type contract-v1 records, normalize, route, deduplicate. No I/O.

Each step is DataFrame -> DataFrame. Defects found while typing (not UTF-8, not JSON, non-numeric,
NaN/Infinity, no UTC offset) are collected as ``column:rule`` strings in ``defects``; the suite's
rules add theirs in ``pipelines.silver.rules``.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.errors import SchemaMismatchError
from pipelines.silver import schema
from pipelines.spark import per_session, with_times

STATUS_NAMES = {
    0: "STATE_IN_SERVICE",
    1: "STATE_OUT_OF_SERVICE",
    2: "STATE_EMERGENCY_ONLY",
    3: "STATE_POWER_OFF",
}
# A plain decimal or scientific number; Spark's own cast also accepts '12f' or '1.5d', which are not numbers.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NOT_FINITE = r'^"?[+-]?(?i)(nan|inf|infinity)"?$'
_ISO_DATE_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
_UTC_OFFSET = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_FLOAT_WRITTEN_INTEGER = r"^(\d+)\.0+$"
# The common shape, in UTC: ``2026-11-23T10:00:00Z`` or with up to 6 decimals of a second.
_UTC_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_INT_MAX = 2**31 - 1


def _require(df: DataFrame, step: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaMismatchError(step, missing)


def _trimmed(name: str) -> Column:
    return F.trim(F.col(_FIELDS).getItem(name)).alias(f"_trimmed_{name}")


def _known_fields() -> Column:
    """How many contract fields the payload holds with a value (a key sent twice counts once in the map)."""
    known = [name for name in _RAW_FIELDS if name in schema.CONTRACT_FIELDS]
    counts = [F.col(f"_trimmed_{name}").isNotNull().cast("int") for name in known]
    return reduce(operator.add, counts).alias(_KNOWN_FIELDS)


def _blank_to_null(name: str) -> Column:
    trimmed = F.col(f"_trimmed_{name}")
    return F.when(trimmed != "", trimmed).alias(f"_raw_{name}")


def _defect(condition: Column, reason: str) -> Column:
    return F.when(condition, F.lit(reason))


def present(values: list[Column]) -> Column:
    """The non-NULL ``values`` as a string array, in order (for lists of distinct reasons).

    ``array_except`` against ``[NULL]`` rather than ``filter(..., x -> x IS NOT NULL)``: a lambda is never
    code-generated, so Spark would interpret every reason expression row by row.
    Most rows have none: checking for that first skips building a hash set per row.
    """
    return F.when(F.coalesce(*values).isNull(), _no_strings()).otherwise(
        F.array_except(F.array(*values), F.array(F.lit(None).cast("string")))
    )


def _no_strings() -> Column:
    return F.array().cast("array<string>")


_NUMERIC_FIELDS = ("schema_version", "lat", "long", "signal", "status", "speed", "satellites", "precission")


def _number_checks(name: str) -> list[Column]:
    """Per numeric field, once: whether its text is a plain number, whether it is NaN/Infinity, its double."""
    text = _raw(name)
    numeric = text.rlike(_NUMBER)
    return [
        numeric.alias(f"_numeric_{name}"),
        # No plain number spells NaN or Infinity: the second pattern runs only on what the first rejects.
        (~numeric & text.rlike(_NOT_FINITE)).alias(f"_not_finite_{name}"),
        F.when(numeric, text.cast("double")).alias(f"_double_{name}"),
    ]


def _number(field: str, name: str, *, integer: bool) -> tuple[Column, list[Column]]:
    """Typed value and defects of a numeric field sent as text (blank -> NULL, not a defect)."""
    text = _raw(field)
    not_finite = F.col(f"_not_finite_{field}")
    numeric = F.col(f"_numeric_{field}")
    value = F.col(f"_double_{field}")
    defects = [
        _defect(not_finite, f"{name}:not_finite"),
        _defect(text.isNotNull() & ~not_finite & ~numeric, f"{name}:not_numeric"),
    ]
    if integer:
        integral = (value == F.floor(value)) & (F.abs(value) <= _INT_MAX)
        defects.append(_defect(value.isNotNull() & ~integral, f"{name}:not_integer"))
        value = F.when(integral, value.cast("int"))
    return value, defects


# Payload fields read as text, trimmed, blanks as NULL: (name in the payload, private column).
_RAW_FIELDS = (
    "event_id", "schema_version", "event_time", "device_id", "lat", "long", "signal", "network", "operator",
    "status", "description", "speed", "satellites", "precission", "provider", "activity", "postal_code",
)  # fmt: skip
_FIELDS = "_fields"
_KNOWN_FIELDS = "_known_fields"


def _raw(name: str) -> Column:
    return F.col(f"_raw_{name}")


def _decode_payload(df: DataFrame) -> DataFrame:
    """Parse each payload once: ``_fields`` (its JSON object as a map), ``_payload_defect``, texts, number checks.

    Every typed column and every defect reads these columns. Written as one expression, the JSON parse
    was repeated for each of its ~250 references (the defect arrays are evaluated without code
    generation, hence without common-subexpression elimination), which made silver ~10x slower.
    """
    stages = _decode_columns(tuple(df.columns))
    for columns in stages:
        df = df.select(*columns)
    return df


@per_session
def _decode_columns(passed: tuple[str, ...]) -> tuple[list[Column | str], ...]:
    """The selects of ``_decode_payload``; ``passed`` are the input's columns, carried along."""
    text = F.decode(F.col("data"), "UTF-8")
    utf8 = F.col("_text") == F.col("data").cast("string")  # a comparison of bytes, cheap enough to make twice
    fields = F.col(_FIELDS)
    payload_defect = (
        F.when(~F.col("_utf8"), F.lit("payload:not_utf8"))
        .when(fields.isNull() & F.get_json_object(F.col("_text"), "$").isNotNull(), F.lit("payload:not_an_object"))
        .when(fields.isNull(), F.lit("payload:not_json"))
    )
    return (
        # Decoding replaces malformed UTF-8 with U+FFFD: the bytes are UTF-8 when the decoded text's bytes are
        # theirs (the cast to string only views the bytes, where encoding the text again would decode it twice).
        ["*", text.alias("_text")],
        ["*", utf8.alias("_utf8"), F.from_json(F.when(utf8, F.col("_text")), "map<string,string>").alias(_FIELDS)],
        # Each field is looked up in the map and trimmed once: in one select with ``_blank_to_null``, both ran
        # twice per field (34 trims a row in a profile; the CASE's branch did not share its condition's).
        [*passed, fields, payload_defect.alias("_payload_defect"), *[_trimmed(name) for name in _RAW_FIELDS]],
        [*passed, fields, "_payload_defect", _known_fields(), *[_blank_to_null(name) for name in _RAW_FIELDS]],
        ["*", *[check for name in _NUMERIC_FIELDS for check in _number_checks(name)]],
    )


def parse_events(df: DataFrame) -> DataFrame:
    """Bronze rows -> typed readings plus ``defects``, ``extra_fields`` and the bronze pointer.

    Strings stay as sent except for trimming; blanks become NULL. A payload that is not UTF-8, not JSON
    or not a JSON object yields NULL fields and a ``payload:*`` defect.
    """
    _require(df, "parse_events", ("data", *schema.BRONZE_POINTER))
    return _decode_payload(df.select("data", *schema.BRONZE_POINTER)).select(*_typed_columns())


@per_session
def _typed_columns() -> list[Column | str]:
    """The typed reading, its defects and the bronze pointer, from ``_decode_payload``'s columns."""
    schema_version, v_defects = _number("schema_version", "schema_version", integer=True)
    lat, lat_defects = _number("lat", "lat", integer=False)
    lon, lon_defects = _number("long", "lon", integer=False)
    signal, signal_defects = _number("signal", "signal", integer=True)
    status, status_defects = _number("status", "status", integer=True)
    speed, speed_defects = _number("speed", "speed", integer=False)
    satellites, sat_defects = _number("satellites", "satellites", integer=True)
    precision, precision_defects = _number("precission", "gps_precision_m", integer=False)

    time_text = _raw("event_time")
    event_time = F.when(time_text.rlike(_UTC_TIME), _utc_wall_clock(time_text)).when(
        time_text.rlike(_UTC_OFFSET), time_text.cast("timestamp")
    )
    time_defects = [
        _defect(time_text.isNotNull() & ~time_text.rlike(_UTC_OFFSET), "event_time:missing_utc_offset"),
        _defect(
            time_text.rlike(_UTC_OFFSET) & (~time_text.rlike(_ISO_DATE_TIME) | event_time.isNull()),
            "event_time:not_a_timestamp",
        ),
    ]
    status_name = F.coalesce(
        _raw("description"),
        F.element_at(F.create_map(*[F.lit(x) for pair in STATUS_NAMES.items() for x in pair]), status),
    )
    known = F.array(*[F.lit(name) for name in schema.CONTRACT_FIELDS])
    defects = [
        F.col("_payload_defect"),
        *v_defects,
        *time_defects,
        *lat_defects,
        *lon_defects,
        *signal_defects,
        *status_defects,
        *speed_defects,
        *sat_defects,
        *precision_defects,
    ]
    return [
        _raw("event_id").alias("event_id"),
        schema_version.alias("schema_version"),
        event_time.alias("event_time"),
        _raw("device_id").alias("device_id"),
        lat.alias("lat"),
        lon.alias("lon"),
        signal.alias("signal"),
        _raw("network").alias("network"),
        _raw("operator").alias("operator"),
        _raw("operator").alias("operator_raw"),
        status.alias("status"),
        status_name.alias("status_name"),
        speed.alias("speed"),
        satellites.alias("satellites"),
        precision.alias("gps_precision_m"),
        _raw("provider").alias("location_provider"),
        _raw("activity").alias("activity"),
        F.regexp_replace(_raw("postal_code"), _FLOAT_WRITTEN_INTEGER, "$1").alias("postal_code"),
        # A payload whose every key is a contract field with a value has no extra fields (most do).
        F.when(F.size(F.col(_FIELDS)) == F.col(_KNOWN_FIELDS), _no_strings())
        .otherwise(F.sort_array(F.array_except(F.map_keys(F.col(_FIELDS)), known)))
        .alias(schema.EXTRA_FIELDS),
        present(defects).alias(schema.DEFECTS),
        "data",
        *schema.BRONZE_POINTER,
    ]


def _utc_wall_clock(text: Column) -> Column:
    """The instant of a ``_UTC_TIME`` text, as Spark's cast to timestamp gives it, for less CPU.

    Spark's cast looks up the zone of every text that names one, and the lookup compiles two regular
    expressions each time. Without its ``Z`` the text is a wall-clock time, read without any zone; its
    distance from 1970-01-01 00:00 in microseconds is the instant's (added to a timestamp, the distance
    would be added to the session time zone's wall clock, wrong by an hour across a change of daylight time).
    """
    wall_clock = F.regexp_replace(text, "Z$", "").cast("timestamp_ntz")
    seconds = (wall_clock - F.lit(_EPOCH_WALL_CLOCK).cast("timestamp_ntz")).cast("interval second")
    return F.timestamp_micros((seconds.cast("decimal(20,6)") * 1_000_000).cast("long"))


_EPOCH_WALL_CLOCK = "1970-01-01 00:00:00"


def operator_key(column: Column) -> Column:
    """Case- and space-insensitive key of an operator name: lower case, single spaces, trimmed."""
    return F.lower(F.regexp_replace(F.trim(column), r"\s+", " "))


def canonical_operators(names: list[str]) -> dict[str, str]:
    """Reference names -> {key: canonical spelling}, the same key rule as ``operator_key``."""
    import re

    return {re.sub(r"\s+", " ", name.strip()).lower(): name for name in names}


def normalize_operator(df: DataFrame, *, canonical: Mapping[str, str]) -> DataFrame:
    """Map ``operator`` onto its canonical spelling; unknown names stay as sent, ``operator_raw`` keeps the original."""
    _require(df, "normalize_operator", ("operator",))
    if not canonical:
        return df
    return df.withColumn("operator", _canonical_operator(tuple(canonical.items())))


@per_session
def _canonical_operator(canonical: tuple[tuple[str, str], ...]) -> Column:
    lookup = F.create_map(*[F.lit(x) for pair in canonical for x in pair])
    return F.coalesce(F.element_at(lookup, operator_key(F.col("operator"))), F.col("operator"))


def drop_duplicate_events(df: DataFrame) -> DataFrame:
    """One row per ``event_id`` within a batch: the first that reached the stream (producer retries resend)."""
    _require(df, "drop_duplicate_events", ("event_id", "arrival_time", "shard_id", "sequence_number"))
    return df.withColumn("_rank", _arrival_rank()).where(F.col("_rank") == 1).drop("_rank")


@per_session
def _arrival_rank() -> Column:
    from pyspark.sql import Window

    first = Window.partitionBy("event_id").orderBy(
        F.col("arrival_time").asc_nulls_last(), "shard_id", F.col("sequence_number").cast("decimal(38,0)")
    )
    return F.row_number().over(first)


def drop_seen_events(df: DataFrame, seen_event_ids: DataFrame, *, broadcast_batch: bool = False) -> DataFrame:
    """Rows whose ``event_id`` is not among ``seen_event_ids`` (silver's ids within the dedup horizon).

    Silver's side grows with the table and a batch's stays small. By default both sides are shuffled and
    sorted by id (a sort-merge anti join). With ``broadcast_batch`` (for a batch whose ids fit in memory) the
    batch's ids go to every task as a hash table instead: silver's ids stream past it unshuffled and
    unsorted, and only the ids found there come back to be dropped (1,000,000 silver rows against a
    37,500-row batch: 1.0 s -> 0.5 s).
    """
    seen = seen_event_ids.select("event_id")
    # An anti or semi join is indifferent to repeats on its right side: no distinct (an aggregation and a shuffle).
    if not broadcast_batch:
        return df.join(seen, on="event_id", how="left_anti")
    found = seen.join(F.broadcast(df.select("event_id")), on="event_id", how="left_semi")
    return df.join(F.broadcast(found), on="event_id", how="left_anti")


def to_silver_rows(df: DataFrame, *, processed_time: datetime) -> DataFrame:
    """Valid, deduplicated readings -> rows of ``telcopulse_silver.network_events``."""
    stamped = with_times(df, processed_time=processed_time)
    return stamped.select(*_silver_casts(), "processed_time")


@per_session
def _silver_casts() -> list[Column]:
    return [F.col(f.name).cast(f.dataType) for f in schema.NETWORK_EVENTS.fields if f.name != "processed_time"]


def to_quarantine_rows(df: DataFrame, *, suite_version: str, quarantined_at: datetime) -> DataFrame:
    """Rejected records -> rows of ``telcopulse_silver.quarantine``: raw bytes, pointer and reasons."""
    _require(df, "to_quarantine_rows", ("data", schema.REASONS, *schema.BRONZE_POINTER))
    return with_times(df, quarantined_at=quarantined_at).select(
        "data",
        *schema.BRONZE_POINTER,
        F.col(schema.REASONS),
        F.lit(suite_version).alias("suite_version"),
        "quarantined_at",
        F.lit(None).cast("timestamp").alias("replayed_at"),
    )
