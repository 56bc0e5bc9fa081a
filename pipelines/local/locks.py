"""One copy of each job at a time: a second copy is refused, not allowed to double-write."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.errors import JobAlreadyRunningError


@contextmanager
def job_lock(run_dir: Path, job: str) -> Iterator[None]:
    """Hold ``<run_dir>/<job>.lock`` (flock, released by the kernel even on kill -9) with our pid inside."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{job}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise JobAlreadyRunningError(
            f"job {job} is already running (pid {holder}); refusing to start a second copy"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.seek(0)
        handle.truncate()
        handle.close()


def running_pid(run_dir: Path, job: str) -> int | None:
    """The pid holding ``job``'s lock, or None if nobody holds it."""
    path = run_dir / f"{job}.lock"
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
