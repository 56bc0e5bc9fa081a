"""Bronze transform: stamp raw records with their ingest time; nothing is parsed or dropped."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.bronze import schema
from pipelines.errors import SchemaMismatchError


def to_bronze_rows(df: DataFrame, *, ingest_time: datetime) -> DataFrame:
    """Stream records -> bronze rows: the same records, in table column order, with ``ingest_time``.

    Args:
        df: records as a stream source delivers them (``schema.STREAM_RECORD`` columns).
        ingest_time: when this micro-batch was read; one value per batch.

    Returns:
        One row per input record, ``data`` untouched.
    """
    missing = [c for c in schema.STREAM_RECORD.fieldNames() if c not in df.columns]
    if missing:
        raise SchemaMismatchError("to_bronze_rows", missing)
    return df.select(
        *[F.col(field.name).cast(field.dataType) for field in schema.STREAM_RECORD.fields],
        F.lit(ingest_time).cast("timestamp").alias(schema.INGEST_TIME),
    )
