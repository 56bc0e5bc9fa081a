from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from pipelines.bronze import schema
from pipelines.bronze.transform import to_bronze_rows
from pipelines.errors import SchemaMismatchError

ARRIVAL = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
INGEST = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)


def test_to_bronze_rows_keeps_bytes_and_adds_ingest_time(spark: SparkSession) -> None:
    records = [
        (b"\xff\xfe not utf-8", "s", "shard-0", "1", "k", ARRIVAL),
        (b'{"not": "contract"}', "s", "shard-1", "2", None, None),
    ]
    df = spark.createDataFrame(records, schema.STREAM_RECORD)

    result = to_bronze_rows(df, ingest_time=INGEST)

    expected = spark.createDataFrame([(*r, INGEST) for r in records], schema.NETWORK_EVENTS)
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_to_bronze_rows_names_missing_columns(spark: SparkSession) -> None:
    df = spark.createDataFrame([(b"x",)], "data binary")

    with pytest.raises(SchemaMismatchError, match="shard_id"):
        to_bronze_rows(df, ingest_time=INGEST)
