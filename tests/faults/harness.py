"""What the fault tests drive: jobs as killable processes, a continuous producer, and the exactly-once audit."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from pipelines.adapters.kinesis import BotoKinesisSink, kinesis_client
from pipelines.producer.simulate import FleetModel, simulate
from pipelines.settings import Settings
from tests.conftest import SAMPLE_CSV
from tests.helpers import read_table
from tests.pipelines.gold.test_job import (
    gold_operator_totals,
    gold_status_totals,
    silver_operator_totals,
    silver_status_totals,
)

BRONZE = "telcopulse_bronze.network_events"
SILVER = "telcopulse_silver.network_events"
QUARANTINE = "telcopulse_silver.quarantine"
DQ = "telcopulse_silver.dq_results"


def job_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TELCOPULSE_HOME": str(settings.home),
        "TELCOPULSE_KINESIS_PORT": str(settings.kinesis_port),
        "TELCOPULSE_TRIGGER_SECONDS": str(settings.trigger_seconds),
        "TELCOPULSE_WINDOW_SECONDS": str(settings.window_seconds),
        **extra,
    }


class JobProcess:
    """One layer's `telcopulse run <job>` in its own process group, so that kill -9 takes its JVM too."""

    def __init__(self, settings: Settings, job: str, *args: str, output: Path | None = None) -> None:
        self.settings, self.job, self.args = settings, job, args
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.output = output or settings.logs_dir / f"{job}.out"

    def start(self) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", "run", self.job, *self.args],
                env=job_env(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the whole job (python driver and JVM) at once, like a machine losing the process."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=60)

    def stop(self, timeout: float = 180) -> int:
        """SIGTERM (a clean stop) and its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return -9

    def batches(self) -> int:
        """Batches the job has logged so far (all runs: the log file is appended to)."""
        path = self.settings.logs_dir / f"{self.job}.jsonl"
        if not path.exists():
            return 0
        return sum(1 for line in path.read_text(errors="replace").splitlines() if '"event": "batch"' in line)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:]) if self.output.exists() else ""


@dataclass(eq=False)  # a thread must stay hashable
class Producer(threading.Thread):
    """A fleet at ``rate`` readings/s until stopped, plus producer retries (identical resends) and hostile records.

    Every ``tick`` it sends what is due; with ``resend_chance`` it also resends three earlier records (as a
    producer retrying after a lost response does), and it mixes in ``hostile_per_tick`` hostile records
    until ``hostile`` runs out.
    """

    settings: Settings
    rate: float
    seed: int = 11
    resend_chance: float = 0.1
    hostile: Sequence[bytes] = ()
    hostile_per_tick: int = 0
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    failed: int = 0
    stopped: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name="producer", daemon=True)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails on it
            self.error = exc

    def _run(self) -> None:
        # Many attempts: the sink must outlast a kinesalite restart without dropping a record.
        sink = BotoKinesisSink(kinesis_client(self.settings), self.settings.stream_name, max_attempts=40)
        records = simulate(
            FleetModel.learn(SAMPLE_CSV),
            rate=self.rate,
            duration_s=24 * 3600,
            devices=150,
            seed=self.seed,
            start=datetime.now(UTC),
        )
        rng, hostile = random.Random(self.seed), iter(self.hostile)
        tick, started, count = 0.5, time.monotonic(), 0
        while not self.stopped.is_set():
            due = int((time.monotonic() - started) * self.rate) - count
            batch = [(r.partition_key, r.data) for r in _take(records, max(due, 0))]
            count += len(batch)
            if self.sent and rng.random() < self.resend_chance:
                batch += rng.sample(self.sent, min(len(self.sent), 3))
            batch += [
                (f"hostile-{len(self.sent)}-{i}", raw) for i, raw in enumerate(_take(hostile, self.hostile_per_tick))
            ]
            if batch:
                report = sink.put(batch)
                self.failed += report.failed
                self.sent += batch
            self.stopped.wait(tick)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=120)


def _take(records: Iterator[Any], n: int) -> list[Any]:
    return [r for _, r in zip(range(n), records, strict=False)]


def stream_contents(settings: Settings) -> list[tuple[str, str, bytes]]:
    """Every record the stream holds, read from the start of every shard: the ground truth for bronze."""
    client = kinesis_client(settings)
    found = []
    for shard in client.list_shards(StreamName=settings.stream_name)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=settings.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            found += [(shard["ShardId"], r["SequenceNumber"], r["Data"]) for r in response["Records"]]
            iterator = response.get("NextShardIterator")
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
    return found


def event_id(data: bytes) -> str | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return body.get("event_id") if isinstance(body, dict) else None


def audit(settings: Settings, *, sent: Sequence[tuple[str, bytes]], hostile: set[bytes]) -> dict[str, Any]:
    """Every exactly-once count of a run, and the list of rules it broke (empty when all hold).

    Bronze against the stream (by shard and sequence number, byte for byte); silver, quarantine and
    recognised duplicates against bronze (each bronze record in exactly one); silver against what was
    produced (every valid reading once); dq_results against the tables; gold against a recomputation
    from silver.
    """
    stream = stream_contents(settings)
    bronze = read_table(settings, BRONZE).select(["shard_id", "sequence_number", "data"]).to_pylist()
    silver = read_table(settings, SILVER).select(["shard_id", "sequence_number", "event_id"]).to_pylist()
    quarantine = read_table(settings, QUARANTINE).select(["shard_id", "sequence_number", "data", "reasons"]).to_pylist()
    dq = read_table(settings, DQ)

    stream_by_pointer = {(s, q): d for s, q, d in stream}
    bronze_pointers = Counter((r["shard_id"], r["sequence_number"]) for r in bronze)
    bronze_by_pointer = {(r["shard_id"], r["sequence_number"]): r["data"] for r in bronze}
    silver_pointers = {(r["shard_id"], r["sequence_number"]) for r in silver}
    quarantine_pointers = {(r["shard_id"], r["sequence_number"]) for r in quarantine}
    silver_ids = Counter(r["event_id"] for r in silver)
    unaccounted = set(bronze_pointers) - silver_pointers - quarantine_pointers
    duplicates = [p for p in unaccounted if event_id(bronze_by_pointer[p]) in silver_ids]
    valid_ids = {event_id(d) for _, d in sent if d not in hostile}
    sent_payloads = {d for _, d in sent}
    counts: dict[str, Any] = {
        "records_sent": len(sent),
        "payloads_sent_distinct": len(sent_payloads),
        "hostile_sent": sum(1 for _, d in sent if d in hostile),
        "stream_records": len(stream),
        "bronze_rows": sum(bronze_pointers.values()),
        "bronze_lost": len(set(stream_by_pointer) - set(bronze_pointers)),
        "bronze_duplicated": sum(n - 1 for n in bronze_pointers.values()),
        "bronze_not_in_stream": len(set(bronze_pointers) - set(stream_by_pointer)),
        "bronze_bytes_differ": sum(1 for p, d in bronze_by_pointer.items() if stream_by_pointer.get(p, d) != d),
        "sent_payloads_missing_from_bronze": len(sent_payloads - set(bronze_by_pointer.values())),
        "silver_rows": len(silver),
        "silver_duplicated_event_ids": sum(n - 1 for n in silver_ids.values()),
        "silver_missing_valid_readings": len(valid_ids - set(silver_ids)),
        "silver_unexpected_readings": len(set(silver_ids) - valid_ids),
        "quarantine_rows": len(quarantine),
        "quarantine_without_reason": sum(1 for r in quarantine if not r["reasons"]),
        "quarantine_not_hostile": sum(1 for r in quarantine if r["data"] not in hostile),
        "hostile_in_bronze_not_quarantined": sum(
            1 for p, d in bronze_by_pointer.items() if d in hostile and p not in quarantine_pointers
        ),
        "in_silver_and_quarantine": len(silver_pointers & quarantine_pointers),
        "silver_or_quarantine_not_in_bronze": len((silver_pointers | quarantine_pointers) - set(bronze_pointers)),
        "duplicates_recognised": len(duplicates),
        "bronze_unaccounted": len(unaccounted) - len(duplicates),
        "dq_rows_in": pc.sum(dq.column("rows_in")).as_py() or 0,
        "dq_rows_quarantined": pc.sum(dq.column("rows_quarantined")).as_py() or 0,
        "dq_rows_duplicate": pc.sum(dq.column("rows_duplicate")).as_py() or 0,
        "gold_operator_totals_equal_silver": gold_operator_totals(settings) == silver_operator_totals(settings),
        "gold_status_totals_equal_silver": gold_status_totals(settings) == silver_status_totals(settings),
    }
    zero = [k for k in counts if k.startswith(("bronze_lost", "bronze_dup", "bronze_not", "bronze_bytes", "bronze_un"))]
    zero += [
        "sent_payloads_missing_from_bronze",
        "silver_duplicated_event_ids",
        "silver_missing_valid_readings",
        "silver_unexpected_readings",
        "quarantine_without_reason",
        "quarantine_not_hostile",
        "hostile_in_bronze_not_quarantined",
        "in_silver_and_quarantine",
        "silver_or_quarantine_not_in_bronze",
    ]
    broken = [f"{k} = {counts[k]}" for k in zero if counts[k]]
    if counts["dq_rows_in"] != counts["bronze_rows"]:
        broken.append(f"dq rows_in {counts['dq_rows_in']} != bronze rows {counts['bronze_rows']}")
    if counts["dq_rows_quarantined"] != counts["quarantine_rows"]:
        broken.append(f"dq rows_quarantined {counts['dq_rows_quarantined']} != quarantine {counts['quarantine_rows']}")
    if counts["dq_rows_duplicate"] != counts["duplicates_recognised"]:
        broken.append(f"dq rows_duplicate {counts['dq_rows_duplicate']} != {counts['duplicates_recognised']}")
    broken += [k for k in ("gold_operator_totals_equal_silver", "gold_status_totals_equal_silver") if not counts[k]]
    counts["lost"] = counts["bronze_lost"] + counts["silver_missing_valid_readings"] + counts["bronze_unaccounted"]
    counts["duplicated"] = counts["bronze_duplicated"] + counts["silver_duplicated_event_ids"]
    counts["broken_rules"] = broken
    return counts


def wait_until(condition: Any, *, timeout: float, every: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def drained(settings: Settings) -> bool:
    """Nothing waits anywhere: the status check's lags are all zero."""
    from pipelines.ops.status import observe

    observations = observe(settings)
    return all(o.backlog is not None and o.backlog.records == 0 for o in observations)


def keep_logs(settings: Settings, name: str) -> None:
    """Copy a run's logs next to the report (CI keeps build/faults), so a failure can be read afterwards."""
    from tests.faults.conftest import REPORT

    target = REPORT.parent / "logs" / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(settings.logs_dir, target, dirs_exist_ok=True)


def tail_of(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
