"""BotoKinesisSource on a real kinesalite: the raw-timestamp client reads exactly what boto3's default reads."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow as pa

from pipelines.adapters.kinesis import BotoKinesisSink, BotoKinesisSource, _arrival_times, kinesis_client
from pipelines.settings import Settings


def _read_all(settings: Settings, *, raw_timestamps: bool, expected: int) -> pa.Table:
    source = BotoKinesisSource(kinesis_client(settings, raw_timestamps=raw_timestamps), settings.stream_name)
    positions: dict[str, str] = {}
    tables = []
    for _ in range(20):
        batch = source.read(positions, max_records=40)
        tables.append(batch.records)
        positions = batch.positions
        if sum(t.num_rows for t in tables) >= expected:
            break
    source.close()
    return pa.concat_tables(tables).sort_by([("shard_id", "ascending"), ("sequence_number", "ascending")])


def test_raw_timestamps_read_the_same_batches_as_parsed_ones(kinesalite: Settings) -> None:
    records = [(f"device-{i % 7}", b'{"n": %d}' % i) for i in range(150)]
    assert BotoKinesisSink(kinesis_client(kinesalite), kinesalite.stream_name).put(records).sent == 150

    raw = _read_all(kinesalite, raw_timestamps=True, expected=150)
    parsed = _read_all(kinesalite, raw_timestamps=False, expected=150)

    assert raw.num_rows == 150
    assert raw.equals(parsed)
    assert raw.column("arrival_time").null_count == 0


def test_arrival_times_from_epoch_seconds_and_from_datetimes_agree() -> None:
    moment = datetime(2026, 11, 24, 7, 5, 30, 525000, tzinfo=UTC)
    from_epoch = _arrival_times([moment.timestamp(), None])
    from_datetimes = pa.array(_arrival_times([moment, None]), from_epoch.type)

    assert from_epoch.to_pylist() == [moment, None]
    assert from_epoch.equals(from_datetimes)


def test_a_backlog_left_on_one_shard_fills_the_batch(kinesalite: Settings) -> None:
    """Each shard gets an equal share first; what a caught-up shard leaves goes to the one still behind."""
    client = kinesis_client(kinesalite)
    shards = client.list_shards(StreamName=kinesalite.stream_name)["Shards"]
    assert len(shards) == 2
    low_end = int(shards[0]["HashKeyRange"]["EndingHashKey"])
    low_keys = (key for key in (f"device-{i}" for i in range(1000)) if _hash_key(key) <= low_end)
    high_keys = (key for key in (f"device-{i}" for i in range(1000)) if _hash_key(key) > low_end)
    first_low, first_high = next(low_keys), next(high_keys)
    records = [(first_low, b'{"n": %d}' % i) for i in range(40)] + [(first_high, b'{"n": %d}' % i) for i in range(5)]
    assert BotoKinesisSink(client, kinesalite.stream_name).put(records).sent == 45
    source = BotoKinesisSource(kinesis_client(kinesalite, raw_timestamps=True), kinesalite.stream_name)

    first = source.read({}, max_records=30)
    second = source.read(first.positions, max_records=30)
    source.close()

    assert first.size == 30  # 25 from the low shard, then 5 more for the high shard's unused share
    assert sorted(first.records.column("shard_id").value_counts().to_pylist(), key=lambda c: c["counts"]) == [
        {"values": shards[1]["ShardId"], "counts": 5},
        {"values": shards[0]["ShardId"], "counts": 25},
    ]
    assert second.size == 15


def _hash_key(partition_key: str) -> int:
    return int(hashlib.md5(partition_key.encode()).hexdigest(), 16)  # noqa: S324 - Kinesis's own mapping
