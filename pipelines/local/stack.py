"""`telcopulse up` / `down`: kinesalite on 127.0.0.1 with its data under TELCOPULSE_HOME."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.adapters.kinesis import kinesis_client
from pipelines.errors import SetupMissingError, StackNotRunningError
from pipelines.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
LAUNCHER = Path(__file__).with_name("kinesalite.js")


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "kinesalite.pid"


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child (a zombie answers kill 0)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_pid(settings: Settings) -> int | None:
    path = _pid_file(settings)
    if not path.exists():
        return None
    text = path.read_text().strip()
    return int(text) if text.isdigit() and _alive(int(text)) else None


def healthy(client: Any) -> bool:
    try:
        client.list_streams(Limit=1)
    except (BotoCoreError, ClientError):
        return False
    return True


def start_kinesalite(settings: Settings, *, timeout_s: float = 30.0) -> int:
    """Start the launcher unless it runs already; returns its pid once the API answers."""
    client = kinesis_client(settings)
    pid = recorded_pid(settings)
    if pid is not None and healthy(client):
        return pid
    node_modules = PROJECT_ROOT / "node_modules"
    if not (node_modules / "kinesalite").exists():
        raise SetupMissingError("kinesalite is not installed: run `make setup`")
    data_dir = settings.home / "kinesalite"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.logs_dir / "kinesalite.log").open("ab") as out:
        process = subprocess.Popen(
            ["node", str(LAUNCHER), str(settings.kinesis_port), str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_PATH": str(node_modules)},
            start_new_session=True,  # Ctrl-C on a job must not take the server down with it
        )
    _pid_file(settings).write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackNotRunningError(
                f"kinesalite exited with {process.returncode}; see {settings.logs_dir}"
            )
        if healthy(client):
            return process.pid
        time.sleep(0.1)
    raise StackNotRunningError(
        f"kinesalite did not answer on port {settings.kinesis_port} in {timeout_s:.0f}s"
    )


def ensure_stream(settings: Settings, *, shards: int | None = None, timeout_s: float = 30.0) -> None:
    """Create the stream if it is missing and wait until it is ACTIVE."""
    client = kinesis_client(settings)
    try:
        client.create_stream(StreamName=settings.stream_name, ShardCount=shards or settings.shards)
    except client.exceptions.ResourceInUseException:
        pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        summary = client.describe_stream_summary(StreamName=settings.stream_name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise StackNotRunningError(f"stream {settings.stream_name} is not ACTIVE after {timeout_s:.0f}s")


def up(settings: Settings, *, shards: int | None = None) -> int:
    pid = start_kinesalite(settings)
    ensure_stream(settings, shards=shards)
    return pid


def down(settings: Settings, *, timeout_s: float = 10.0) -> bool:
    """Stop kinesalite by its recorded pid; returns whether one was running."""
    pid = recorded_pid(settings)
    _pid_file(settings).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True
