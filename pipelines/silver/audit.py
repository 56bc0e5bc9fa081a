"""GX's own run on a whole silver batch, beside the stream rather than in it.

The routing rules derived from the suite decide every row, and their counts are every batch's outcome in
``dq_results`` (a test shows they equal GX's on hostile batches). Once every ``gx_every_seconds`` GX itself
validates a whole batch: it refreshes Data Docs and checks the rules' counts, logging an error if they
disagree. Inside the batch that run held the batch, and every batch behind it, up by 2-6 s once a minute
(~35 us a row on pandas, plus collecting the rows); here it runs in a thread of its own, one at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame

from pipelines.adapters.gx_validator import ExpectationOutcome, GxValidator, to_validation_frame

log = logging.getLogger(__name__)


class GxAudit:
    """Runs GX on a batch in the background when one is due; at most one at a time."""

    def __init__(self, validator: GxValidator, *, every_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._validator = validator
        self._every_seconds = every_seconds
        self._clock = clock
        # The first run comes one period after start-up, as every later one: a backlog drained at start is
        # not slowed by a whole-batch GX run.
        self._ran_at = clock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx-audit")
        self._running: Future[bool] | None = None

    def due(self) -> bool:
        idle = self._running is None or self._running.done()
        return idle and self._clock() - self._ran_at >= self._every_seconds

    def submit(
        self,
        typed: DataFrame,
        params: Mapping[str, Any],
        expected: list[ExpectationOutcome],
        *,
        batch_id: int,
        release: Callable[[], object],
    ) -> Future[bool]:
        """Collect ``typed`` and run GX on it in the background; ``release`` is called once it is collected.

        The future's result: whether GX's outcome equals ``expected`` (the rules' counts). It never raises:
        a failed audit is logged, and the stream goes on.
        """
        self._ran_at = self._clock()
        self._running = self._pool.submit(self._audit, typed, dict(params), expected, batch_id, release)
        return self._running

    def close(self) -> None:
        """Wait for a running audit (its Data Docs), then stop the thread."""
        self._pool.shutdown(wait=True)

    def _audit(
        self,
        typed: DataFrame,
        params: dict[str, Any],
        expected: list[ExpectationOutcome],
        batch_id: int,
        release: Callable[[], object],
    ) -> bool:
        started = self._clock()
        try:
            try:
                batches = typed._collect_as_arrow()
                table = pa.Table.from_batches(batches) if batches else pa.Table.from_pandas(typed.toPandas())
            finally:
                release()
            outcomes = self._validator.validate(to_validation_frame(table), params, keep=True)
        except Exception:
            log.exception("GX audit of silver batch %d failed; the stream goes on", batch_id)
            return False
        gx, rules = comparable(outcomes), comparable(expected)
        if gx != rules:
            log.error(
                "GX and the routing rules disagree on silver batch %d (routing follows the rules): GX %s, rules %s",
                batch_id,
                gx,
                rules,
            )
            return False
        seconds = self._clock() - started
        log.info(
            "GX audit of silver batch %d (%d rows) agrees with the rules (%.1f s)", batch_id, table.num_rows, seconds
        )
        return True


def comparable(outcomes: list[ExpectationOutcome]) -> list[tuple[str, str, bool, int, int]]:
    return sorted((o.expectation, o.severity, o.success, o.element_count, o.unexpected_count) for o in outcomes)
