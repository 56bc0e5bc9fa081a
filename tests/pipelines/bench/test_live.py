from __future__ import annotations

import pytest

from pipelines.bench.joblogs import Batch
from pipelines.bench.live import _lag_floor, _slope, lag_growth_rps


def _gold(commits: list[tuple[float, int]]) -> list[Batch]:
    return [Batch(i, rows, rows, ended - 1.0, ended) for i, (ended, rows) in enumerate(commits)]


def test_a_pipeline_that_keeps_up_in_batches_has_a_flat_lag_floor() -> None:
    """1,000 records/s merged every 10 s, 5 s behind: the lag is a sawtooth whose floor stays at 5,000."""
    gold = _gold([(t0, 10_000) for t0 in (15.0, 25.0, 35.0, 45.0, 55.0)])

    floor = _lag_floor(1000.0, 60_000, gold, 0.0, 10.0, 60.0)

    assert [lag for _, lag in floor] == [5000, 5000, 5000, 5000, 5000]
    assert _slope(floor) == pytest.approx(0.0)


def test_a_pipeline_falling_behind_has_a_growing_lag_floor() -> None:
    """Gold merges 800 of every 1,000 records/s: the floor grows by 200 records/s."""
    gold = _gold([(t0, 8_000) for t0 in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)])

    floor = _lag_floor(1000.0, 60_000, gold, 0.0, 10.0, 60.0)

    assert _slope(floor) == pytest.approx(200.0)


def test_no_slope_from_fewer_than_two_commits() -> None:
    assert _slope([]) is None
    assert _slope([(10.0, 5)]) is None


def test_batches_growing_to_a_new_rate_are_not_falling_behind() -> None:
    """A step up to 1,000 records/s: gold's batches grow (lag floor rising) until they take 10 s of records,
    then merge 10,000 every 10 s: the second half's floor is flat, so the pipeline keeps up."""
    gold = _gold([(10.0, 2_000), (20.0, 6_000), (30.0, 8_000), (40.0, 10_000), (50.0, 10_000), (60.0, 10_000)])

    assert _slope(_lag_floor(1000.0, 60_000, gold, 0.0, 0.0, 60.0)) > 50
    assert lag_growth_rps(1000.0, 60_000, gold, 0.0, 60.0) == pytest.approx(0.0)
