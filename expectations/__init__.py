"""Great Expectations suites: the single source of TelcoPulse's data-quality rules (one JSON per table)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent
SILVER_EVENTS = "silver.network_events"


@cache
def load_suite(name: str) -> dict[str, Any]:
    """The suite ``expectations/<name>.json`` as a plain dict (GX's own JSON form)."""
    return dict(json.loads((SUITES_DIR / f"{name}.json").read_text()))


def suite_version(name: str) -> str:
    return f"{name}@{load_suite(name)['meta']['version']}"
