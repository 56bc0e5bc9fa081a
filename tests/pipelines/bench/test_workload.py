from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from pipelines.bench.procs import TreeSampler, process_tree
from pipelines.bench.workload import PROBE_PREFIX, reading_pool, readings


def test_readings_are_contract_records_with_fresh_ids_times_and_probes() -> None:
    pool = reading_pool(size=50, devices=10)
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    made = list(readings(pool, count=6, start=start, rate=2.0, prefix="t", probe_every=3))

    payloads = [json.loads(record.data) for record, _ in made]
    assert [p["event_id"] for p in payloads] == [f"t-{i:010d}" for i in range(6)]
    assert payloads[1]["event_time"] == "2026-11-23T10:00:00.500Z"
    assert {p["schema_version"] for p in payloads} == {1}
    assert [probe for _, probe in made] == [
        f"{PROBE_PREFIX}t-0000000000",
        None,
        None,
        f"{PROBE_PREFIX}t-0000000003",
        None,
        None,
    ]
    assert payloads[3]["operator"] == f"{PROBE_PREFIX}t-0000000003"
    assert all(record.partition_key == p["device_id"] for (record, _), p in zip(made, payloads, strict=True))


def test_tree_sampler_sees_this_process() -> None:
    assert process_tree(os.getpid())[0] == os.getpid()
    sampler = TreeSampler(os.getpid())

    sampler.sample()

    assert sampler.usage.cpu_s > 0
    assert sampler.usage.peak_rss_bytes > 0
