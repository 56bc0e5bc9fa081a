"""Silver columns (tables are defined in catalog/tables.py; a test keeps the two equal)."""

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Record contract v1 field names, as producers send them.
CONTRACT_FIELDS = (
    "schema_version", "event_id", "event_time", "device_id", "lat", "long", "signal", "network", "operator",
    "status", "description", "speed", "satellites", "precission", "provider", "activity", "postal_code",
)  # fmt: skip

REASONS = "reasons"
DEFECTS = "defects"
WARNINGS = "warnings"
EXTRA_FIELDS = "extra_fields"

# The typed reading: what the suite judges (GX sees exactly these columns).
TYPED_FIELDS = StructType(
    [
        StructField("event_id", StringType()),
        StructField("schema_version", IntegerType()),
        StructField("event_time", TimestampType()),
        StructField("device_id", StringType()),
        StructField("lat", DoubleType()),
        StructField("lon", DoubleType()),
        StructField("signal", IntegerType()),
        StructField("network", StringType()),
        StructField("operator", StringType()),
        StructField("operator_raw", StringType()),
        StructField("status", IntegerType()),
        StructField("status_name", StringType()),
        StructField("speed", DoubleType()),
        StructField("satellites", IntegerType()),
        StructField("gps_precision_m", DoubleType()),
        StructField("location_provider", StringType()),
        StructField("activity", StringType()),
        StructField("postal_code", StringType()),
    ]
)
TYPED_COLUMNS = tuple(TYPED_FIELDS.fieldNames())

BRONZE_POINTER = ("shard_id", "sequence_number", "arrival_time", "ingest_time")

NETWORK_EVENTS = StructType(
    [
        *[
            StructField(
                f.name,
                f.dataType,
                f.name
                not in {
                    "event_id",
                    "schema_version",
                    "event_time",
                    "lat",
                    "lon",
                    "signal",
                    "status",
                    "status_name",
                },
            )
            for f in TYPED_FIELDS.fields
        ],
        StructField(EXTRA_FIELDS, ArrayType(StringType())),
        StructField("shard_id", StringType(), False),
        StructField("sequence_number", StringType(), False),
        StructField("arrival_time", TimestampType()),
        StructField("ingest_time", TimestampType(), False),
        StructField("processed_time", TimestampType(), False),
    ]
)

QUARANTINE = StructType(
    [
        StructField("data", BinaryType(), False),
        StructField("shard_id", StringType(), False),
        StructField("sequence_number", StringType(), False),
        StructField("arrival_time", TimestampType()),
        StructField("ingest_time", TimestampType(), False),
        StructField(REASONS, ArrayType(StringType()), False),
        StructField("suite_version", StringType(), False),
        StructField("quarantined_at", TimestampType(), False),
        StructField("replayed_at", TimestampType()),
    ]
)

EXPECTATION_RESULT = StructType(
    [
        StructField("expectation", StringType()),
        StructField("severity", StringType()),
        StructField("success", BooleanType()),
        StructField("element_count", LongType()),
        StructField("unexpected_count", LongType()),
    ]
)
