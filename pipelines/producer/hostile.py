"""Hostile records: each breaks one rule of the record contract or the silver suite, with the reason it must get.

Built from the sample's first row. Used by the data-quality report (`make dq-report`), the tests, and the
hostile-load generator of the fault suite.
"""

from __future__ import annotations

import json
from typing import Any

GOOD: dict[str, Any] = {
    "schema_version": 1, "event_id": "ev-good", "event_time": "2026-11-23T10:00:00Z", "device_id": None,
    "hour": None, "lat": "41.67089", "long": "0.53407", "signal": "2", "network": "vodafone", "operator": "vodafone ES",
    "status": "0", "description": "STATE_IN_SERVICE", "speed": "0.0", "satellites": "4.0", "precission": "51.0",
    "provider": "gps", "activity": "STILL", "postal_code": "250236.0",
}  # fmt: skip
GOOD.pop("hour")


def payload(**changes: Any) -> bytes:
    body = {**GOOD, **changes}
    for key in [k for k, v in changes.items() if v is ...]:
        body.pop(key)
    return json.dumps(body).encode()


# (name, raw bytes, a reason it must carry)
HOSTILE: list[tuple[str, bytes, str]] = [
    ("not utf-8", b'{"event_id": "\xff\xfe"}', "payload:not_utf8"),
    ("not json", b"{event_id: 1", "payload:not_json"),
    ("empty", b"", "payload:not_json"),
    ("json array", b"[1, 2, 3]", "payload:not_an_object"),
    ("json scalar", b"42", "payload:not_an_object"),
    (
        "schema v2",
        payload(event_id="ev-v2", schema_version=2),
        "schema_version:expect_column_values_to_be_in_set",
    ),
    ("no event id", payload(event_id=...), "event_id:expect_column_values_to_not_be_null"),
    ("huge event id", payload(event_id="x" * 5000), "event_id:expect_column_value_lengths_to_be_between"),
    (
        "no offset",
        payload(event_id="ev-tz", event_time="2026-11-23T10:00:00"),
        "event_time:missing_utc_offset",
    ),
    ("bad time", payload(event_id="ev-bt", event_time="yesterday Z"), "event_time:not_a_timestamp"),
    (
        "far future",
        payload(event_id="ev-ff", event_time="2099-01-01T00:00:00Z"),
        "event_time:expect_column_values_to_be_between",
    ),
    (
        "1970 clock",
        payload(event_id="ev-70", event_time="1970-01-01T00:00:00Z"),
        "event_time:expect_column_values_to_be_between",
    ),
    ("lat text", payload(event_id="ev-lt", lat="north"), "lat:not_numeric"),
    ("lat nan", payload(event_id="ev-ln", lat="NaN"), "lat:not_finite"),
    ("lat range", payload(event_id="ev-lr", lat="91.5"), "lat:expect_column_values_to_be_between"),
    ("lon inf", payload(event_id="ev-li", long="-Infinity"), "lon:not_finite"),
    ("lon missing", payload(event_id="ev-lm", long=...), "lon:expect_column_values_to_not_be_null"),
    ("signal float", payload(event_id="ev-sf", signal="12.5"), "signal:not_integer"),
    ("signal 99", payload(event_id="ev-s9", signal="99"), "signal:expect_column_values_to_be_between"),
    ("signal java suffix", payload(event_id="ev-sj", signal="12f"), "signal:not_numeric"),
    (
        "status 7",
        payload(event_id="ev-st", status="7", description="STATE_WHATEVER"),
        "status:expect_column_values_to_be_in_set",
    ),
    (
        "status name mismatch",
        payload(event_id="ev-sn", status="1"),
        "status:expect_column_pair_values_to_be_in_set",
    ),
    ("negative speed", payload(event_id="ev-ns", speed="-3"), "speed:expect_column_values_to_be_between"),
    ("satellites list", payload(event_id="ev-sl", satellites=[1, 2]), "satellites:not_numeric"),
    (
        "precision negative",
        payload(event_id="ev-pn", precission="-1"),
        "gps_precision_m:expect_column_values_to_be_between",
    ),
    (
        "huge operator",
        payload(event_id="ev-ho", operator="M" * 100_000),
        "operator:expect_column_value_lengths_to_be_between",
    ),
    (
        "huge postal",
        payload(event_id="ev-hp", postal_code="9" * 40),
        "postal_code:expect_column_value_lengths_to_be_between",
    ),
    ("huge number", payload(event_id="ev-hn", satellites="1e300"), "satellites:not_integer"),
]


def hostile_stream(count: int, *, seed: int = 0) -> list[tuple[str, bytes, str]]:
    """``count`` malformed records cycling through every kind above, each made unique (a distinct event id)."""
    records = []
    for index in range(count):
        name, raw, reason = HOSTILE[index % len(HOSTILE)]
        body = _json_object(raw) if reason.split(":")[0] != "event_id" else None
        if body is not None and "event_id" in body:
            body["event_id"] = f"hostile-{seed}-{index}"
            raw = json.dumps(body).encode()
        else:
            raw = raw + b" " * (index // len(HOSTILE))  # still broken the same way, but a distinct record
        records.append((name, raw, reason))
    return records


def _json_object(raw: bytes) -> dict[str, object] | None:
    """``raw`` as a JSON object, or None when it is not one (not UTF-8, not JSON, not an object)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None
