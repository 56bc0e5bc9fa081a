"""Silver job: bronze appends (Iceberg stream) -> parse, normalize, route, dedup -> silver, quarantine, dq_results.

Each micro-batch commits up to three tables, each commit stamped with (query id, batch id); a replayed
batch skips the tables it already reached, so a crash anywhere leaves every record in exactly one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from threading import Event

from catalog.reference import canonical_operator_names
from catalog.tables import BRONZE_EVENTS, DQ_RESULTS, QUARANTINE, SILVER_EVENTS
from expectations import SILVER_EVENTS as SUITE
from expectations import load_suite, suite_version
from pipelines import streaming
from pipelines.adapters.gx_validator import GxValidator
from pipelines.adapters.iceberg import bootstrap_tables
from pipelines.settings import Settings
from pipelines.silver.audit import GxAudit
from pipelines.silver.batch import WRITER, SilverBatch
from pipelines.spark import build_spark

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    *,
    until_idle_s: float | None = None,
    stop: Event | None = None,
    upstream_busy: Callable[[], bool] | None = None,
) -> int:
    """Run the silver stream until ``stop`` or ``until_idle_s`` without new bronze rows."""
    spark = build_spark(settings, "telcopulse-silver", jvm_options=settings.silver_jvm_options)
    bootstrap_tables(spark, settings)
    checkpoint = streaming.checkpoint_location(settings, WRITER)
    suite = load_suite(SUITE)
    silver, quarantine, dq_results = (settings.table(t.identifier) for t in (SILVER_EVENTS, QUARANTINE, DQ_RESULTS))
    audit = GxAudit(GxValidator(suite, docs_root=settings.data_docs_dir), every_seconds=settings.gx_every_seconds)
    batch = SilverBatch(
        settings,
        query_id=streaming.stable_query_id(spark, checkpoint),
        suite=suite,
        suite_version=suite_version(SUITE),
        canonical_operator_names=canonical_operator_names(),
        audit=audit,
        tables=(silver, quarantine, dq_results),
    )
    try:
        streaming.run_incremental(
            spark,
            settings,
            name=WRITER,
            source_table=settings.table(BRONZE_EVENTS.identifier),
            process=batch.process,
            until_idle_s=until_idle_s,
            stop=stop,
            upstream_busy=upstream_busy,
        )
    finally:
        audit.close()
    log.info("silver stopped: %d rows written", batch.rows_written)
    return batch.rows_written
