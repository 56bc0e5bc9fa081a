"""Bronze columns (the table itself is defined in catalog/tables.py; a test keeps the two equal)."""

from pyspark.sql.types import BinaryType, StringType, StructField, StructType, TimestampType

DATA = "data"
STREAM_NAME = "stream_name"
SHARD_ID = "shard_id"
SEQUENCE_NUMBER = "sequence_number"
PARTITION_KEY = "partition_key"
ARRIVAL_TIME = "arrival_time"
INGEST_TIME = "ingest_time"

# What a stream source hands over: a Kinesis record and where it came from.
STREAM_RECORD = StructType(
    [
        StructField(DATA, BinaryType(), False),
        StructField(STREAM_NAME, StringType(), False),
        StructField(SHARD_ID, StringType(), False),
        StructField(SEQUENCE_NUMBER, StringType(), False),
        StructField(PARTITION_KEY, StringType(), True),
        StructField(ARRIVAL_TIME, TimestampType(), True),
    ]
)

NETWORK_EVENTS = StructType([*STREAM_RECORD.fields, StructField(INGEST_TIME, TimestampType(), False)])
