"""Gold columns (tables are defined in catalog/tables.py; a test keeps the two equal)."""

from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

UNKNOWN = "unknown"
BAD_STATUSES = (1, 2)  # out of service, emergency only; 3 (power off) is the user's doing, not the network's
PRECISION_SUM = DecimalType(38, 6)

OPERATOR_KPIS = StructType(
    [
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("operator", StringType(), False),
        StructField("signal_sum", LongType(), False),
        StructField("signal_count", LongType(), False),
        StructField("avg_signal", DoubleType()),
        StructField("precision_sum", PRECISION_SUM, False),
        StructField("precision_count", LongType(), False),
        StructField("avg_gps_precision_m", DoubleType()),
        StructField("updated_at", TimestampType(), False),
    ]
)

POSTAL_STATUS_COUNTS = StructType(
    [
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("postal_code", StringType(), False),
        StructField("status", IntegerType(), False),
        StructField("status_name", StringType(), False),
        StructField("event_count", LongType(), False),
        StructField("updated_at", TimestampType(), False),
    ]
)

POSTAL_WINDOW_HEALTH = StructType(
    [
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("postal_code", StringType(), False),
        StructField("readings", LongType(), False),
        StructField("bad_readings", LongType(), False),
        StructField("device_ids", ArrayType(StringType(), False), False),
        StructField("updated_at", TimestampType(), False),
    ]
)

POSTAL_OUTAGES = StructType(
    [
        StructField("postal_code", StringType(), False),
        StructField("outage_start", TimestampType(), False),
        StructField("outage_end", TimestampType()),
        StructField("readings", LongType(), False),
        StructField("bad_readings", LongType(), False),
        StructField("devices_affected", LongType(), False),
        StructField("worst_bad_share", DoubleType(), False),
        StructField("updated_at", TimestampType(), False),
    ]
)
