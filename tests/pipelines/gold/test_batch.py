"""One gold batch at a time on the session's catalog: outages commit only when they change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession

from pipelines import ledger
from pipelines.gold.batch import SILVER_COLUMNS, WRITER, GoldBatch
from pipelines.settings import Settings
from tests.helpers import read_table

SILVER = "telcopulse_silver.network_events"
OUTAGES = "telcopulse_gold.postal_outages"
CODE = "10115"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def readings(
    spark: SparkSession, settings: Settings, window: int, *, status: int, code: str = CODE, devices: int = 3
) -> DataFrame:
    """Two readings from each of ``devices`` devices in postal code ``code``, ``window`` minutes after ``T0``."""
    at = T0 + timedelta(minutes=window, seconds=10)
    names = {1: "out of service", 0: "in service"}
    rows = [
        (at + timedelta(seconds=n), at, "Orange", -90, 5.0, code, status, names[status], f"device-{n % devices}")
        for n in range(2 * devices)
    ]
    schema = spark.table(settings.table(SILVER)).select(*SILVER_COLUMNS).schema
    return spark.createDataFrame(rows, schema)


def outage_committed(spark: SparkSession, settings: Settings, query_id: str, batch_id: int) -> bool:
    stamp = ledger.Stamp(WRITER, query_id, batch_id)
    return ledger.committed_summary(spark, settings.table(OUTAGES), stamp) is not None


def test_outage_commits_when_it_opens_and_closes_and_not_in_between(
    spark: SparkSession, empty_tables: Settings
) -> None:
    settings = empty_tables
    query_id = str(uuid.uuid4())
    gold = GoldBatch.from_settings(settings, query_id=query_id)

    gold.process(readings(spark, settings, 0, status=0, code="20095"), 0)  # no outage anywhere
    gold.process(readings(spark, settings, 0, status=1), 1)  # a bad window: the outage opens
    gold.process(readings(spark, settings, 1, status=0), 2)  # one healthy window: still open, unchanged
    opened = read_table(settings, OUTAGES).to_pylist()
    gold.process(readings(spark, settings, 2, status=0), 3)  # the second healthy window closes it

    assert [outage_committed(spark, settings, query_id, n) for n in range(4)] == [False, True, False, True]
    assert [(o["postal_code"], o["outage_start"], o["outage_end"], o["readings"]) for o in opened] == [
        (CODE, T0, None, 6)
    ]
    closed = read_table(settings, OUTAGES).to_pylist()
    assert [(o["outage_start"], o["outage_end"], o["devices_affected"]) for o in closed] == [
        (T0, T0 + timedelta(minutes=1), 3)
    ]


def test_gold_tables_merge_their_manifests_every_few_commits(spark: SparkSession, empty_tables: Settings) -> None:
    settings = empty_tables
    gold = GoldBatch.from_settings(settings, query_id=str(uuid.uuid4()))
    kpis = settings.table("telcopulse_gold.operator_kpis")

    for batch_id in range(12):  # each a MERGE that updates the window before and adds one: a data and a delete file
        both = readings(spark, settings, batch_id, status=0).union(readings(spark, settings, batch_id + 1, status=0))
        gold.process(both, batch_id)

    files = {row[0]: row[1] for row in spark.sql(f"SELECT content, count(*) FROM {kpis}.files GROUP BY 1").collect()}
    manifests = spark.sql(f"SELECT count(*) FROM {kpis}.manifests").first()
    assert files[0] == 12 and files[1] == 11  # a manifest each without merging: 23
    assert manifests is not None and manifests[0] <= 2 * 8  # data and delete manifests, each merged at 8
