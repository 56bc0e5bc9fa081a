"""Bronze job: stream source -> ``to_bronze_rows`` -> one stamped Iceberg append per micro-batch.

Exactly-once: each commit records the last sequence number per shard; a restart resumes from the
newest commit, so a crash before a commit re-reads the batch and a crash after it reads on.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from threading import Event

import pyarrow.compute as pc

from catalog.tables import BRONZE_EVENTS
from pipelines import ledger
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.adapters.read_ahead import ReadAheadSource
from pipelines.adapters.registry import stream_source
from pipelines.bronze.schema import STREAM_RECORD
from pipelines.bronze.transform import to_bronze_rows
from pipelines.faults import crash_point
from pipelines.logs import Phases, lag_seconds, log_batch
from pipelines.settings import Settings
from pipelines.spark import build_spark, dataframe_from_arrow

log = logging.getLogger(__name__)
WRITER = "bronze"
FIRST_BATCH_RECORDS = 5_000


def run(settings: Settings, *, until_idle_s: float | None = None, stop: Event | None = None) -> int:
    """Run until ``stop`` is set or no record arrived for ``until_idle_s``; returns records written."""
    stop = stop or Event()
    spark = build_spark(settings, "telcopulse-bronze")
    bootstrap_tables(spark, settings)
    table = settings.table(BRONZE_EVENTS.identifier)
    source = ReadAheadSource(stream_source(settings))
    last = ledger.last_stamp(spark, table, WRITER)
    positions = ledger.positions_of(last)
    batch_id = int(last[ledger.BATCH_ID]) + 1 if last else 0
    written, idle_since = 0, time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        phases = Phases()
        # The process's first batch runs JIT-cold and unoverlapped with a read: kept small, data lands sooner.
        limit = min(FIRST_BATCH_RECORDS if not written else 2**31, settings.bronze_max_batch_records)
        # A drained stream is read once per trigger period (one commit each), a backlog back to back.
        batch = source.read(
            positions,
            max_records=limit,
            ahead_records=settings.bronze_max_batch_records,
            pace_s=settings.trigger_seconds,
        )
        phases.mark("read_stream")
        if batch.size == 0:
            if until_idle_s is not None and time.monotonic() - idle_since >= until_idle_s:
                break
            stop.wait(settings.trigger_seconds)
            continue
        records = dataframe_from_arrow(spark, batch.records, STREAM_RECORD)
        rows = to_bronze_rows(records, ingest_time=datetime.now(UTC))
        stamp = ledger.Stamp(
            WRITER, settings.stream_name, batch_id, {ledger.POSITIONS: json.dumps(batch.positions)}
        )
        crash_point("bronze.before-commit", batch_id)
        ledger.append_once(rows, table, stamp)
        phases.mark("write_commit")
        crash_point("bronze.after-commit", batch_id)
        positions, batch_id = batch.positions, batch_id + 1
        written += batch.size
        idle_since = time.monotonic()
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
    source.close()
    return written
