"""Rebuild's rules: where a silver rebuild starts, which gold windows follow, and when it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.errors import JobAlreadyRunningError
from pipelines.local.locks import job_lock
from pipelines.ops.rebuild import (
    RebuildRefusedError,
    earliest,
    first_append_arriving_from,
    stopped_jobs,
    window_floor,
)
from pipelines.settings import Runtime, Settings
from tests.pipelines.ops.test_history import T0, snap

APPENDS = [snap(1, None), snap(2, 1), snap(3, 2), snap(4, 3)]
ARRIVALS = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]


def test_silver_rebuild_starts_at_the_first_append_arriving_from_t() -> None:
    appends = list(zip(APPENDS, ARRIVALS, strict=True))

    assert first_append_arriving_from(appends, T0 + timedelta(seconds=30)) == APPENDS[1]
    assert first_append_arriving_from(appends, T0 + timedelta(minutes=2)) == APPENDS[2]
    assert first_append_arriving_from(appends, T0 - timedelta(days=1)) == APPENDS[0]
    assert first_append_arriving_from(appends, T0 + timedelta(hours=1)) is None


def test_silver_rebuild_from_t_is_refused_when_bronze_is_out_of_arrival_order() -> None:
    shuffled = list(zip(APPENDS, [ARRIVALS[0], ARRIVALS[2], ARRIVALS[1], ARRIVALS[3]], strict=True))

    with pytest.raises(RebuildRefusedError, match="rebuild silver whole"):
        first_append_arriving_from(shuffled, T0 + timedelta(seconds=90))


def test_gold_windows_follow_the_earliest_touched_event_time() -> None:
    moment = datetime(2026, 11, 23, 10, 17, 42, tzinfo=UTC)

    assert window_floor(moment, 60) == datetime(2026, 11, 23, 10, 17, tzinfo=UTC)
    assert window_floor(moment, 3600) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert earliest(None, moment, moment - timedelta(hours=1)) == moment - timedelta(hours=1)
    assert earliest(None, None) is None


def test_rebuild_is_refused_while_a_job_of_the_layer_runs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)

    with job_lock(settings.run_dir, "gold"), pytest.raises(JobAlreadyRunningError, match="gold"):
        with stopped_jobs(settings, ("silver", "gold")):
            pass
    with stopped_jobs(settings, ("silver", "gold")):
        with pytest.raises(JobAlreadyRunningError):  # and no job starts while a rebuild runs
            with job_lock(settings.run_dir, "silver"):
                pass


def test_rebuild_on_aws_needs_the_operator_to_confirm_the_jobs_are_stopped(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, runtime=Runtime.AWS)

    with pytest.raises(RebuildRefusedError, match="--jobs-stopped"):
        with stopped_jobs(settings, ("silver", "gold")):
            pass
    with stopped_jobs(settings, ("silver", "gold"), confirmed=True):
        pass


def test_rebuild_refuses_delta_tables_with_the_way_to_recompute(tmp_path: Path) -> None:
    from pipelines.ops.rebuild import RebuildUnsupportedError, rebuild_gold, rebuild_silver
    from pipelines.settings import TableFormat

    delta = Settings(home=tmp_path / "home", table_format=TableFormat.DELTA)
    for rebuild in (rebuild_silver, rebuild_gold):
        with pytest.raises(RebuildUnsupportedError, match="Iceberg tables only.*deleting their tables' folders"):
            rebuild(delta, since=None)
