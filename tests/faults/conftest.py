"""The fault-injection suite (`make test-faults`): every test adds its section to build/faults/report.json."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.settings import PROJECT_ROOT

REPORT = PROJECT_ROOT / "build" / "faults" / "report.json"


class FaultReport:
    """Sections of the report, written to disk as each one is added (a failed run keeps what it found)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.body: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(),
            "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
            "sections": {},
        }

    def add(self, name: str, section: dict[str, Any]) -> None:
        self.body["sections"][name] = section
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.body["written_at"] = datetime.now(UTC).isoformat()
        self.body["passed"] = all(s.get("passed", False) for s in self.body["sections"].values())
        self.path.write_text(json.dumps(self.body, indent=2, default=str) + "\n")


@pytest.fixture(scope="session")
def fault_report() -> Iterator[FaultReport]:
    report = FaultReport(REPORT)
    yield report
    report.write()
