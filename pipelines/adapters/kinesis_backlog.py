"""How many records wait in a Kinesis stream after given positions: GetRecords, counted up to a cap."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.adapters.kinesis import MAX_GET_RECORDS, kinesis_client
from pipelines.errors import StackNotRunningError
from pipelines.ops.history import Backlog
from pipelines.settings import Settings

MAX_CALLS_PER_SHARD = 100


class BotoKinesisBacklog:
    """Counts records after each shard's position (from the shard's start without one), stopping at ``cap``.

    Kinesis has no "count after" call: counting reads the records, at most ``cap`` of them, so a health
    check costs at most ``cap / 10,000`` GetRecords calls per shard.
    """

    def __init__(self, client: Any, stream_name: str) -> None:
        self._client = client
        self._stream = stream_name

    @classmethod
    def from_settings(cls, settings: Settings) -> BotoKinesisBacklog:
        return cls(kinesis_client(settings), settings.stream_name)

    def backlog(self, positions: Mapping[str, str], *, cap: int) -> Backlog:
        """Records after ``positions`` in every shard, and the arrival time of the oldest of them.

        Raises:
            StackNotRunningError: the stream cannot be listed or read.
        """
        counted, oldest, capped = 0, None, False
        try:
            shards = sorted(s["ShardId"] for s in self._client.list_shards(StreamName=self._stream)["Shards"])
            for shard_id in shards:
                if counted >= cap:
                    capped = True
                    break
                found, arrival, shard_capped = self._count_shard(shard_id, positions.get(shard_id), cap - counted)
                counted += found
                capped = capped or shard_capped
                if arrival is not None and (oldest is None or arrival < oldest):
                    oldest = arrival
        except (BotoCoreError, ClientError) as exc:
            raise StackNotRunningError(f"cannot read stream {self._stream}: {exc}") from exc
        return Backlog(records=counted, oldest_waiting_since=oldest, capped=capped)

    def _count_shard(self, shard_id: str, position: str | None, budget: int) -> tuple[int, datetime | None, bool]:
        kwargs: dict[str, Any] = {"StreamName": self._stream, "ShardId": shard_id}
        if position:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=position)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        iterator = self._client.get_shard_iterator(**kwargs)["ShardIterator"]
        counted, first_arrival = 0, None
        for _ in range(MAX_CALLS_PER_SHARD):
            if counted >= budget:
                return counted, first_arrival, True
            response = self._client.get_records(ShardIterator=iterator, Limit=min(MAX_GET_RECORDS, budget - counted))
            records = response["Records"]
            if records and first_arrival is None:
                arrival = records[0].get("ApproximateArrivalTimestamp")
                if arrival is not None:
                    first_arrival = arrival.astimezone(UTC) if arrival.tzinfo else arrival.replace(tzinfo=UTC)
            counted += len(records)
            iterator = response.get("NextShardIterator")
            if not iterator or (not records and response.get("MillisBehindLatest", 0) == 0):
                break
        return counted, first_arrival, False
