"""One known lake per table format for the query-side tests of this package (written once; the tests only read it)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from pipelines.settings import Settings, TableFormat
from tests.pipelines.query.lake import Lake, write_delta_lake, write_lake


@pytest.fixture(scope="package")
def lake(spark: SparkSession, settings: Settings) -> Lake:
    return write_lake(spark, settings)


@pytest.fixture(scope="package")
def delta_lake(spark: SparkSession, lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The Iceberg lake's rows (same anchor) in Delta tables of a home of its own."""
    home = tmp_path_factory.mktemp("delta-lake-home")
    return write_delta_lake(spark, Settings(home=home, table_format=TableFormat.DELTA), lake.anchor)


@pytest.fixture(scope="package", params=list(TableFormat), ids=[f.value for f in TableFormat])
def any_lake(request: pytest.FixtureRequest, lake: Lake) -> Lake:
    """The lake in each table format: Iceberg (``lake``), then Delta (``delta_lake``)."""
    return lake if request.param is TableFormat.ICEBERG else request.getfixturevalue("delta_lake")
