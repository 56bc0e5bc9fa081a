"""A simulated fleet of phones whose readings look like the sample's (distributions learnt from it)."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pipelines.producer.records import SCHEMA_VERSION, Record, encode

STATUS_NAMES = {
    0: "STATE_IN_SERVICE",
    1: "STATE_OUT_OF_SERVICE",
    2: "STATE_EMERGENCY_ONLY",
    3: "STATE_POWER_OFF",
}
# How often a healthy phone reports each status (Android ServiceState); the sample only has 0.
_HEALTHY_STATUS_WEIGHTS = (0.97, 0.015, 0.005, 0.01)
_OUTAGE_STATUS_WEIGHTS = (0.1, 0.6, 0.3, 0.0)


@dataclass(frozen=True)
class Outage:
    """Phones in ``postal_code`` mostly lose service from ``start_s`` for ``duration_s`` seconds."""

    postal_code: str
    start_s: float
    duration_s: float

    @classmethod
    def parse(cls, text: str) -> Outage:
        """``POSTAL_CODE:START_S:DURATION_S``, e.g. ``08001:30:120``."""
        try:
            code, start, duration = text.rsplit(":", 2)
            return cls(code, float(start), float(duration))
        except ValueError as exc:
            raise ValueError(f"--outage wants POSTAL_CODE:START_S:DURATION_S, got {text!r}") from exc

    def active(self, elapsed_s: float) -> bool:
        return self.start_s <= elapsed_s < self.start_s + self.duration_s


@dataclass
class FleetModel:
    """What a fleet draws from: learnt from a sample CSV, or a small built-in default."""

    operator_networks: list[tuple[str, str]]
    postal_places: list[tuple[str, float, float]]
    signals: list[int]
    precisions: list[float]
    activities: list[str]
    providers: list[str] = field(default_factory=lambda: ["gps", "fused"])

    @classmethod
    def learn(cls, sample: Path | None) -> FleetModel:
        if sample is None or not sample.exists():
            return cls(
                operator_networks=[
                    ("Movistar", "movistar"),
                    ("Orange", "orange"),
                    ("vodafone ES", "vodafone"),
                ],
                postal_places=[("08001", 41.38, 2.17), ("28001", 40.42, -3.70), ("46001", 39.47, -0.37)],
                signals=list(range(0, 32)),
                precisions=[5.0, 10.0, 20.0, 50.0],
                activities=["STILL", "IN_VEHICLE", "ON_FOOT"],
            )
        with sample.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        places: dict[str, tuple[float, float]] = {}
        for row in rows:
            code = row["postal_code"].removesuffix(".0")
            if code and code not in places:
                places[code] = (float(row["lat"]), float(row["long"]))
        return cls(
            operator_networks=[(r["operator"], r["network"]) for r in rows if r["operator"]],
            postal_places=[(code, lat, lon) for code, (lat, lon) in places.items()],
            signals=[int(r["signal"]) for r in rows],
            precisions=[float(r["precission"]) for r in rows],
            activities=[r["activity"] for r in rows],
        )


@dataclass
class Device:
    device_id: str
    operator: str
    network: str
    postal_code: str
    lat: float
    lon: float


def make_fleet(model: FleetModel, *, devices: int, rng: random.Random) -> list[Device]:
    fleet = []
    for index in range(devices):
        operator, network = rng.choice(model.operator_networks)
        code, lat, lon = rng.choice(model.postal_places)
        fleet.append(Device(f"dev-{index:05d}", operator, network, code, lat, lon))
    return fleet


def simulate(
    model: FleetModel,
    *,
    rate: float,
    duration_s: float,
    devices: int,
    seed: int,
    start: datetime,
    outages: tuple[Outage, ...] = (),
) -> Iterator[Record]:
    """``rate * duration_s`` readings, event times spaced 1/rate apart from ``start``.

    Devices in an outage's postal code report out of service or emergency only while it lasts; every
    outage's postal code gets at least ``min(devices, 5)`` residents so the outage is observable.
    """
    rng = random.Random(seed)
    fleet = make_fleet(model, devices=devices, rng=rng)
    for outage in outages:
        place = next((p for p in model.postal_places if p[0] == outage.postal_code), None)
        lat, lon = (place[1], place[2]) if place else (fleet[0].lat, fleet[0].lon)
        for device in fleet[: min(devices, 5)]:
            device.postal_code, device.lat, device.lon = outage.postal_code, lat, lon
    total = int(rate * duration_s)
    for index in range(total):
        elapsed = index / rate
        device = fleet[index % len(fleet)] if index < len(fleet) else rng.choice(fleet)
        device.lat += rng.gauss(0, 0.0005)
        device.lon += rng.gauss(0, 0.0005)
        in_outage = any(o.active(elapsed) and o.postal_code == device.postal_code for o in outages)
        weights = _OUTAGE_STATUS_WEIGHTS if in_outage else _HEALTHY_STATUS_WEIGHTS
        status = rng.choices(range(4), weights=weights)[0]
        event_time = start + timedelta(seconds=elapsed)
        payload = {
            "schema_version": SCHEMA_VERSION,
            "event_id": f"sim-{seed}-{start:%Y%m%dT%H%M%S}-{index:09d}",
            "event_time": event_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "device_id": device.device_id,
            "lat": round(device.lat, 5),
            "long": round(device.lon, 5),
            "signal": rng.choice(model.signals) if status == 0 else 0,
            "network": device.network,
            "operator": device.operator,
            "status": status,
            "description": STATUS_NAMES[status],
            "speed": round(abs(rng.gauss(0, 8)), 1),
            "satellites": rng.randint(3, 14),
            "precission": rng.choice(model.precisions),
            "provider": rng.choice(model.providers),
            "activity": rng.choice(model.activities),
            "postal_code": device.postal_code,
        }
        yield Record(partition_key=device.device_id, data=encode(payload))
