"""Deterministic crash points for the fault-injection tests: ``TELCOPULSE_CRASH_AT=<point>:<batch>``.

A job calls ``crash_point("bronze.before-commit", batch_id)``; when the variable names that point and
batch, the process kills itself with SIGKILL, exactly like ``kill -9`` at that instant. Unset, it is a no-op.
"""

from __future__ import annotations

import os
import signal

ENV = "TELCOPULSE_CRASH_AT"


def crash_point(point: str, batch_id: int) -> None:
    wanted = os.environ.get(ENV)
    if wanted and wanted == f"{point}:{batch_id}":
        os.kill(os.getpid(), signal.SIGKILL)
