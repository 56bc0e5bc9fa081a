"""The one configuration object: environment (``TELCOPULSE_*``) plus CLI flags decide every adapter."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = PROJECT_ROOT.parent / "shared" / "data" / "mobile-logs.csv"


class Runtime(StrEnum):
    LOCAL = "local"
    AWS = "aws"


class TableFormat(StrEnum):
    """The open table format of every layer: one setting switches all three (``TELCOPULSE_TABLE_FORMAT``)."""

    ICEBERG = "iceberg"
    DELTA = "delta"


class Settings(BaseSettings):
    """Everything that differs between a laptop and AWS, and every tunable rule threshold."""

    model_config = SettingsConfigDict(env_prefix="TELCOPULSE_", frozen=True, extra="ignore")

    runtime: Runtime = Runtime.LOCAL
    home: Path = Path(".telcopulse")
    cache_dir: Path = PROJECT_ROOT / ".cache"

    # Stream
    stream_name: str = "telcopulse-events"
    kinesis_port: int = 4567
    kinesis_endpoint: str | None = None
    shards: int = 2
    region: str = "us-east-1"

    # Catalog and tables
    table_format: TableFormat = TableFormat.ICEBERG
    catalog_name: str = "telcopulse"
    warehouse_uri: str | None = None
    checkpoint_uri: str | None = None

    # Jobs
    trigger_seconds: float = 1.0
    bronze_max_batch_records: int = 50_000
    dedup_horizon_hours: int = 24
    # Silver's GX audit runs GX itself on a whole batch beside the stream (and refreshes Data Docs) at most
    # this often; the suite's derived row predicates give every batch's outcome (equal to GX's, tested).
    # 0: whenever the last audit is done.
    gx_every_seconds: float = 60.0
    max_future_minutes: int = 10

    # Gold
    window_seconds: int = 60
    outage_min_readings: int = 5
    outage_min_devices: int = 3
    outage_min_bad_share: float = 0.5
    outage_close_after_healthy_windows: int = 2
    outage_lookback_hours: int = 24
    late_after_seconds: int = 600

    # Query engines
    athena_workgroup: str = "telcopulse"
    athena_output_uri: str | None = None

    # Health thresholds for `telcopulse status`
    max_lag_records: int = 100_000
    max_freshness_seconds: int = 300
    min_dq_pass_rate: float = 0.95

    # JVM options of a local Spark driver. C1 only: Spark generates and compiles new code for every bronze and
    # gold micro-batch (its constants are inlined), and HotSpot's optimizing C2 compiler then spent more CPU
    # than the jobs' own work on a 2-core machine (`telcopulse bench` reports CPU per thread kind).
    # C1 alone reserves a 48 MB code cache, which a job filled within a minute or two of micro-batches:
    # HotSpot then stops compiling for good (every later batch runs interpreted) or, short of room for
    # an adapter, fails a Spark thread and stops the job. Three minutes into a live run, jobs held 30-66 MB,
    # growing ever slower: 256 MB leaves room.
    jvm_options: str = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"
    # Silver's JVM keeps C2: its generated code is the same every batch (batch constants reach it as data),
    # so C2 compiles it once, and its code parses in about half the CPU of C1's.
    silver_jvm_options: str = "-XX:ReservedCodeCacheSize=256m"
    extra_spark_conf: dict[str, str] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        # Relative homes are taken from the working directory once, so child processes agree.
        object.__setattr__(self, "home", self.home.expanduser().resolve())

    # Derived locations: one obvious home for each piece of local state.
    @property
    def kinesis_url(self) -> str | None:
        if self.runtime is Runtime.AWS:
            return self.kinesis_endpoint
        return self.kinesis_endpoint or f"http://127.0.0.1:{self.kinesis_port}"

    @property
    def catalog_db(self) -> Path:
        return self.home / "catalog.db"

    @property
    def warehouse(self) -> str:
        return self.warehouse_uri or f"file://{self.home / 'warehouse'}"

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_uri or str(self.home / "checkpoints")

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data-docs"

    @property
    def spark_jars_dir(self) -> Path:
        return self.cache_dir / "spark-jars"

    @property
    def duckdb_extension_dir(self) -> Path:
        return self.cache_dir / "duckdb"

    @property
    def is_delta(self) -> bool:
        return self.table_format is TableFormat.DELTA

    def table_location(self, name: str) -> str:
        """Where a Delta table keeps its files and log: ``<warehouse>/delta/<namespace>/<table>``."""
        namespace, table = name.split(".", 1)
        return f"{self.warehouse.rstrip('/')}/delta/{namespace}/{table}"

    def table_path(self, name: str) -> Path:
        """A local Delta table's folder (``table_location`` without ``file://``)."""
        return Path(self.table_location(name).removeprefix("file://"))

    def table(self, name: str) -> str:
        """Fully qualified Spark name of a table ``<namespace>.<table>``.

        Iceberg: ``telcopulse.telcopulse_bronze.network_events`` (the Iceberg catalog). Delta: on AWS the Glue
        Data Catalog's name (``spark_catalog.telcopulse_bronze.network_events``); locally the table's path
        (``delta.`file:///.../warehouse/delta/telcopulse_bronze/network_events` ``), so that no metastore is
        shared between the job processes.
        """
        if not self.is_delta:
            return f"{self.catalog_name}.{name}"
        if self.runtime is Runtime.AWS:
            return f"spark_catalog.{name}"
        return f"delta.`{self.table_location(name)}`"
