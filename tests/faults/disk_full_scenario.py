"""The disk-full scenario, run inside a private mount namespace (``unshare -rm``) by test_disk_full.

The jobs' home is a small tmpfs mounted over an empty folder; kinesalite runs outside (loopback is
shared). Phase A fills the disk while bronze has records to write; phase B while silver has. Each time
the job must exit non-zero naming the full disk, and once space returns a restart must land every record
exactly once. Prints one JSON object (the scenario's findings) as its last line.
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


def run(args: dict[str, Any]) -> dict[str, Any]:
    home, outputs = Path(args["home"]), Path(args["outputs"])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args['size_mb']}m", "tmpfs", str(home)], check=True)
    settings = Settings(home=home, kinesis_port=args["port"], trigger_seconds=0.5)
    sent = put_day(settings, date(2026, 11, 20))
    findings: dict[str, Any] = {}

    # Phase A: bronze runs, the disk fills, records arrive.
    bronze = JobProcess(settings, "bronze", output=outputs / "bronze-a.out")
    bronze.start()
    assert wait_until(lambda: rows(settings, BRONZE) == len(sent), timeout=300), bronze.tail()
    filler = fill(home)
    sent += put_day(settings, date(2026, 11, 21))
    findings["bronze_on_full_disk"] = failed_loudly(bronze, timeout=300)
    findings["bronze_rows_while_full"] = rows(settings, BRONZE)
    filler.unlink()
    recovered = JobProcess(settings, "bronze", "--until-idle", "3", output=outputs / "bronze-a2.out")
    recovered.start()
    assert wait_until(lambda: not recovered.alive(), timeout=600, every=1), recovered.tail()
    findings["bronze_recovered_exit_code"] = recovered.process.returncode if recovered.process else None

    # Phase B: silver has all of bronze to read, on a full disk.
    filler = fill(home)
    silver = JobProcess(settings, "silver", output=outputs / "silver-b.out")
    silver.start()
    findings["silver_on_full_disk"] = failed_loudly(silver, timeout=300)
    findings["silver_rows_while_full"] = rows(settings, SILVER)
    filler.unlink()
    for job in ("silver", "gold"):
        again = JobProcess(settings, job, "--until-idle", "3", output=outputs / f"{job}-b2.out")
        again.start()
        assert wait_until(lambda job=again: not job.alive(), timeout=600, every=1), again.tail()
        findings[f"{job}_recovered_exit_code"] = again.process.returncode if again.process else None
    findings["counts"] = audit(settings, sent=sent, hostile=set())
    return findings


def main() -> None:
    started = time.monotonic()
    findings = run(json.loads(sys.argv[1]))
    findings["runtime_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(findings, default=str))


if __name__ == "__main__":
    main()
