"""Amazon Athena over the Glue Data Catalog: the same SQL and table names as DuckDB locally.

Parameters go to Athena as ``ExecutionParameters`` (pyathena's ``qmark`` style), never into the SQL text.
Athena reads each execution parameter as one SQL literal, so every value is rendered as a Trino literal
first: a string is quoted with its quotes doubled, which leaves no way to end the literal early.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from catalog.tables import GOLD
from pipelines.errors import QueryEngineError
from pipelines.settings import Settings


def trino_literal(value: Any) -> str:
    """The Trino literal for one bound value; timestamps are taken as UTC when they carry no zone.

    Raises:
        TypeError: a value of a type that has no literal here.
        ValueError: a float that is not finite.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot bind a non-finite float: {value}")
        text = repr(value)
        # An exponent makes it a DOUBLE literal; a plain 1.5 would be a DECIMAL in Trino.
        return text if "e" in text else f"{text}E0"
    if isinstance(value, Decimal):
        return f"DECIMAL '{value}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"cannot bind a {type(value).__name__} as an Athena parameter")


class AthenaQueryEngine:
    """Athena in ``settings.athena_workgroup``; results come back as Arrow through pyathena's ArrowCursor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: Any = None

    @property
    def connection(self) -> Any:
        """The pyathena connection, opened on first use (creating it calls no AWS API)."""
        if self._connection is None:
            from pyathena import connect
            from pyathena.arrow.cursor import ArrowCursor

            self._connection = connect(
                work_group=self._settings.athena_workgroup,
                s3_staging_dir=self._settings.athena_output_uri,
                region_name=self._settings.region,
                schema_name=GOLD,
                cursor_class=ArrowCursor,
            )
        return self._connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run ``sql`` on Athena with ``?`` parameters sent as execution parameters.

        Raises:
            QueryEngineError: Athena is unreachable, refuses the query, or the query fails.
        """
        from botocore.exceptions import BotoCoreError, ClientError
        from pyathena.error import Error as AthenaError

        literals = [trino_literal(value) for value in params]
        try:
            cursor = self.connection.cursor()
            cursor.execute(sql, literals or None, paramstyle="qmark")
            return cursor.as_arrow()
        except (AthenaError, BotoCoreError, ClientError) as exc:
            where = f"{self._settings.athena_workgroup}, {self._settings.region}"
            raise QueryEngineError(f"Athena ({where}): {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
