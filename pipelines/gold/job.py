"""Gold job: silver appends (Iceberg stream) -> additive KPI deltas -> idempotent MERGEs; outages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from threading import Event

from catalog.tables import OPERATOR_KPIS, POSTAL_HEALTH, POSTAL_OUTAGES, POSTAL_STATUS_COUNTS, SILVER_EVENTS
from pipelines import streaming
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.gold.batch import GoldBatch, GoldTables
from pipelines.gold.transform import OutageRule
from pipelines.settings import Settings
from pipelines.spark import build_spark

log = logging.getLogger(__name__)
WRITER = "gold"


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
    batch = GoldBatch(
        query_id=streaming.stable_query_id(spark, checkpoint),
        tables=GoldTables(
            *(
                settings.table(t.identifier)
                for t in (OPERATOR_KPIS, POSTAL_STATUS_COUNTS, POSTAL_HEALTH, POSTAL_OUTAGES)
            )
        ),
        window_seconds=settings.window_seconds,
        rule=OutageRule(
            settings.outage_min_readings,
            settings.outage_min_devices,
            settings.outage_min_bad_share,
            settings.outage_close_after_healthy_windows,
        ),
        outage_lookback=timedelta(hours=settings.outage_lookback_hours),
        late_after=timedelta(seconds=settings.late_after_seconds),
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
