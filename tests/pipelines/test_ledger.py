"""The exactly-once ledger's side-by-side writes on a real Spark session and Iceberg catalog."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from pipelines import ledger
from pipelines.adapters.iceberg import pyiceberg_catalog
from pipelines.settings import Settings


@pytest.fixture
def three_tables(spark: SparkSession, settings: Settings) -> list[str]:
    namespace = f"{settings.catalog_name}.test_ledger"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {namespace}")
    tables = [f"{namespace}.t{i}" for i in range(3)]
    for table in tables:
        spark.sql(f"DROP TABLE IF EXISTS {table} PURGE")
        spark.sql(f"CREATE TABLE {table} (k int, n bigint) USING iceberg TBLPROPERTIES ('format-version'='2')")
    return tables


def _merge(spark: SparkSession, table: str, stamp: ledger.Stamp, value: int) -> bool:
    return ledger.run_once(
        spark,
        table,
        stamp,
        f"MERGE INTO {table} t USING (SELECT 1 AS k, {value} AS n) s ON t.k = s.k "
        "WHEN MATCHED THEN UPDATE SET n = t.n + s.n WHEN NOT MATCHED THEN INSERT *",
    )


def test_side_by_side_merges_each_carry_their_own_stamp(spark: SparkSession, three_tables: list[str]) -> None:
    stamps = [ledger.Stamp(f"writer-{i}", f"query-{i}", 7) for i in range(3)]
    writes = [
        lambda table=table, stamp=stamp, i=i: _merge(spark, table, stamp, 10 + i)
        for i, (table, stamp) in enumerate(zip(three_tables, stamps, strict=True))
    ]

    ledger.write_all(writes, tables=three_tables)
    ledger.write_all(writes, tables=three_tables)  # a replay of the batch: every table refuses it

    for i, (table, stamp) in enumerate(zip(three_tables, stamps, strict=True)):
        assert spark.table(table).collect() == [(1, 10 + i)]
        summary = ledger.committed_summary(spark, table, stamp)
        assert summary is not None and summary[ledger.WRITER] == f"writer-{i}"
        assert summary[ledger.QUERY_ID] == f"query-{i}"


def test_a_failed_write_is_raised_after_the_others_committed(spark: SparkSession, three_tables: list[str]) -> None:
    stamp = ledger.Stamp("writer", "query", 0)

    def fail() -> None:
        raise ValueError("no such column")

    with pytest.raises(ValueError, match="no such column"):
        ledger.write_all(
            [lambda: _merge(spark, three_tables[0], stamp, 1), fail, lambda: _merge(spark, three_tables[2], stamp, 3)],
            tables=three_tables,
        )

    assert spark.table(three_tables[0]).count() == spark.table(three_tables[2]).count() == 1
    assert spark.table(three_tables[1]).count() == 0


def test_a_committed_summary_is_the_whole_snapshot_summary(
    spark: SparkSession, settings: Settings, three_tables: list[str]
) -> None:
    """Read in one round trip through Iceberg's JSON mapper: every key and value as pyiceberg reads them."""
    table = three_tables[0]
    stamp = ledger.Stamp("writer", "query", 3, {"telcopulse.source-range": 'a "quoted" -> range'})
    assert _merge(spark, table, stamp, 5)

    summary = ledger.committed_summary(spark, table, stamp)
    newest = pyiceberg_catalog(settings).load_table(table.split(".", 1)[1]).current_snapshot()

    assert newest is not None and summary is not None
    assert summary == dict(newest.summary.additional_properties)  # the operation is not part of the map
    assert len(summary) > 10  # Iceberg's own totals as well as the stamp
    assert summary["telcopulse.source-range"] == 'a "quoted" -> range'
    assert summary[ledger.BATCH_ID] == "3"
