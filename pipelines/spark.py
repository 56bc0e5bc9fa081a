"""The Spark session: Iceberg's own Spark integration (local JDBC catalog or the Glue Data Catalog), or Delta Lake.

`make setup` resolves the jars from Maven once (``resolve_jars``) into a cache inside the checkout;
every later session loads them from there and needs no network.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Hashable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from py4j.java_gateway import JavaClass, java_import
from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from pipelines.errors import SetupMissingError
from pipelines.settings import Runtime, Settings

# The versions AWS Glue 5.1 ships (Spark 3.5.6 / Scala 2.12 / Iceberg 1.10.0 / Delta Lake 3.3.2).
ICEBERG_RUNTIME = "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0"
DELTA_SPARK = "io.delta:delta-spark_2.12:3.3.2"
SQLITE_JDBC = "org.xerial:sqlite-jdbc:3.50.3.0"
LOCAL_PACKAGES = (ICEBERG_RUNTIME, DELTA_SPARK, SQLITE_JDBC)
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
DELTA_EXTENSIONS = "io.delta.sql.DeltaSparkSessionExtension"


Built = TypeVar("Built")


def per_session(build: Callable[..., Built]) -> Callable[..., Built]:
    """Memoize a builder of Column expressions per Spark session and (hashable) arguments.

    A Column is an unresolved expression held by the JVM, bound to no DataFrame: the columns built for
    a job's first micro-batch serve every later one. Each ``F.*`` call is a py4j round trip, and the
    first ones of a name look classes up across every jar; silver's ~500 expressions cost 0.4 s a
    batch to build, as much as parsing 1,000 rows. A new session (tests start one per run) starts afresh.
    """
    cache: dict[Hashable, Built] = {}
    owner: list[Any] = [None]

    @functools.wraps(build)
    def cached(*args: Hashable) -> Built:
        context = SparkContext._active_spark_context
        if owner[0] is not context:
            cache.clear()
            owner[0] = context
        if args not in cache:
            cache[args] = build(*args)
        return cache[args]

    return cached


def with_times(df: DataFrame, **times: datetime) -> DataFrame:
    """``df`` with a column per time (say a batch's own ``now``), passed to the code as data, not spelled out in it.

    Spark's generated code spells a timestamp literal out (``F.lit(now)``), and every batch has its own
    ``now``: each batch made Spark generate and compile the stages that write it again, and HotSpot compile
    the new classes again. A one-row table broadcast to every task carries the times instead, so the code
    is the same every batch and compiled once. The table is a ``VALUES`` list: rows of data, where a
    projection of literals would be folded back into the code across the join. A naive time is UTC.
    """
    row = ", ".join(
        f"TIMESTAMP '{(time if time.tzinfo else time.replace(tzinfo=UTC)).isoformat()}'" for time in times.values()
    )
    one_row = df.sparkSession.sql(f"SELECT * FROM VALUES ({row}) AS batch_times({', '.join(times)})")
    return df.crossJoin(F.broadcast(one_row))


DELTA_CONF = {
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def table_format_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the table format: ``settings.table_format`` on Glue; locally both, in one session.

    Locally a session knows both formats (Iceberg in the ``telcopulse`` catalog, Delta tables by path), so the
    test suite runs either setting in its one Spark session; the jobs only touch the configured one.
    """
    if settings.runtime is Runtime.LOCAL:
        both = {
            "spark.sql.extensions": f"{ICEBERG_EXTENSIONS},{DELTA_EXTENSIONS}",
            # Delta rebuilds a table's state from its log after each commit in this many tasks (default 50):
            # on a laptop's few cores that costs more than the write itself (a small append: 1.7 s -> 0.6 s).
            "spark.databricks.delta.snapshotPartitions": "1",
        }
        return catalog_conf(settings) | DELTA_CONF | both
    if settings.is_delta:
        return DELTA_CONF | {"spark.sql.extensions": DELTA_EXTENSIONS}
    return catalog_conf(settings)


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the ``telcopulse`` Iceberg catalog: the only thing that differs on Glue."""
    prefix = f"spark.sql.catalog.{settings.catalog_name}"
    conf = {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.warehouse": settings.warehouse,
        # Several processes write these tables: always read the catalog's current metadata.
        f"{prefix}.cache-enabled": "false",
    }
    if settings.runtime is Runtime.AWS:
        conf |= {
            f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
            f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            f"{prefix}.glue.skip-name-validation": "false",
        }
    else:
        conf |= {
            f"{prefix}.type": "jdbc",
            f"{prefix}.uri": f"jdbc:sqlite:{settings.catalog_db}",
            # Iceberg's own catalog-table initialization leaves a ResultSet open, i.e. a read lock held
            # for the life of the process, and every other job's commit then fails with SQLITE_BUSY.
            # The tables are created beforehand (ensure_local_catalog_db) in the V0 layout that
            # pyiceberg's SqlCatalog reads too.
            f"{prefix}.jdbc.init-catalog-tables": "false",
            f"{prefix}.jdbc.schema-version": "V0",
            # sqlite-jdbc connection properties: wait for the writer lock instead of failing at once.
            # (Not WAL: there a pooled connection with an old read snapshot fails with BUSY_SNAPSHOT
            # whenever another job committed, and no retry helps; the rollback journal just waits.)
            f"{prefix}.jdbc.busy_timeout": "60000",
            # One connection per process: two pooled connections of one process can deadlock on
            # SQLite's lock upgrade (one reading, one writing), which SQLite reports as BUSY at once.
            f"{prefix}.clients": "1",
        }
    return conf


# Iceberg's JdbcUtil DDL for a V0 catalog (the layout pyiceberg's SqlCatalog also opens).
_CATALOG_DDL = (
    "CREATE TABLE IF NOT EXISTS iceberg_tables (catalog_name VARCHAR(255) NOT NULL, "
    "table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), "
    "previous_metadata_location VARCHAR(1000), PRIMARY KEY (catalog_name, table_namespace, table_name))",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (catalog_name VARCHAR(255) NOT NULL, "
    "namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255), property_value VARCHAR(1000), "
    "PRIMARY KEY (catalog_name, namespace, property_key))",
)


def ensure_local_catalog_db(path: Path) -> None:
    """Create the SQLite catalog's two tables if they are missing (idempotent, safe to race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=60)) as connection, connection:
        for statement in _CATALOG_DDL:
            connection.execute(statement)


def local_jars(settings: Settings) -> list[Path]:
    jars = sorted(settings.spark_jars_dir.glob("*.jar"))
    if not jars:
        raise SetupMissingError(f"no Spark jars in {settings.spark_jars_dir}: run `make setup`")
    return jars


SINGLE_IMPORTS = (
    "org.apache.spark.sql.functions",
    "org.apache.spark.sql.SparkSession",
    "org.apache.spark.sql.SparkSession$",
    "org.apache.spark.api.python.PythonUtils",
    "org.apache.spark.sql.api.python.PythonSQLUtils",
)


def build_spark(settings: Settings, app_name: str, *, cores: int = 2, jvm_options: str | None = None) -> SparkSession:
    """A session for ``settings.runtime``; on Glue the session exists and only the catalog is set.

    ``jvm_options`` are a local driver's (default ``settings.jvm_options``).
    """
    builder = SparkSession.builder.appName(app_name)
    jvm_options = settings.jvm_options if jvm_options is None else jvm_options
    conf = table_format_conf(settings) | {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(max(cores, 1)),
        "spark.sql.adaptive.enabled": "true",
        # HotSpot never JIT-compiles a method over 8,000 bytecodes; whole-stage code generation of silver's
        # parse-and-route stage makes one far larger, which then runs in the bytecode interpreter. Over
        # this limit Spark generates per-operator code in small methods instead (silver: ~35% less CPU).
        "spark.sql.codegen.hugeMethodLimit": "8000",
        # Compiled code is cached by its source. A gold batch generates ~130 classes (its MERGEs' plans), more
        # than the default 100 entries: each batch evicted the classes the next one needed, and compiled all
        # ~130 again (with room, 17 a batch: those with the batch's own constants inlined).
        "spark.sql.codegen.cache.maxEntries": "1000",
        # A micro-batch is cached for the few actions of one batch: compressing it costs more CPU than it saves.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        # Arrow batches handed over from Python (``dataframe_from_arrow``) become an RDD converted in parallel
        # tasks. Under this threshold (48 MB by default, ~120,000 bronze records) Spark instead decodes them on
        # the driver into a local relation and evaluates what follows row by row in the interpreter, all on
        # one core: a 50,000-record bronze batch took 0.6 s rather than 0.25 s.
        "spark.sql.execution.arrow.localRelationThreshold": "0",
    }
    if settings.runtime is Runtime.LOCAL:
        ensure_local_catalog_db(settings.catalog_db)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (UDFs, Arrow) must run the project's interpreter, not whatever python3 is first.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        conf |= {
            "spark.master": f"local[{cores}]",
            "spark.jars": ",".join(str(jar) for jar in local_jars(settings)),
            # Loopback only: the driver and its block manager must not listen on the network.
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "3g",
            # Delta's VACUUM lists a table's files in this many tasks (Spark's default: 10,000). On 2 cores each
            # empty task still writes its shuffle files: a VACUUM of a small table took over 10 minutes.
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(4 * max(cores, 1)),
            "spark.sql.warehouse.dir": str(settings.home / "spark-warehouse"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={settings.home / 'derby'} {jvm_options}",
            "spark.sql.streaming.stateStore.providerClass": (
                "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider"
            ),
        }
    for key, value in (conf | settings.extra_spark_conf).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # Every F.* call looks ``functions`` up through the JVM view's wildcard imports, each miss a class lookup
    # across every jar; a single-class import is found first (an expression costs ~40% less to build).
    # The same holds for the classes pyspark names on every select, cache and session check.
    for name in SINGLE_IMPORTS:
        java_import(spark.sparkContext._jvm, name)
    return spark


def java_class(spark: SparkSession, name: str) -> JavaClass:
    """The JVM class called ``name`` (fully qualified), for its static members and constructors.

    ``jvm.org.apache.x.Y`` resolves one name segment per round trip, and py4j tries each segment as a class
    under every wildcard import of the JVM view: a miss is a lookup across every jar, five or more per
    access (in gold, 1 in 25 CPU samples at 250 records/s). A ``JavaClass`` names the class outright.
    """
    return JavaClass(name, spark.sparkContext._gateway._gateway_client)  # type: ignore[union-attr]


def dataframe_from_arrow(
    spark: SparkSession, table: pa.Table, schema: StructType, *, partitions: int | None = None
) -> DataFrame:
    """An Arrow table as a Spark DataFrame, handed to the JVM as Arrow batches (no pandas in between).

    Each Arrow batch becomes one partition: the table is cut into ``partitions`` batches (default: the
    session's parallelism), so that what follows runs on every core rather than in one task.

    ``createDataFrame(table.to_pandas())`` turns a binary column into one Python object per value and
    back to Arrow; this writes the table's own batches to the stream that ``createDataFrame`` would
    write (pyspark 3.5's Arrow path, which 4.0 offers as ``createDataFrame(pa.Table)``). The table's
    Arrow types must be the ones Spark maps ``schema`` to (binary, string, timestamp[us, UTC]).
    """
    from pyspark.sql.pandas.serializers import ArrowStreamSerializer

    context = spark.sparkContext
    slices = max(1, partitions or context.defaultParallelism)
    rows_per_batch = max(1, -(-table.num_rows // slices))
    batches = table.combine_chunks().to_batches(max_chunksize=rows_per_batch) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    utils = java_class(spark, "org.apache.spark.sql.api.python.PythonSQLUtils")
    java_batches = context._serialize_to_jvm(  # type: ignore[attr-defined]
        batches,
        ArrowStreamSerializer(),
        lambda path: utils.readArrowStreamFromFile(path),
        lambda: java_class(spark, "org.apache.spark.sql.api.python.ArrowIteratorServer")(),
    )
    frame = utils.toDataFrame(java_batches, schema.json(), spark._jsparkSession)
    return DataFrame(frame, spark)


def resolve_jars(settings: Settings, packages: tuple[str, ...] = LOCAL_PACKAGES) -> list[Path]:
    """Fetch ``packages`` (and dependencies) from Maven once and keep them in the checkout's cache."""
    ivy = settings.cache_dir / "ivy"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("telcopulse-resolve-jars")
        .config("spark.jars.packages", ",".join(packages))
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.stop()
    settings.spark_jars_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for jar in (ivy / "jars").glob("*.jar"):
        target = settings.spark_jars_dir / jar.name
        shutil.copy2(jar, target)
        copied.append(target)
    return copied
