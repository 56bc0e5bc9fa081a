"""Gold job: silver appends (Iceberg stream) -> additive KPI deltas -> idempotent MERGEs; outages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from threading import Event

from catalog.tables import SILVER_EVENTS
from pipelines import streaming
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.gold.batch import WRITER, GoldBatch
from pipelines.settings import Settings
from pipelines.spark import build_spark

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    *,
    until_idle_s: float | None = None,
    stop: Event | None = None,
    upstream_busy: Callable[[], bool] | None = None,
) -> int:
    """Run the gold stream until ``stop`` or ``until_idle_s`` without new silver rows."""
    spark = build_spark(settings, "telcopulse-gold")
    bootstrap_tables(spark, settings)
    checkpoint = streaming.checkpoint_location(settings, WRITER)
    batch = GoldBatch.from_settings(
        settings,
        query_id=streaming.stable_query_id(spark, checkpoint),
        source_range=lambda batch_id: streaming.source_range(spark, checkpoint, batch_id),
    )
    streaming.run_incremental(
        spark,
        settings,
        name=WRITER,
        source_table=settings.table(SILVER_EVENTS.identifier),
        process=batch.process,
        until_idle_s=until_idle_s,
        stop=stop,
        upstream_busy=upstream_busy,
    )
    log.info("gold stopped: %d silver rows merged", batch.rows_merged)
    return batch.rows_merged
