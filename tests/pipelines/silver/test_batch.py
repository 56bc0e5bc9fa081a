from __future__ import annotations

import pytest

from pipelines.silver.batch import ROWS_PER_TASK, tasks_for


@pytest.mark.parametrize(
    ("rows", "cores", "tasks"),
    [
        (0, 2, 4),
        (33_000, 2, 4),
        (4 * ROWS_PER_TASK, 2, 4),
        (4 * ROWS_PER_TASK + 1, 2, 5),
        (250_000, 2, 25),
        (1_000, 8, 16),
    ],
)
def test_tasks_for_gives_two_per_core_and_one_per_rows_per_task_beyond(rows: int, cores: int, tasks: int) -> None:
    assert tasks_for(rows, cores) == tasks
