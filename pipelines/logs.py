"""Logging: configured once per process; human lines on stderr, JSON lines in ``<home>/logs/<job>.jsonl``."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BATCH_FIELDS = ("layer", "batch_id", "rows_in", "rows_out", "rows_quarantined", "duration_s", "lag_s")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "metrics", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(logs_dir: Path | None = None, job: str | None = None, *, verbose: bool = False) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    if logs_dir is not None and job is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(logs_dir / f"{job}.jsonl", encoding="utf-8")
        file_handler.setFormatter(JsonLineFormatter())
        root.addHandler(file_handler)
    for noisy in ("py4j", "botocore", "urllib3", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_batch(logger: logging.Logger, **metrics: Any) -> None:
    """One line per micro-batch: ``layer batch_id rows_in rows_out rows_quarantined duration_s lag_s``.

    ``lag_s``: seconds from the batch's oldest input record reaching the layer upstream (stream arrival for
    bronze, bronze ingest for silver, silver processing for gold) to the batch's commit.
    """
    text = " ".join(f"{key}={metrics[key]}" for key in BATCH_FIELDS if key in metrics)
    logger.info("batch %s", text, extra={"metrics": {"event": "batch", **metrics}})


class Phases:
    """Wall seconds per named phase of a batch, logged with it: where a batch's time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._at = time.monotonic()

    def mark(self, name: str) -> None:
        """Close the phase that ran since the previous mark (or the start) under ``name``."""
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._at, 3)
        self._at = now


def lag_seconds(oldest_upstream: datetime | None, *, now: datetime | None = None) -> float | None:
    """``lag_s`` of a batch whose oldest input reached the layer upstream at ``oldest_upstream``."""
    if oldest_upstream is None:
        return None
    if oldest_upstream.tzinfo is None:
        oldest_upstream = oldest_upstream.replace(tzinfo=UTC)
    return round(max(0.0, ((now or datetime.now(UTC)) - oldest_upstream).total_seconds()), 3)
