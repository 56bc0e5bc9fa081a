from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.bench.joblogs import Batch
from pipelines.bench.live import _lag_floor, _slope, jvm_warnings, lag_growth_rps
from pipelines.settings import Settings


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


def test_a_full_code_cache_in_a_jobs_output_is_reported(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    settings.logs_dir.mkdir(parents=True)
    (settings.logs_dir / "silver.out").write_text(
        "[62.383s][warning][codecache] CodeCache is full. Compiler has been disabled.\n"
    )
    (settings.logs_dir / "gold.out").write_text("INFO batch layer=gold batch_id=1\n")

    assert jvm_warnings(settings) == {"bronze": [], "silver": ["CodeCache is full"], "gold": []}
