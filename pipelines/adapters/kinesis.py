"""Kinesis through boto3: kinesalite locally, Amazon Kinesis on AWS (only the endpoint differs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pyarrow as pa
import pyarrow.compute as pc
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp

from pipelines.ports import PutReport, StreamBatch
from pipelines.settings import Runtime, Settings

log = logging.getLogger(__name__)

MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
MAX_GET_RECORDS = 10_000
RECORD_COLUMNS = pa.schema(
    [
        ("data", pa.binary()),
        ("stream_name", pa.string()),
        ("shard_id", pa.string()),
        ("sequence_number", pa.string()),
        ("partition_key", pa.string()),
        ("arrival_time", pa.timestamp("us", tz="UTC")),
    ]
)


def kinesis_client(settings: Settings, *, raw_timestamps: bool = False) -> Any:
    """A boto3 Kinesis client; locally with dummy credentials, since kinesalite checks none.

    ``raw_timestamps``: response timestamps stay as the service sent them (epoch seconds) rather than
    becoming timezone-aware ``datetime`` objects, which cost a reader more CPU than the rest of a record's
    parsing; ``BotoKinesisSource`` turns a whole page of them into Arrow timestamps at once.
    """
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    session = boto3.session.Session(botocore_session=_botocore_session(raw_timestamps=raw_timestamps))
    if settings.runtime is Runtime.LOCAL:
        return session.client(
            "kinesis",
            endpoint_url=settings.kinesis_url,
            region_name=settings.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - kinesalite ignores credentials
            config=config,
        )
    return session.client("kinesis", region_name=settings.region, endpoint_url=settings.kinesis_url, config=config)


def _botocore_session(*, raw_timestamps: bool) -> botocore.session.Session:
    session = botocore.session.get_session()
    if raw_timestamps:
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_epoch_or_parsed)
    return session


def _epoch_or_parsed(value: Any) -> Any:
    """Epoch seconds as a float; any other form of timestamp parsed as botocore would."""
    if isinstance(value, int | float):
        return float(value)
    return parse_timestamp(value)


def chunk_for_put(records: Sequence[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """Split into PutRecords calls of at most 500 entries and 5 MiB (key and data both count)."""
    chunks: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, data in records:
        entry_size = len(key.encode()) + len(data)
        if current and (len(current) == MAX_PUT_RECORDS or size + entry_size > MAX_PUT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((key, data))
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


class BotoKinesisSink:
    """PutRecords in batches; only the entries that failed are retried, with exponential backoff."""

    def __init__(self, client: Any, stream_name: str, *, max_attempts: int = 8, base_delay_s: float = 0.05):
        self._client = client
        self._stream = stream_name
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s

    def put(self, records: Sequence[tuple[str, bytes]]) -> PutReport:
        report = PutReport()
        for chunk in chunk_for_put(records):
            report.add(self._put_chunk(chunk))
        return report

    def _put_chunk(self, chunk: list[tuple[str, bytes]]) -> PutReport:
        report = PutReport()
        pending = chunk
        for attempt in range(self._max_attempts):
            if attempt:
                report.retried += len(pending)
                time.sleep(min(self._base_delay_s * 2**attempt, 5.0))
            try:
                response = self._client.put_records(
                    StreamName=self._stream,
                    Records=[{"PartitionKey": key, "Data": data} for key, data in pending],
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning(
                    "put_records failed for %d records (attempt %d): %s", len(pending), attempt + 1, exc
                )
                continue
            failed = [
                entry
                for entry, result in zip(pending, response["Records"], strict=True)
                if "ErrorCode" in result
            ]
            report.sent += len(pending) - len(failed)
            pending = failed
            if not pending:
                return report
        report.failed += len(pending)
        return report


class BotoKinesisSource:
    """Reads every shard with GetRecords from explicit positions (the sink's commit keeps them).

    Closed shards (after a reshard) are read to their end; new shards are picked up on the next
    shard listing. A restarted or unreachable server costs a retry, never a record.
    """

    def __init__(self, client: Any, stream_name: str, *, relist_every_s: float = 10.0):
        self._client = client
        self._stream = stream_name
        self._relist_every_s = relist_every_s
        self._iterators: dict[str, str] = {}
        # Where each cached iterator stands; a caller asking from elsewhere (its commit failed) rewinds.
        self._served: dict[str, str | None] = {}
        self._exhausted: set[str] = set()
        self._shards: list[str] = []
        self._listed_at = 0.0

    def _shard_ids(self) -> list[str]:
        if not self._shards or time.monotonic() - self._listed_at > self._relist_every_s:
            response = self._client.list_shards(StreamName=self._stream)
            self._shards = sorted(shard["ShardId"] for shard in response["Shards"])
            self._listed_at = time.monotonic()
        return self._shards

    def _iterator(self, shard_id: str, position: str | None) -> str:
        if shard_id not in self._iterators:
            kwargs: dict[str, Any] = {"StreamName": self._stream, "ShardId": shard_id}
            if position:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=position)
            else:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            self._iterators[shard_id] = self._client.get_shard_iterator(**kwargs)["ShardIterator"]
        return self._iterators[shard_id]

    def read(self, positions: Mapping[str, str], *, max_records: int) -> StreamBatch:
        columns: dict[str, list[Any]] = {name: [] for name in RECORD_COLUMNS.names}
        new_positions = dict(positions)
        try:
            shard_ids = self._shard_ids()
            for shard_id in shard_ids:
                if self._served.get(shard_id) != positions.get(shard_id):
                    self._iterators.pop(shard_id, None)
                    self._exhausted.discard(shard_id)
            open_shards = [shard_id for shard_id in shard_ids if shard_id not in self._exhausted]
            # Each open shard gets an equal share of the batch, so that a backlog on one shard cannot
            # starve the others now that a shard is read on while its pages come back full. What a
            # caught-up shard leaves of its share goes to the shards that still had more, so that a
            # backlog left on one shard fills the batch rather than trickling in once per trigger.
            share = -(-max_records // max(1, len(open_shards)))
            for shares in (share, max_records):
                behind = []
                for shard_id in open_shards:
                    budget = min(shares, max_records - len(columns["data"]))
                    if budget > 0 and self._read_shard(shard_id, new_positions, columns, budget):
                        behind.append(shard_id)
                open_shards = behind
        except (BotoCoreError, ClientError) as exc:
            # The server went away or an iterator expired: forget iterators, resume from positions.
            log.warning("kinesis read failed, will resume from committed positions: %s", exc)
            self._iterators.clear()
            self._served.clear()
            self._shards = []
            return StreamBatch(
                pa.Table.from_pydict({n: [] for n in RECORD_COLUMNS.names}, RECORD_COLUMNS), dict(positions)
            )
        columns["arrival_time"] = _arrival_times(columns["arrival_time"])
        return StreamBatch(pa.Table.from_pydict(columns, RECORD_COLUMNS), new_positions)

    def _read_shard(
        self, shard_id: str, positions: dict[str, str], columns: dict[str, list[Any]], budget: int
    ) -> bool:
        """Read ``shard_id`` into ``columns``, up to ``budget`` records; whether it may have more."""
        while budget > 0:
            limit = min(budget, MAX_GET_RECORDS)
            response = self._client.get_records(
                ShardIterator=self._iterator(shard_id, positions.get(shard_id)), Limit=limit
            )
            records = response["Records"]
            next_iterator = response.get("NextShardIterator")
            if next_iterator:
                self._iterators[shard_id] = next_iterator
            else:
                self._iterators.pop(shard_id, None)
                self._exhausted.add(shard_id)
            for record in records:
                columns["data"].append(record["Data"])
                columns["stream_name"].append(self._stream)
                columns["shard_id"].append(shard_id)
                columns["sequence_number"].append(record["SequenceNumber"])
                columns["partition_key"].append(record.get("PartitionKey"))
                columns["arrival_time"].append(record.get("ApproximateArrivalTimestamp"))
            if records:
                positions[shard_id] = records[-1]["SequenceNumber"]
            self._served[shard_id] = positions.get(shard_id)
            budget -= len(records)
            # Caught up: an empty or short page at the tip. A full page may have more behind it even at
            # MillisBehindLatest 0 (kinesalite always reports 0), so the shard is read on up to its budget.
            caught_up = response.get("MillisBehindLatest", 1) == 0 and len(records) < limit
            if not records or not next_iterator or caught_up:
                return False
        return True

    def close(self) -> None:
        self._iterators.clear()


def _arrival_times(values: list[Any]) -> pa.Array | list[datetime | None]:
    """Arrival times as UTC: epoch seconds (a raw-timestamp client) converted at once, else each ``datetime``."""
    if all(value is None or isinstance(value, float) for value in values):
        micros = pc.round(pc.multiply(pa.array(values, pa.float64()), 1_000_000.0))
        return micros.cast(pa.int64()).cast(RECORD_COLUMNS.field("arrival_time").type)
    return [_as_utc(value) for value in values]


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
