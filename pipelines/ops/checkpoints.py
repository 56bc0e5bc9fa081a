"""Where a Structured Streaming query stands, read from its checkpoint; and seeding a new checkpoint.

A checkpoint (``<checkpoints>/<job>``) holds ``offsets/<n>`` (what batch n will read, written before
it runs: an Iceberg or a Delta Lake source offset), ``commits/<n>`` (written once batch n completed) and,
for the Iceberg source, ``sources/0/offsets/0`` (where the stream starts). Iceberg reads that start file
if it exists, which is how `rebuild` starts a fresh query at a chosen snapshot. Two file backends: pyarrow
(local or S3, no Spark: `status`) and the Hadoop file system of a Spark session (`maintain`, `rebuild`, Glue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pyspark.sql import SparkSession

from pipelines.ops.history import DeltaStreamOffset, StreamOffset
from pipelines.spark import java_class

log = logging.getLogger(__name__)
START_OFFSET = "sources/0/offsets/0"


class CheckpointFiles(Protocol):
    """Read access to a checkpoint's small text files."""

    def read_text(self, path: str) -> str | None:
        """The file's text, or None if it does not exist."""
        ...

    def list_names(self, path: str) -> list[str]:
        """Names in directory ``path`` (empty if it does not exist)."""
        ...


@dataclass(frozen=True)
class CheckpointPosition:
    """How far a query has read: the end offset of its newest committed batch, else its start offset."""

    exists: bool
    read_to: StreamOffset | None = None
    last_committed_batch: int | None = None
    last_planned_batch: int | None = None


def newest_batch(names: Iterable[str]) -> int | None:
    """The highest batch number among a log directory's file names (temporary files are ignored)."""
    numbers = [int(name) for name in names if name.isdigit()]
    return max(numbers) if numbers else None


def parse_offset_log(text: str) -> StreamOffset | None:
    """The source offset in an ``offsets/<n>`` file (``v1``, batch metadata, then one line per source).

    Iceberg's offset has a ``snapshot_id``, Delta Lake's a ``reservoirVersion`` (a ``DeltaStreamOffset``).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or not lines[-1].lstrip().startswith("{"):
        return None
    if "reservoirVersion" in json.loads(lines[-1]):
        return DeltaStreamOffset.from_json(lines[-1])
    return StreamOffset.from_json(lines[-1])


def read_position(files: CheckpointFiles, checkpoint: str) -> CheckpointPosition:
    """Where the query of ``checkpoint`` stands; a checkpoint without commits stands at its start offset."""
    root = checkpoint.rstrip("/")
    if not files.list_names(root):
        return CheckpointPosition(exists=False)
    committed = newest_batch(files.list_names(f"{root}/commits"))
    planned = newest_batch(files.list_names(f"{root}/offsets"))
    if committed is not None:
        text = files.read_text(f"{root}/offsets/{committed}")
        read_to = parse_offset_log(text) if text else None
    else:
        text = files.read_text(f"{root}/{START_OFFSET}")
        read_to = StreamOffset.from_json(text) if text and text.strip() else None
    if read_to is not None and read_to.snapshot_id < 0:
        # Iceberg's offset of an empty table (the start offset, or a batch committed while the table was
        # empty): nothing read yet, the stream starts at the table's oldest snapshot.
        read_to = None
    return CheckpointPosition(True, read_to, committed, planned)


class ArrowFiles:
    """Checkpoint files through pyarrow: a local path or ``s3://...`` (no Spark session needed)."""

    def _resolve(self, path: str) -> tuple[Any, str]:
        from pyarrow import fs

        if "://" in path:
            return fs.FileSystem.from_uri(path)
        return fs.LocalFileSystem(), path

    def read_text(self, path: str) -> str | None:
        filesystem, inner = self._resolve(path)
        try:
            with filesystem.open_input_stream(inner) as stream:
                return bytes(stream.read()).decode("utf-8")
        except (FileNotFoundError, OSError):
            return None

    def list_names(self, path: str) -> list[str]:
        from pyarrow import fs

        filesystem, inner = self._resolve(path)
        try:
            infos = filesystem.get_file_info(fs.FileSelector(inner, allow_not_found=True))
        except (FileNotFoundError, NotADirectoryError, OSError):
            return []
        return [info.base_name for info in infos]


class HadoopFiles:
    """Checkpoint files through the Spark session's Hadoop file system (local, S3 on Glue); also writes."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._path = java_class(spark, "org.apache.hadoop.fs.Path")
        self._reader = java_class(spark, "java.io.BufferedReader")
        self._stream_reader = java_class(spark, "java.io.InputStreamReader")

    def _fs_path(self, path: str) -> tuple[Any, Any]:
        hadoop_path = self._path(path)
        conf = self._spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
        return hadoop_path.getFileSystem(conf), hadoop_path

    def read_text(self, path: str) -> str | None:
        filesystem, hadoop_path = self._fs_path(path)
        if not filesystem.exists(hadoop_path):
            return None
        stream = filesystem.open(hadoop_path)
        try:
            reader = self._reader(self._stream_reader(stream, "UTF-8"))
            lines = []
            while (line := reader.readLine()) is not None:
                lines.append(str(line))
            return "\n".join(lines)
        finally:
            stream.close()

    def list_names(self, path: str) -> list[str]:
        filesystem, hadoop_path = self._fs_path(path)
        if not filesystem.exists(hadoop_path) or not filesystem.getFileStatus(hadoop_path).isDirectory():
            return []
        return [str(status.getPath().getName()) for status in filesystem.listStatus(hadoop_path)]

    def write_text(self, path: str, text: str) -> None:
        """Create ``path`` (and its parents) with ``text``; an existing file is replaced."""
        filesystem, hadoop_path = self._fs_path(path)
        out = filesystem.create(hadoop_path, True)
        try:
            out.write(bytearray(text, "utf-8"))
        finally:
            out.close()

    def move(self, source: str, target: str) -> bool:
        """Rename ``source`` to ``target``; False if ``source`` does not exist."""
        filesystem, source_path = self._fs_path(source)
        if not filesystem.exists(source_path):
            return False
        _, target_path = self._fs_path(target)
        if not filesystem.rename(source_path, target_path):
            raise OSError(f"could not move {source} to {target}")
        return True

    def delete(self, path: str) -> None:
        filesystem, hadoop_path = self._fs_path(path)
        if filesystem.exists(hadoop_path):
            filesystem.delete(hadoop_path, True)
