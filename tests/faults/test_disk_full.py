"""A full disk under the warehouse: the job fails loudly, and once space returns it recovers exactly once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_ROOT
from tests.conftest import local_stack
from tests.faults.conftest import FaultReport

# Minutes of real processes: far beyond the default per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
UNSHARE = ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private")


def private_mounts_available() -> bool:
    """A private mount namespace (a tmpfs only the test's jobs see) needs user namespaces."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run([*UNSHARE, "true"], capture_output=True).returncode == 0


def test_full_disk_fails_the_job_loudly_and_it_recovers(tmp_path: Path, fault_report: FaultReport) -> None:
    if not private_mounts_available():
        fault_report.add("disk_full", {"passed": False, "skipped": "no user namespaces: cannot mount a private tmpfs"})
        pytest.skip("no user namespaces here: cannot mount a private tmpfs for the warehouse")
    home, outputs = tmp_path / "jobs", tmp_path / "outputs"
    home.mkdir()
    with local_stack(tmp_path / "stack") as stream:
        args = {"home": str(home), "outputs": str(outputs), "port": stream.kinesis_port, "size_mb": 64}
        result = subprocess.run(
            [*UNSHARE, sys.executable, "-m", "tests.faults.disk_full_scenario", json.dumps(args)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    findings = json.loads(result.stdout.strip().splitlines()[-1])
    counts = findings["counts"]
    passed = (
        findings["bronze_on_full_disk"]["loud"]
        and findings["silver_on_full_disk"]["loud"]
        and findings["silver_kept_running_through_phase_a"]
        and findings["bronze_recovered_exit_code"] == 0
        and findings["silver_recovered_exit_code"] == 0
        and findings["gold_recovered_exit_code"] == 0
        and not counts["broken_rules"]
        and counts["bronze_rows"] == 3000
    )
    fault_report.add("disk_full", findings | {"tmpfs_mb": 64, "passed": passed})

    assert findings["bronze_on_full_disk"]["loud"], findings["bronze_on_full_disk"]
    assert findings["silver_on_full_disk"]["loud"], findings["silver_on_full_disk"]
    assert findings["bronze_rows_while_full"] == 1000  # what was committed before the disk filled stays
    assert findings["silver_rows_while_full"] == 2000
    assert findings["silver_kept_running_through_phase_a"]  # no input, no write: a full disk elsewhere is no error
    assert (findings["bronze_recovered_exit_code"], findings["silver_recovered_exit_code"]) == (0, 0)
    assert counts["broken_rules"] == [] and counts["bronze_rows"] == counts["silver_rows"] == 3000, counts
