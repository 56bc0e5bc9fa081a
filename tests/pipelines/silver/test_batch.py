from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.silver.batch import ROWS_PER_TASK, _whole_hours, tasks_for


@pytest.mark.parametrize(
    ("rows", "cores", "tasks"),
    [
        (0, 2, 2),
        (5_000, 2, 2),
        (2 * ROWS_PER_TASK + 1, 2, 3),
        (33_000, 2, 4),
        (250_000, 2, 25),
        (1_000, 8, 8),
    ],
)
def test_tasks_for_gives_one_per_core_and_one_per_rows_per_task_beyond(rows: int, cores: int, tasks: int) -> None:
    assert tasks_for(rows, cores) == tasks


@given(low=st.datetimes(max_value=datetime(9000, 1, 1)), span=st.timedeltas(timedelta(0), timedelta(days=3)))
def test_dedup_bounds_widen_to_the_whole_hours_around_them(low: datetime, span: timedelta) -> None:
    high = low + span

    floor, ceiling = _whole_hours(low, high)

    assert floor <= low < floor + timedelta(hours=1)
    assert ceiling - timedelta(hours=1) < high <= ceiling
    assert (
        (floor.minute, floor.second, floor.microsecond)
        == (ceiling.minute, ceiling.second, ceiling.microsecond)
        == (0, 0, 0)
    )
