"""The disk-full scenario, run inside a private mount namespace (``unshare -rm``) by test_disk_full.

The warehouse is a small tmpfs, and silver's namespace folder in it another one; kinesalite runs outside
(loopback is shared). Phase A fills the warehouse while bronze runs and records arrive; phase B fills
silver's folder while silver runs and bronze keeps landing records. Each time the running job must exit
non-zero naming the full disk, and once space returns a restart must land every record exactly once.
Prints one JSON object (the scenario's findings) as its last line.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.producer.records import read_csv_records
from pipelines.settings import Settings
from tests.conftest import SAMPLE_CSV
from tests.faults.harness import BRONZE, SILVER, JobProcess, audit, wait_until
from tests.helpers import read_table

STARTED: list[JobProcess] = []
FULL_DISK_MARKERS = ("No space left on device", "disk is full", "ENOSPC", "Disk quota exceeded")


def fill(folder: Path) -> Path:
    """Write one file until the file system refuses another byte."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def put_day(settings: Settings, day: date) -> list[tuple[str, bytes]]:
    records = [(r.partition_key, r.data) for r in read_csv_records(SAMPLE_CSV, on_date=day, now=datetime.now(UTC))]
    assert BotoKinesisSink(kinesis_client(settings), settings.stream_name).put(records).sent == len(records)
    return records


def rows(settings: Settings, table: str) -> int:
    try:
        return read_table(settings, table).num_rows
    except Exception:  # noqa: BLE001 - the table may not exist yet
        return -1


def failed_loudly(job: JobProcess, *, timeout: float) -> dict[str, Any]:
    """Wait for the job to exit; loud means a non-zero exit code and the full disk named in its output."""
    exited = wait_until(lambda: not job.alive(), timeout=timeout, every=1)
    if not exited:
        job.kill9()
    output = job.output.read_text(errors="replace")
    marker = next((m for m in FULL_DISK_MARKERS if m in output), None)
    return {
        "exited_by_itself": exited,
        "exit_code": job.process.returncode if job.process else None,
        "names_the_full_disk": marker,
        "loud": exited and job.process is not None and job.process.returncode not in (0, None) and marker is not None,
    }


def start(settings: Settings, name: str, *args: str, output: Path) -> JobProcess:
    job = JobProcess(settings, name, *args, output=output)
    job.start()
    STARTED.append(job)
    return job


def mount_tmpfs(folder: Path, size_mb: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], check=True)


def run(args: dict[str, Any]) -> dict[str, Any]:
    home, outputs = Path(args["home"]), Path(args["outputs"])
    settings = Settings(home=home, kinesis_port=args["port"], trigger_seconds=0.5)
    warehouse = home / "warehouse"
    silver_folder = warehouse / "telcopulse_silver"
    mount_tmpfs(warehouse, args["size_mb"])
    mount_tmpfs(silver_folder, args["size_mb"] // 2)
    sent = put_day(settings, date(2026, 11, 20))
    findings: dict[str, Any] = {}
    bronze = start(settings, "bronze", output=outputs / "bronze-a.out")
    silver = start(settings, "silver", output=outputs / "silver-a.out")
    assert wait_until(lambda: rows(settings, SILVER) == len(sent), timeout=600), silver.tail()

    # Phase A: the warehouse fills while bronze runs and records arrive.
    filler = fill(warehouse)
    sent += put_day(settings, date(2026, 11, 21))
    findings["bronze_on_full_disk"] = failed_loudly(bronze, timeout=300)
    findings["bronze_rows_while_full"] = rows(settings, BRONZE)
    filler.unlink()
    bronze = start(settings, "bronze", output=outputs / "bronze-a2.out")
    assert wait_until(lambda: rows(settings, SILVER) == len(sent), timeout=600), silver.tail()
    findings["silver_kept_running_through_phase_a"] = silver.alive()

    # Phase B: silver's folder fills while silver runs and bronze lands new records.
    filler = fill(silver_folder)
    sent += put_day(settings, date(2026, 11, 22))
    findings["silver_on_full_disk"] = failed_loudly(silver, timeout=300)
    findings["silver_rows_while_full"] = rows(settings, SILVER)
    filler.unlink()
    assert bronze.stop() == 0
    for job in ("bronze", "silver", "gold"):
        again = start(settings, job, "--until-idle", "3", output=outputs / f"{job}-b2.out")
        assert wait_until(lambda job=again: not job.alive(), timeout=600, every=1), again.tail()
        findings[f"{job}_recovered_exit_code"] = again.process.returncode if again.process else None
    findings["counts"] = audit(settings, sent=sent, hostile=set())
    return findings


def main() -> None:
    started = time.monotonic()
    try:
        findings = run(json.loads(sys.argv[1]))
    finally:
        for job in STARTED:  # whatever failed, no job may outlive the scenario and its private mounts
            if job.alive():
                job.kill9()
    findings["runtime_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(findings, default=str))


if __name__ == "__main__":
    main()
