"""Every Iceberg table of TelcoPulse: schema, partitioning, sort order and properties.

Glue databases are Iceberg namespaces (``telcopulse_bronze``, ``telcopulse_silver``, ``telcopulse_gold``).
The same definitions create the tables in the local JDBC catalog and in the Glue Data Catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BRONZE = "telcopulse_bronze"
SILVER = "telcopulse_silver"
GOLD = "telcopulse_gold"
NAMESPACES = (BRONZE, SILVER, GOLD)

# Small files and long metadata chains are what hurt a streaming table (see FACTS): merge manifests on
# commit and keep a bounded metadata history. Format v2 is what every reader here (DuckDB, Athena) handles.
_COMMON_PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "commit.manifest-merge.enabled": "true",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}
# Tables that gold merges into: merge-on-read keeps a MERGE's cost proportional to the batch.
_MERGE_ON_READ = {
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
    "write.merge.isolation-level": "serializable",
}
# Gold's tables take a MERGE every batch. Each commit adds a data and a delete manifest, and every MERGE and
# query reads them all; by default Iceberg merges them once 100 have gathered. 150 MERGEs of 20 rows into each
# of two such tables, in turn: per 50 MERGEs a median of 0.52-0.54 s with merging at 8, 0.56, 0.78 and 0.72 s
# at the default; DuckDB's first query after the last commit 0.10 s against 0.13 s.
_GOLD_MERGED = {**_MERGE_ON_READ, "commit.manifest.min-count-to-merge": "8"}


@dataclass(frozen=True)
class TableDef:
    """One table: ``columns`` is Spark DDL, one ``name type`` per entry."""

    namespace: str
    name: str
    columns: tuple[str, ...]
    partitioned_by: tuple[str, ...] = ()
    sorted_by: tuple[str, ...] = ()
    comment: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def ddl_columns(self) -> str:
        return ", ".join(self.columns)

    @property
    def all_properties(self) -> dict[str, str]:
        return {**_COMMON_PROPERTIES, **self.properties}


BRONZE_EVENTS = TableDef(
    BRONZE,
    "network_events",
    columns=(
        "data BINARY NOT NULL",
        "stream_name STRING NOT NULL",
        "shard_id STRING NOT NULL",
        "sequence_number STRING NOT NULL",
        "partition_key STRING",
        "arrival_time TIMESTAMP",
        "ingest_time TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(ingest_time)",),
    comment="Raw Kinesis records, byte for byte; nothing parsed or dropped",
)

SILVER_EVENTS = TableDef(
    SILVER,
    "network_events",
    columns=(
        "event_id STRING NOT NULL",
        "schema_version INT NOT NULL",
        "event_time TIMESTAMP NOT NULL",
        "device_id STRING",
        "lat DOUBLE NOT NULL",
        "lon DOUBLE NOT NULL",
        "signal INT NOT NULL",
        "network STRING",
        "operator STRING",
        "operator_raw STRING",
        "status INT NOT NULL",
        "status_name STRING NOT NULL",
        "speed DOUBLE",
        "satellites INT",
        "gps_precision_m DOUBLE",
        "location_provider STRING",
        "activity STRING",
        "postal_code STRING",
        "extra_fields ARRAY<STRING>",
        "shard_id STRING NOT NULL",
        "sequence_number STRING NOT NULL",
        "arrival_time TIMESTAMP",
        "ingest_time TIMESTAMP NOT NULL",
        "processed_time TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(event_time)",),
    sorted_by=("event_time",),
    comment="Typed, normalized, deduplicated readings that passed the silver suite",
)

QUARANTINE = TableDef(
    SILVER,
    "quarantine",
    columns=(
        "data BINARY NOT NULL",
        "shard_id STRING NOT NULL",
        "sequence_number STRING NOT NULL",
        "arrival_time TIMESTAMP",
        "ingest_time TIMESTAMP NOT NULL",
        "reasons ARRAY<STRING> NOT NULL",
        "suite_version STRING NOT NULL",
        "quarantined_at TIMESTAMP NOT NULL",
        "replayed_at TIMESTAMP",
    ),
    partitioned_by=("days(quarantined_at)",),
    comment="Records that failed decoding or a critical expectation, with reasons `column:rule`",
    properties=_MERGE_ON_READ,
)

DQ_RESULTS = TableDef(
    SILVER,
    "dq_results",
    columns=(
        "query_id STRING NOT NULL",
        "batch_id BIGINT NOT NULL",
        "validated_at TIMESTAMP NOT NULL",
        "suite_name STRING NOT NULL",
        "suite_version STRING NOT NULL",
        "rows_in BIGINT NOT NULL",
        "rows_valid BIGINT NOT NULL",
        "rows_quarantined BIGINT NOT NULL",
        "rows_duplicate BIGINT NOT NULL",
        "rows_with_extra_fields BIGINT NOT NULL",
        "success BOOLEAN NOT NULL",
        "expectations ARRAY<STRUCT<expectation: STRING, severity: STRING, success: BOOLEAN, "
        "element_count: BIGINT, unexpected_count: BIGINT>>",
    ),
    partitioned_by=("days(validated_at)",),
    comment="One row per silver micro-batch: the suite's verdict and row counts",
)

OPERATOR_KPIS = TableDef(
    GOLD,
    "operator_kpis",
    columns=(
        "window_start TIMESTAMP NOT NULL",
        "window_end TIMESTAMP NOT NULL",
        "operator STRING NOT NULL",
        "signal_sum BIGINT NOT NULL",
        "signal_count BIGINT NOT NULL",
        "avg_signal DOUBLE",
        "precision_sum DECIMAL(38,6) NOT NULL",
        "precision_count BIGINT NOT NULL",
        "avg_gps_precision_m DOUBLE",
        "updated_at TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(window_start)",),
    sorted_by=("window_start", "operator"),
    comment="Per window and operator: sums and counts (exact), averages derived from them",
    properties=_GOLD_MERGED,
)

POSTAL_STATUS_COUNTS = TableDef(
    GOLD,
    "postal_status_counts",
    columns=(
        "window_start TIMESTAMP NOT NULL",
        "window_end TIMESTAMP NOT NULL",
        "postal_code STRING NOT NULL",
        "status INT NOT NULL",
        "status_name STRING NOT NULL",
        "event_count BIGINT NOT NULL",
        "updated_at TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(window_start)",),
    sorted_by=("window_start", "postal_code"),
    comment="Per window, postal code and network status: reading counts",
    properties=_GOLD_MERGED,
)

POSTAL_HEALTH = TableDef(
    GOLD,
    "postal_window_health",
    columns=(
        "window_start TIMESTAMP NOT NULL",
        "window_end TIMESTAMP NOT NULL",
        "postal_code STRING NOT NULL",
        "readings BIGINT NOT NULL",
        "bad_readings BIGINT NOT NULL",
        "device_ids ARRAY<STRING> NOT NULL",
        "updated_at TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(window_start)",),
    comment="Per window and postal code: readings, not-in-service readings and the set of devices "
    "(a set, not a count, so that merging late data stays exact); the input of outage detection",
    properties=_GOLD_MERGED,
)

POSTAL_OUTAGES = TableDef(
    GOLD,
    "postal_outages",
    columns=(
        "postal_code STRING NOT NULL",
        "outage_start TIMESTAMP NOT NULL",
        "outage_end TIMESTAMP",
        "readings BIGINT NOT NULL",
        "bad_readings BIGINT NOT NULL",
        "devices_affected BIGINT NOT NULL",
        "worst_bad_share DOUBLE NOT NULL",
        "updated_at TIMESTAMP NOT NULL",
    ),
    partitioned_by=("days(outage_start)",),
    comment="One row per detected outage; outage_end is NULL while it is ongoing",
    properties=_GOLD_MERGED,
)

ALL_TABLES = (
    BRONZE_EVENTS,
    SILVER_EVENTS,
    QUARANTINE,
    DQ_RESULTS,
    OPERATOR_KPIS,
    POSTAL_STATUS_COUNTS,
    POSTAL_HEALTH,
    POSTAL_OUTAGES,
)


def create_delta_table_sql(table: TableDef, name: str, location: str | None = None) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the Delta Lake variant: same columns, comment and NOT NULLs.

    Unpartitioned: Delta partitions by column values only (Iceberg's ``days(ts)`` would need a generated
    column that every reader then sees); ``telcopulse maintain`` runs OPTIMIZE ZORDER BY the sort columns
    instead. ``name`` is the Spark name (``delta.`<path>` `` or a catalog name with ``location``).
    """
    parts = [f"CREATE TABLE IF NOT EXISTS {name} ({table.ddl_columns}) USING delta"]
    if location:
        parts.append(f"LOCATION '{location}'")
    if table.comment:
        parts.append("COMMENT '" + table.comment.replace("'", "\\'") + "'")
    return " ".join(parts)


def create_table_sql(table: TableDef, catalog: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for Spark with Iceberg's SQL extensions."""
    parts = [f"CREATE TABLE IF NOT EXISTS {catalog}.{table.identifier} ({table.ddl_columns}) USING iceberg"]
    if table.partitioned_by:
        parts.append(f"PARTITIONED BY ({', '.join(table.partitioned_by)})")
    if table.comment:
        parts.append("COMMENT '" + table.comment.replace("'", "\\'") + "'")
    props = ", ".join(f"'{k}'='{v}'" for k, v in table.all_properties.items())
    parts.append(f"TBLPROPERTIES ({props})")
    return " ".join(parts)
