"""Bronze job: stream source -> ``BronzeBatches`` (``to_bronze_rows``, one stamped Iceberg append per batch).

Reading resumes after the newest commit's positions (see ``pipelines.bronze.batch``): exactly once.
"""

from __future__ import annotations

import time
from threading import Event

from catalog.tables import BRONZE_EVENTS
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.adapters.read_ahead import ReadAheadSource
from pipelines.adapters.registry import stream_source
from pipelines.bronze.batch import BronzeBatches
from pipelines.logs import Phases
from pipelines.settings import Settings
from pipelines.spark import build_spark


def run(settings: Settings, *, until_idle_s: float | None = None, stop: Event | None = None) -> int:
    """Run until ``stop`` is set or no record arrived for ``until_idle_s``; returns records written."""
    stop = stop or Event()
    spark = build_spark(settings, "telcopulse-bronze")
    bootstrap_tables(spark, settings)
    batches = BronzeBatches(
        spark,
        settings.table(BRONZE_EVENTS.identifier),
        stream_name=settings.stream_name,
        max_records=settings.bronze_max_batch_records,
    )
    source = ReadAheadSource(stream_source(settings))
    idle_since = time.monotonic()
    while not stop.is_set():
        started, phases = time.monotonic(), Phases()
        # A drained stream is read once per trigger period (one commit each), a backlog back to back.
        batch = source.read(
            batches.positions,
            max_records=batches.read_limit,
            ahead_records=settings.bronze_max_batch_records,
            pace_s=settings.trigger_seconds,
        )
        phases.mark("read_stream")
        if batch.size == 0:
            if until_idle_s is not None and time.monotonic() - idle_since >= until_idle_s:
                break
            stop.wait(settings.trigger_seconds)
            continue
        batches.commit(batch, started=started, phases=phases)
        idle_since = time.monotonic()
    source.close()
    return batches.rows_written
