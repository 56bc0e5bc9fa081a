"""CSV rows of phone logs -> record contract v1 (see catalog/record-contract-v1.schema.json)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SOURCE_COLUMNS = (
    "hour", "lat", "long", "signal", "network", "operator", "status", "description",
    "speed", "satellites", "precission", "provider", "activity", "postal_code",
)  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One Kinesis record: the partition key and the payload bytes."""

    partition_key: str
    data: bytes


def encode(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON; bytes that were not UTF-8 in a file go out unchanged (silver quarantines them)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", errors="surrogateescape")


def file_fingerprint(path: Path) -> str:
    """Content hash of a file: the same file replayed twice yields the same event ids."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def replay_date_for(hour: time, now: datetime) -> date:
    """The latest date at which ``hour`` is not in the future, so a day's log covers the last 24 hours."""
    today = now.astimezone(UTC).date()
    return today if hour <= now.astimezone(UTC).time() else today - timedelta(days=1)


def parse_hour(text: str) -> time | None:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        return None


def csv_row_to_payload(row: dict[str, str], *, event_id: str, event_time: str) -> dict[str, Any]:
    """Keep every cell as the file had it (strings, blanks as ''); add the contract's envelope."""
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "event_time": event_time,
        "device_id": None,
    }
    for column, value in row.items():
        if column is None or column == "hour":
            continue  # None: cells beyond the header (a ragged row) have no name to travel under
        payload[column] = value if value is not None else ""
    return payload


def read_csv_records(path: Path, *, on_date: date | None, now: datetime) -> Iterator[Record]:
    """Replay a phone-log CSV: event_time = date + hour (UTC); event_id from file content, row and date.

    A row whose ``hour`` cannot be read still travels, with that text as its event_time, so that
    silver quarantines it with a reason instead of the producer dropping it.
    """
    fingerprint = file_fingerprint(path)
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        for index, row in enumerate(csv.DictReader(handle), start=1):
            hour_text = row.get("hour") or ""
            hour = parse_hour(hour_text)
            if hour is None:
                day, event_time = on_date, hour_text
            else:
                day = on_date or replay_date_for(hour, now)
                event_time = datetime.combine(day, hour, tzinfo=UTC).isoformat().replace("+00:00", "Z")
            event_id = f"csv-{fingerprint}-{day.isoformat() if day else 'nodate'}-{index:07d}"
            payload = csv_row_to_payload(row, event_id=event_id, event_time=event_time)
            yield Record(partition_key=event_id, data=encode(payload))
