"""The limit: DuckDB computes gold's KPIs in one pass over the same raw JSON records the pipeline ingests.

Both aggregations of gold (per window and operator: signal and precision sums and counts; per window,
postal code and status: readings) come out of one scan with GROUPING SETS. Records/s of this pass is
what the machine can do at best; the pipeline's throughput is reported as a fraction of it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

ONE_PASS_SQL = """
SELECT
    window_start,
    operator,
    postal_code,
    status,
    sum(signal) AS signal_sum,
    count(signal) AS signal_count,
    sum(precission) AS precision_sum,
    count(precission) AS precision_count,
    count(*) AS readings
FROM (
    SELECT
        time_bucket(INTERVAL '{window} seconds', event_time::TIMESTAMPTZ) AS window_start,
        coalesce(operator, 'unknown') AS operator,
        coalesce(CAST(postal_code AS VARCHAR), 'unknown') AS postal_code,
        status,
        signal,
        CAST(precission AS DECIMAL(38, 6)) AS precission
    FROM read_json(
        ?,
        format = 'newline_delimited',
        columns = {{
            event_time: 'VARCHAR', operator: 'VARCHAR', postal_code: 'VARCHAR', status: 'INTEGER',
            signal: 'INTEGER', precission: 'DOUBLE'
        }}
    )
)
GROUP BY GROUPING SETS ((window_start, operator), (window_start, postal_code, status))
"""


def duckdb_one_pass(jsonl: Path, *, records: int, window_seconds: int, threads: int, repeat: int = 3) -> dict[str, Any]:
    """Best of ``repeat`` one-pass aggregations of ``jsonl`` by an in-memory DuckDB with ``threads`` threads."""
    import duckdb

    connection = duckdb.connect(":memory:", config={"threads": threads, "autoinstall_known_extensions": False})
    connection.execute("SET TimeZone = 'UTC'")
    sql = ONE_PASS_SQL.format(window=int(window_seconds))
    timings, groups = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        groups = len(connection.execute(sql, [str(jsonl)]).fetchall())
        timings.append(time.perf_counter() - started)
    connection.close()
    best = min(timings)
    return {
        "records": records,
        "bytes": jsonl.stat().st_size,
        "threads": threads,
        "seconds": [round(t, 3) for t in timings],
        "best_s": round(best, 3),
        "rows_per_s": round(records / best, 1),
        "groups": groups,
    }
