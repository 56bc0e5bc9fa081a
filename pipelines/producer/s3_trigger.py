"""Lambda: a CSV dropped in the uploads bucket -> contract-v1 records on the stream (the CSV producer).

Each ``ObjectCreated`` record of the S3 event is downloaded to ``/tmp``, read row by row with
``read_csv_records`` and sent in PutRecords-sized batches through ``BotoKinesisSink``, so memory stays
bounded whatever the file's size. Replay dates are anchored on the event's own time: when Lambda retries an
invocation, every row gets the same ``event_id`` again and silver drops the duplicates.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.errors import TelcoPulseError
from pipelines.producer.records import read_csv_records
from pipelines.producer.send import SendSummary, send
from pipelines.settings import Runtime, Settings

log = logging.getLogger(__name__)


class RecordsNotSentError(TelcoPulseError):
    """Records of an uploaded file were not put on the stream; the invocation fails so that Lambda retries."""


@cache
def _settings() -> Settings:
    return Settings(runtime=Runtime.AWS)


@cache
def _s3() -> Any:
    return boto3.client("s3", region_name=_settings().region)


def object_created(record: Mapping[str, Any]) -> tuple[str, str, datetime]:
    """Bucket, key and event time of one S3 event record (keys arrive URL-encoded, spaces as ``+``)."""
    event_time = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).astimezone(UTC)
    return record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]), event_time


def send_object(s3: Any, sink: BotoKinesisSink, *, bucket: str, key: str, now: datetime) -> SendSummary:
    """Download ``s3://bucket/key`` to a temporary directory and put its rows on the stream."""
    with tempfile.TemporaryDirectory(prefix="telcopulse-upload-") as directory:
        path = Path(directory) / Path(key).name
        s3.download_file(bucket, key, str(path))
        return send(read_csv_records(path, on_date=None, now=now), sink)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Send every CSV named by an S3 ``ObjectCreated`` event; returns per-object counts.

    Raises:
        RecordsNotSentError: a record failed after the sink's retries (the whole file is sent again on
            Lambda's retry; event ids repeat, so silver keeps one copy).
    """
    settings = _settings()
    sink = BotoKinesisSink(kinesis_client(settings), settings.stream_name)
    results: dict[str, Any] = {}
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        bucket, key, event_time = object_created(record)
        summary = send_object(_s3(), sink, bucket=bucket, key=key, now=event_time)
        log.info("s3://%s/%s -> %s: %s", bucket, key, settings.stream_name, summary.line())
        results[f"s3://{bucket}/{key}"] = summary.as_dict()
        if summary.failed:
            raise RecordsNotSentError(f"s3://{bucket}/{key}: {summary.failed} records not sent ({summary.line()})")
    return results
