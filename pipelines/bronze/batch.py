"""Bronze micro-batches: stream records -> ``to_bronze_rows`` -> one Iceberg append stamped with its positions.

Exactly-once: each commit records the last sequence number per shard; a restart resumes from the
newest commit, so a crash before a commit re-reads the batch and a crash after it reads on.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pyarrow.compute as pc
from pyspark.sql import SparkSession

from pipelines import ledger
from pipelines.bronze.schema import STREAM_RECORD
from pipelines.bronze.transform import to_bronze_rows
from pipelines.faults import crash_point
from pipelines.logs import Phases, lag_seconds, log_batch
from pipelines.ports import StreamBatch
from pipelines.spark import dataframe_from_arrow

log = logging.getLogger(__name__)
WRITER = "bronze"
FIRST_BATCH_RECORDS = 5_000


class BronzeBatches:
    """Where bronze stands in the stream, and the commit that moves it past each batch read from there.

    Args:
        spark: the job's session.
        table: the bronze table; its newest stamped commit is where reading resumes.
        stream_name: the stream read, recorded in each commit's stamp.
        max_records: the most records one batch holds.
    """

    def __init__(self, spark: SparkSession, table: str, *, stream_name: str, max_records: int):
        self._spark = spark
        self._table = table
        self._stream_name = stream_name
        self._max_records = max_records
        last = ledger.last_stamp(spark, table, WRITER)
        self.positions = ledger.positions_of(last)
        self.batch_id = int(last[ledger.BATCH_ID]) + 1 if last else 0
        self.rows_written = 0

    @property
    def read_limit(self) -> int:
        """The process's first batch runs JIT-cold and unoverlapped with a read: kept small, data lands sooner."""
        return self._max_records if self.rows_written else min(FIRST_BATCH_RECORDS, self._max_records)

    def commit(self, batch: StreamBatch, *, started: float, phases: Phases) -> None:
        """Append ``batch`` (read from ``positions``, non-empty) once; the next batch is read after it."""
        records = dataframe_from_arrow(self._spark, batch.records, STREAM_RECORD)
        rows = to_bronze_rows(records, ingest_time=datetime.now(UTC))
        stamp = ledger.Stamp(WRITER, self._stream_name, self.batch_id, {ledger.POSITIONS: json.dumps(batch.positions)})
        crash_point("bronze.before-commit", stamp.batch_id)
        ledger.append_once(rows, self._table, stamp)
        phases.mark("write_commit")
        crash_point("bronze.after-commit", stamp.batch_id)
        self.positions, self.batch_id = batch.positions, self.batch_id + 1
        self.rows_written += batch.size
        log_batch(
            log,
            layer=WRITER,
            batch_id=stamp.batch_id,
            rows_in=batch.size,
            rows_out=batch.size,
            rows_quarantined=0,
            duration_s=round(time.monotonic() - started, 3),
            lag_s=lag_seconds(pc.min(batch.records.column("arrival_time")).as_py()),
            phases=phases.seconds,
        )
