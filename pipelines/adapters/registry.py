"""The one place that maps ``Settings.runtime`` to adapters; jobs and transforms never choose."""

from __future__ import annotations

from pipelines.adapters.kinesis import BotoKinesisSink, BotoKinesisSource, kinesis_client
from pipelines.ports import QueryEngine, StreamSink, StreamSource
from pipelines.settings import Runtime, Settings


def stream_source(settings: Settings) -> StreamSource:
    """kinesalite locally, Amazon Kinesis on AWS: the same boto3 reader, another endpoint."""
    return BotoKinesisSource(kinesis_client(settings, raw_timestamps=True), settings.stream_name)


def stream_sink(settings: Settings) -> StreamSink:
    return BotoKinesisSink(kinesis_client(settings), settings.stream_name)


def query_engine(settings: Settings) -> QueryEngine:
    """DuckDB over the local tables (Iceberg or Delta, per ``settings.table_format``), Athena on AWS."""
    if settings.runtime is Runtime.AWS:
        from pipelines.adapters.athena import AthenaQueryEngine

        return AthenaQueryEngine(settings)
    from pipelines.adapters.duckdb_engine import DuckDBQueryEngine

    return DuckDBQueryEngine(settings)
