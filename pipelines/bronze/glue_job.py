"""Bronze on AWS Glue 5.1 streaming: Glue's Kinesis source -> the same bronze rows and ledger as locally.

Glue reads the stream (``create_data_frame.from_options``, connection ``kinesis``) and calls ``forEachBatch``
with Spark's checkpoint in S3; each micro-batch becomes bronze rows through ``to_bronze_rows`` and one
stamped ``ledger.append_once``. The query id is the one Spark keeps in that checkpoint
(``streaming.stable_query_id``), so a replayed batch is skipped and a new checkpoint starts a new ledger.

Glue's Kinesis source hands over the payload (``$json$data_infer_schema$_temporary$``) and, with
``addRecordTimestamp``, the arrival time (``__src_timestamp``); it exposes no shard, sequence number or
partition key. Bronze therefore records ``shard_id = "glue-kinesis-source"``, a sequence number made of the
batch id and the row's position, and no partition key.

``awsglue`` exists only on Glue: it is imported inside ``main``; everything else runs in tests.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql.types import NumericType

from catalog.tables import BRONZE_EVENTS
from pipelines import ledger, streaming
from pipelines.adapters.glue import STREAMING_JOB_ARGS, log_json_lines, settings_from_args
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.bronze import schema
from pipelines.bronze.batch import WRITER
from pipelines.bronze.transform import to_bronze_rows
from pipelines.errors import SchemaMismatchError
from pipelines.logs import log_batch
from pipelines.settings import Settings
from pipelines.spark import build_spark

log = logging.getLogger(__name__)

JOB_ARGS = (*STREAMING_JOB_ARGS, "TELCOPULSE_STREAM_ARN")
GLUE_DATA = "$json$data_infer_schema$_temporary$"
GLUE_ARRIVAL_TIME = "__src_timestamp"
GLUE_SHARD_ID = "glue-kinesis-source"
# A sequence number is batch id then the row's 19-digit position: numeric (silver orders by it as a
# decimal(38,0)) and unique across batches for any batch id below 10^19.
_POSITION_DIGITS = 19


def kinesis_connection_options(settings: Settings, *, stream_arn: str) -> dict[str, str]:
    """Glue's Kinesis source options: every record from the oldest retained one, payload left unparsed."""
    return {
        "typeOfData": "kinesis",
        "streamARN": stream_arn,
        "startingPosition": "TRIM_HORIZON",
        "classification": "json",
        "inferSchema": "false",
        "addRecordTimestamp": "true",
        "emitConsumerLagMetrics": "true",
        "avoidEmptyBatches": "true",
        "maxFetchRecordsPerShard": str(settings.bronze_max_batch_records),
    }


def glue_records_to_stream_records(df: DataFrame, *, stream_name: str, batch_id: int) -> DataFrame:
    """Glue's Kinesis columns -> ``schema.STREAM_RECORD`` (what every stream source hands to bronze).

    Args:
        df: one micro-batch from Glue's Kinesis source.
        stream_name: the stream the job reads.
        batch_id: the micro-batch id; part of each record's sequence number.

    Raises:
        SchemaMismatchError: the batch has no payload column (Glue changed its source's schema).
    """
    if GLUE_DATA not in df.columns:
        raise SchemaMismatchError("glue_records_to_stream_records", [GLUE_DATA])
    position = F.lpad(F.monotonically_increasing_id().cast("string"), _POSITION_DIGITS, "0")
    return df.select(
        F.col(f"`{GLUE_DATA}`").cast("binary").alias(schema.DATA),
        F.lit(stream_name).alias(schema.STREAM_NAME),
        F.lit(GLUE_SHARD_ID).alias(schema.SHARD_ID),
        F.concat(F.lit(str(batch_id)), position).alias(schema.SEQUENCE_NUMBER),
        F.lit(None).cast("string").alias(schema.PARTITION_KEY),
        _arrival_time(df).alias(schema.ARRIVAL_TIME),
    )


def _arrival_time(df: DataFrame) -> Column:
    """``__src_timestamp`` as a timestamp (epoch milliseconds if numeric); null when Glue did not add it."""
    if GLUE_ARRIVAL_TIME not in df.columns:
        return F.lit(None).cast("timestamp")
    if isinstance(df.schema[GLUE_ARRIVAL_TIME].dataType, NumericType):
        return F.expr(f"timestamp_millis(CAST({GLUE_ARRIVAL_TIME} AS BIGINT))")
    return F.col(GLUE_ARRIVAL_TIME).cast("timestamp")


def batch_writer(settings: Settings, *, query_id: str) -> Callable[[DataFrame, int], None]:
    """The ``forEachBatch`` function: one stamped append per non-empty batch, skipped if already committed."""
    table = settings.table(BRONZE_EVENTS.identifier)

    def write_batch(df: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        records = glue_records_to_stream_records(df, stream_name=settings.stream_name, batch_id=batch_id).persist()
        try:
            rows_in = records.count()
            if rows_in == 0:
                return
            rows = to_bronze_rows(records, ingest_time=datetime.now(UTC))
            written = ledger.append_once(rows, table, ledger.Stamp(WRITER, query_id, batch_id))
            log_batch(
                log,
                layer=WRITER,
                batch_id=batch_id,
                rows_in=rows_in,
                rows_out=rows_in if written else 0,
                rows_quarantined=0,
                duration_s=round(time.monotonic() - started, 3),
            )
        finally:
            records.unpersist()

    return write_batch


def main(argv: list[str] | None = None) -> None:
    """Glue entrypoint: resolve the job arguments, then stream Kinesis into bronze until the job is stopped.

    Args:
        argv: the job's command line as Glue passes it (``sys.argv``: script name, then ``--NAME value``).
    """
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv if argv is None else argv, list(JOB_ARGS))
    settings = settings_from_args(args)
    log_json_lines()
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = build_spark(settings, "telcopulse-bronze")
    bootstrap_tables(spark, settings)
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    checkpoint = streaming.checkpoint_location(settings, WRITER)
    query_id = streaming.stable_query_id(spark, checkpoint)
    frame = glue_context.create_data_frame.from_options(
        connection_type="kinesis",
        connection_options=kinesis_connection_options(settings, stream_arn=args["TELCOPULSE_STREAM_ARN"]),
        transformation_ctx="bronze_kinesis_source",
    )
    log.info("bronze on Glue: query %s, checkpoint %s", query_id, checkpoint)
    glue_context.forEachBatch(
        frame=frame,
        batch_function=batch_writer(settings, query_id=query_id),
        options={"windowSize": f"{int(settings.trigger_seconds)} seconds", "checkpointLocation": checkpoint},
    )
    job.commit()


if __name__ == "__main__":
    main()
