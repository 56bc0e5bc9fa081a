"""One known lake for the query-side tests of this package (written once; the tests only read it)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from pipelines.settings import Settings
from tests.pipelines.query.lake import Lake, write_lake


@pytest.fixture(scope="package")
def lake(spark: SparkSession, settings: Settings) -> Lake:
    return write_lake(spark, settings)
