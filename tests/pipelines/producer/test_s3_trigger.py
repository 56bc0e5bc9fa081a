"""The CSV ingest Lambda against moto's S3 and Kinesis, driven by the event S3 actually sends."""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipelines.adapters.kinesis import BotoKinesisSink
from pipelines.producer import s3_trigger
from tests.conftest import SAMPLE_CSV

REGION = "eu-west-1"
BUCKET = "telcopulse-test-uploads"
STREAM = "telcopulse-test-events"
KEY = "uploads/day 1/mobile-logs.csv"
EVENT_TIME = "2026-11-23T12:00:00.000Z"


def s3_event(key: str = KEY, *, name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """An S3 event notification as S3 delivers it to Lambda (event version 2.1; keys URL-encoded)."""
    encoded = key.replace(" ", "+")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": EVENT_TIME,
                "eventName": name,
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "192.0.2.10"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "telcopulse-csv-ingest",
                    "bucket": {
                        "name": BUCKET,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{BUCKET}",
                    },
                    "object": {
                        "key": encoded,
                        "size": 1024,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 and Kinesis with the uploads bucket and a two-shard stream; the Lambda's environment set."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "TELCOPULSE_RUNTIME": "aws",
        "TELCOPULSE_STREAM_NAME": STREAM,
        "TELCOPULSE_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TELCOPULSE_KINESIS_ENDPOINT", raising=False)
    s3_trigger._settings.cache_clear()
    s3_trigger._s3.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        yield s3
    s3_trigger._settings.cache_clear()
    s3_trigger._s3.cache_clear()


def stream_records() -> list[dict[str, Any]]:
    """Every record on the stream, decoded, with its partition key."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    found = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            found += [{"key": r["PartitionKey"], **json.loads(r["Data"])} for r in response["Records"]]
            iterator = response.get("NextShardIterator") if response["Records"] else None
    return found


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_handler_puts_every_row_of_the_uploaded_csv_on_the_stream(aws: Any) -> None:
    aws.upload_file(str(SAMPLE_CSV), BUCKET, KEY)

    result = s3_trigger.handler(s3_event(), context=None)

    rows = csv_rows(SAMPLE_CSV)
    assert result[f"s3://{BUCKET}/{KEY}"]["sent"] == len(rows)
    records = stream_records()
    assert len(records) == len(rows)
    assert len({r["event_id"] for r in records}) == len(rows)
    assert all(r["key"] == r["event_id"] and r["schema_version"] == 1 for r in records)
    first = next(r for r in records if r["event_id"].endswith("-0000001"))
    assert first["event_time"] == f"2026-11-23T{rows[0]['hour']}Z"  # replayed on the upload's day
    assert first["operator"] == rows[0]["operator"]


def test_handler_sends_the_same_event_ids_when_lambda_retries(aws: Any) -> None:
    aws.upload_file(str(SAMPLE_CSV), BUCKET, KEY)

    s3_trigger.handler(s3_event(), context=None)
    s3_trigger.handler(s3_event(), context=None)

    ids = [r["event_id"] for r in stream_records()]
    assert len(ids) == 2 * len(set(ids))


def test_handler_ignores_events_other_than_object_created(aws: Any) -> None:
    assert s3_trigger.handler(s3_event(name="ObjectRemoved:Delete"), context=None) == {}
    assert stream_records() == []


def test_handler_fails_the_invocation_when_records_are_not_sent(
    aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    small = tmp_path / "small.csv"
    small.write_text("\n".join(SAMPLE_CSV.read_text().splitlines()[:4]) + "\n")
    aws.upload_file(str(small), BUCKET, "small.csv")
    boto3.client("kinesis", region_name=REGION).delete_stream(StreamName=STREAM)
    monkeypatch.setattr(
        s3_trigger, "BotoKinesisSink", functools.partial(BotoKinesisSink, max_attempts=1, base_delay_s=0.0)
    )

    with pytest.raises(s3_trigger.RecordsNotSentError, match="3 records not sent"):
        s3_trigger.handler(s3_event("small.csv"), context=None)
