"""Reading where a query stands from its checkpoint: one contract over both file backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipelines.ops.checkpoints import (
    ArrowFiles,
    CheckpointFiles,
    HadoopFiles,
    newest_batch,
    parse_offset_log,
    read_position,
)
from pipelines.ops.history import DeltaStreamOffset, StreamOffset

META = '{"batchWatermarkMs":0,"batchTimestampMs":1795459467656,"conf":{"spark.sql.shuffle.partitions":"2"}}'


def offset_log(offset: StreamOffset) -> str:
    """An ``offsets/<n>`` file as Spark writes it for one Iceberg source."""
    return f"v1\n{META}\n{offset.json().replace(' ', '')}"


def write_checkpoint(root: Path, *, offsets: dict[int, StreamOffset], commits: list[int], start: StreamOffset) -> None:
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    (root / "sources/0/offsets").mkdir(parents=True)
    (root / "metadata").write_text('{"id":"q"}')
    (root / "sources/0/offsets/0").write_text(start.json())
    for batch, offset in offsets.items():
        (root / "offsets" / str(batch)).write_text(offset_log(offset))
        (root / "offsets" / f".{batch}.crc").write_text("x")
    for batch in commits:
        (root / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')


@pytest.fixture(params=["arrow", "hadoop"])
def files(request: pytest.FixtureRequest) -> CheckpointFiles:
    if request.param == "arrow":
        return ArrowFiles()
    return HadoopFiles(request.getfixturevalue("spark"))


def test_read_position_is_the_end_of_the_newest_committed_batch(files: CheckpointFiles, tmp_path: Path) -> None:
    write_checkpoint(
        tmp_path / "silver",
        offsets={0: StreamOffset(10, 1), 1: StreamOffset(12, 2), 2: StreamOffset(15, 1)},
        commits=[0, 1],  # batch 2 planned, not committed: it will be replayed
        start=StreamOffset(10, 0),
    )

    position = read_position(files, str(tmp_path / "silver"))

    assert position.exists and position.read_to == StreamOffset(12, 2)
    assert (position.last_committed_batch, position.last_planned_batch) == (1, 2)


def test_read_position_without_commits_is_the_start_offset(files: CheckpointFiles, tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "gold", offsets={}, commits=[], start=StreamOffset(7, 0, scan_all_files=True))

    assert read_position(files, str(tmp_path / "gold")).read_to == StreamOffset(7, 0, scan_all_files=True)


def test_read_position_of_a_query_started_on_an_empty_table_is_not_started(
    files: CheckpointFiles, tmp_path: Path
) -> None:
    write_checkpoint(tmp_path / "silver", offsets={}, commits=[], start=StreamOffset(-1, -1))

    position = read_position(files, str(tmp_path / "silver"))

    assert position.exists and position.read_to is None


def test_read_position_after_a_batch_committed_on_an_empty_table_is_not_started(
    files: CheckpointFiles, tmp_path: Path
) -> None:
    """Batch 0 ran while the table was empty; batch 1 (the first rows) is planned: all of them still wait."""
    write_checkpoint(
        tmp_path / "silver",
        offsets={0: StreamOffset(-1, -1), 1: StreamOffset(46, 1)},
        commits=[0],
        start=StreamOffset(-1, -1),
    )

    position = read_position(files, str(tmp_path / "silver"))

    assert position.exists and position.read_to is None
    assert (position.last_committed_batch, position.last_planned_batch) == (0, 1)


def test_read_position_of_a_missing_checkpoint(files: CheckpointFiles, tmp_path: Path) -> None:
    assert not read_position(files, str(tmp_path / "never")).exists


def test_hadoop_files_write_move_and_delete(spark: SparkSession, tmp_path: Path) -> None:
    files = HadoopFiles(spark)
    files.write_text(str(tmp_path / "a/sources/0/offsets/0"), StreamOffset(1, 0).json())

    assert files.move(str(tmp_path / "a"), str(tmp_path / "b"))
    assert not files.move(str(tmp_path / "a"), str(tmp_path / "c"))
    assert StreamOffset.from_json(files.read_text(str(tmp_path / "b/sources/0/offsets/0")) or "") == StreamOffset(1, 0)
    files.delete(str(tmp_path / "b"))
    assert files.list_names(str(tmp_path)) == []


def test_parse_offset_log_takes_the_source_line() -> None:
    assert parse_offset_log(offset_log(StreamOffset(5, 3))) == StreamOffset(5, 3)
    assert parse_offset_log("v1\n") is None
    assert newest_batch(["0", "1", "10", ".10.crc", "2"]) == 10 and newest_batch([]) is None


# Delta Lake's source offsets as Spark wrote them: the newest version read whole (the next one named), and a
# starting snapshot of which 3 files are read.
DELTA_PAST_NEWEST = (
    '{"sourceVersion":1,"reservoirId":"6a91763a","reservoirVersion":5,"index":-1,"isStartingVersion":false}'
)
DELTA_STARTING = '{"sourceVersion":1,"reservoirId":"6a91763a","reservoirVersion":9,"index":2,"isStartingVersion":true}'


def test_parse_offset_log_reads_delta_offsets() -> None:
    past = parse_offset_log(f"v1\n{META}\n{DELTA_PAST_NEWEST}")
    starting = parse_offset_log(f"v1\n{META}\n{DELTA_STARTING}")

    assert past == DeltaStreamOffset(5, 0, scan_all_files=False, reservoir_id="6a91763a")
    assert starting == DeltaStreamOffset(9, 3, scan_all_files=True, reservoir_id="6a91763a")
    assert isinstance(past, DeltaStreamOffset) and past.json().replace(" ", "") == DELTA_PAST_NEWEST


def test_read_position_of_a_delta_stream(files: CheckpointFiles, tmp_path: Path) -> None:
    """Delta's source keeps no start offset file: the newest committed batch's end offset is the position."""
    root = tmp_path / "gold"
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    (root / "metadata").write_text('{"id":"q"}')
    for batch, offset in enumerate((DELTA_STARTING, DELTA_PAST_NEWEST)):
        (root / "offsets" / str(batch)).write_text(f"v1\n{META}\n{offset}")
    (root / "commits" / "0").write_text('v1\n{"nextBatchWatermarkMs":0}')

    position = read_position(files, str(root))

    assert position.read_to == DeltaStreamOffset(9, 3, scan_all_files=True, reservoir_id="6a91763a")
    assert (position.last_committed_batch, position.last_planned_batch) == (0, 1)
