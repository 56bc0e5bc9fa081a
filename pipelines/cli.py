"""`telcopulse`: the one command line for the local stack, the producers, the jobs and the tools."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from threading import Event
from typing import Annotated

import typer

from pipelines.errors import TelcoPulseError
from pipelines.logs import configure_logging
from pipelines.settings import SAMPLE_CSV, Runtime, Settings

app = typer.Typer(
    help="TelcoPulse: real-time telecom network metrics. Kinesis -> bronze -> silver -> gold on Apache Iceberg.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("telcopulse")


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    ALL = "all"


LAYERS = (Layer.BRONZE, Layer.SILVER, Layer.GOLD)
RuntimeOption = Annotated[Runtime | None, typer.Option("--runtime", help="local (embedded stack) or aws")]


def _settings(runtime: Runtime | None = None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if runtime is not None:
        values["runtime"] = runtime
    return Settings(**values)  # type: ignore[arg-type]


def _stop_on_signals() -> Event:
    stop = Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command()
def up(shards: Annotated[int | None, typer.Option(help="shards of a new stream (default 2)")] = None) -> None:
    """Start the local stack (kinesalite on 127.0.0.1) and create the stream; idempotent."""
    from pipelines.local import stack

    settings = _settings()
    configure_logging()
    pid = stack.up(settings, shards=shards)
    typer.echo(
        f"kinesalite pid {pid} on 127.0.0.1:{settings.kinesis_port}, stream {settings.stream_name} ACTIVE"
    )


@app.command()
def down() -> None:
    """Stop the local stack started by `up` (by its recorded pid)."""
    from pipelines.local import stack

    stopped = stack.down(_settings())
    typer.echo("kinesalite stopped" if stopped else "kinesalite was not running")


@app.command()
def produce(
    csv: Annotated[Path | None, typer.Option(help="replay a phone-log CSV like the sample")] = None,
    on_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD for every row (default: last 24 h)")
    ] = None,
    simulate: Annotated[bool, typer.Option(help="simulate a fleet instead of replaying a file")] = False,
    rate: Annotated[
        float | None, typer.Option(help="records per second (default: as fast as possible)")
    ] = None,
    duration: Annotated[float, typer.Option(help="seconds of simulated readings")] = 60.0,
    devices: Annotated[int, typer.Option(help="simulated phones")] = 200,
    seed: Annotated[int, typer.Option(help="random seed of the simulation")] = 1,
    outage: Annotated[
        list[str] | None, typer.Option(help="POSTAL_CODE:START_S:DURATION_S (repeatable)")
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            help="simulate: send at --rate (off: event times spaced at --rate, sent as fast as possible)"
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
    runtime: RuntimeOption = None,
) -> None:
    """Put readings on the stream: replay a CSV (the sample by default) or simulate a fleet."""
    from pipelines.adapters.registry import stream_sink
    from pipelines.producer.records import read_csv_records
    from pipelines.producer.send import send
    from pipelines.producer.simulate import FleetModel, Outage
    from pipelines.producer.simulate import simulate as simulate_fleet

    configure_logging()
    settings = _settings(runtime)
    now = datetime.now(UTC)
    if simulate:
        outages = tuple(Outage.parse(text) for text in outage or [])
        model = FleetModel.learn(SAMPLE_CSV)
        records = simulate_fleet(
            model,
            rate=rate or 1000.0,
            duration_s=duration,
            devices=devices,
            seed=seed,
            start=now,
            outages=outages,
        )
        total = int((rate or 1000.0) * duration)
        summary = send(
            records,
            stream_sink(settings),
            rate=rate if realtime else None,
            total=total,
            progress=sys.stderr.isatty(),
        )
    else:
        path = csv or SAMPLE_CSV
        day = date.fromisoformat(on_date) if on_date else None
        summary = send(
            read_csv_records(path, on_date=day, now=now),
            stream_sink(settings),
            rate=rate,
            progress=sys.stderr.isatty(),
        )
    typer.echo(json.dumps(summary.as_dict()) if as_json else summary.line())
    if summary.failed:
        raise typer.Exit(1)


@app.command("run")
def run_layer(
    layer: Annotated[Layer, typer.Argument(help="bronze, silver, gold, or all (each in its own process)")],
    until_idle: Annotated[
        float | None, typer.Option(help="exit after this many seconds without input")
    ] = None,
    upstream_pid: Annotated[
        int | None, typer.Option(hidden=True, help="idle time counts once this pid exits")
    ] = None,
    runtime: RuntimeOption = None,
) -> None:
    """Run a streaming job (default: forever; Ctrl-C stops it cleanly)."""
    settings = _settings(runtime)
    if layer is Layer.ALL:
        raise typer.Exit(_run_all(until_idle))
    from pipelines.local.locks import job_lock

    configure_logging(settings.logs_dir, layer.value)
    stop = _stop_on_signals()
    with job_lock(settings.run_dir, layer.value):
        job = _job_module(layer)
        if layer is Layer.BRONZE:
            job.run(settings, until_idle_s=until_idle, stop=stop)
        else:
            job.run(
                settings,
                until_idle_s=until_idle,
                stop=stop,
                upstream_busy=(lambda: _pid_alive(upstream_pid)) if upstream_pid else None,
            )


def _job_module(layer: Layer):  # type: ignore[no-untyped-def]
    import importlib

    return importlib.import_module(f"pipelines.{layer.value}.job")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_all(until_idle: float | None) -> int:
    """Each layer in its own process; the first failure or Ctrl-C stops them all.

    With ``until_idle``, a downstream layer counts idle time only once its upstream process has exited,
    so the chain drains in order.
    """
    args = [sys.executable, "-m", "pipelines.cli", "run"]
    idle = ["--until-idle", str(until_idle)] if until_idle is not None else []
    processes: list[subprocess.Popen[bytes]] = []
    for layer in LAYERS:
        upstream = ["--upstream-pid", str(processes[-1].pid)] if processes and until_idle is not None else []
        processes.append(subprocess.Popen([*args, layer.value, *idle, *upstream]))
    stop = _stop_on_signals()
    code = 0
    try:
        while processes and not stop.is_set():
            for process in list(processes):
                status = process.poll()
                if status is None:
                    continue
                processes.remove(process)
                if status != 0:
                    code = status
                    stop.set()
            stop.wait(0.5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
    return code


@app.command("replay-quarantine")
def replay_quarantine(
    reason: Annotated[str | None, typer.Option(help="only rows with this reason (`column:rule` or `column`)")] = None,
    since: Annotated[datetime | None, typer.Option(help="only rows quarantined at or after this time (UTC)")] = None,
    runtime: RuntimeOption = None,
) -> None:
    """Re-run quarantined records through the current suite; those that pass move to silver exactly once."""
    from catalog.reference import canonical_operator_names
    from catalog.tables import QUARANTINE, SILVER_EVENTS
    from expectations import SILVER_EVENTS as SUITE
    from expectations import load_suite
    from pipelines.adapters.iceberg import bootstrap_tables
    from pipelines.silver.replay import replay_quarantine as replay
    from pipelines.silver.transform import canonical_operators
    from pipelines.spark import build_spark

    settings = _settings(runtime)
    configure_logging(settings.logs_dir, "replay-quarantine")
    spark = build_spark(settings, "telcopulse-replay-quarantine")
    bootstrap_tables(spark, settings)
    report = replay(
        spark,
        silver_table=settings.table(SILVER_EVENTS.identifier),
        quarantine_table=settings.table(QUARANTINE.identifier),
        suite=load_suite(SUITE),
        canonical=canonical_operators(canonical_operator_names()),
        reason=reason,
        since=since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
        max_future_minutes=settings.max_future_minutes,
    )
    typer.echo(report.line())


@app.command("dq-report")
def dq_report(
    out: Annotated[Path, typer.Option(help="folder for index.html, summary.json and Data Docs")] = Path(
        "build/dq-report"
    ),
    csv: Annotated[Path | None, typer.Option(help="sample to validate (default: the shipped sample)")] = None,
) -> None:
    """Validate the sample plus a hostile set with the silver suite; write Data Docs and a summary page."""
    from pipelines.silver.dq_report import write_dq_report
    from pipelines.spark import build_spark

    configure_logging()
    settings = _settings()
    summary = write_dq_report(build_spark(settings, "telcopulse-dq-report"), sample=csv or SAMPLE_CSV, out=out)
    typer.echo(
        f"{summary['records']} records: {summary['passed']} passed, {summary['quarantined']} quarantined; "
        f"report at {out / 'index.html'}"
    )


# --- query side: sql, dashboard (pipelines/query/...) ---


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="SQL to run; without it, statements from stdin")] = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json (row objects)")] = "table",
    runtime: RuntimeOption = None,
) -> None:
    """Query every table and view under its Glue name (DuckDB locally, Athena on AWS)."""
    from pipelines.adapters.registry import query_engine
    from pipelines.query.sql_shell import OutputFormat, interactive, run_query

    try:
        fmt = OutputFormat(output)
    except ValueError as exc:
        raise typer.BadParameter(f"--format must be one of {[f.value for f in OutputFormat]}") from exc
    engine = query_engine(_settings(runtime))
    if query is not None:
        typer.echo(run_query(engine, query, fmt))
        return
    failures = interactive(engine, sys.stdin, sys.stdout, sys.stderr, fmt, prompt=sys.stdin.isatty())
    if failures:
        raise typer.Exit(1)


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8501,
    runtime: RuntimeOption = None,
) -> None:
    """Start the Streamlit dashboard (headless, no usage statistics); Ctrl-C stops it."""
    import os

    from pipelines.query.dashboard import streamlit_command

    env = dict(os.environ)
    if runtime is not None:
        env["TELCOPULSE_RUNTIME"] = runtime.value
    typer.echo(f"dashboard on http://{host}:{port}", err=True)
    command = streamlit_command(host, port)
    # Become Streamlit (no wrapper process): signals reach it directly and nothing is left orphaned.
    os.execve(command[0], command, env)


# --- operations ---


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    runtime: RuntimeOption = None,
) -> None:
    """Health per layer: running, last commit, lag, freshness, DQ pass rate. Exit 1 when unhealthy."""
    from pipelines.ops.status import check, render_text, to_json

    report = check(_settings(runtime))
    typer.echo(to_json(report) if as_json else render_text(report))
    if not report.healthy:
        raise typer.Exit(1)


@app.command()
def maintain(
    retain_hours: Annotated[float, typer.Option(help="never expire snapshots younger than this")] = 24.0,
    orphan_age_hours: Annotated[float, typer.Option(help="remove unreferenced files older than this (>= 24)")] = 72.0,
    table: Annotated[list[str] | None, typer.Option(help="only this table, e.g. telcopulse_silver.quarantine")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    runtime: RuntimeOption = None,
) -> None:
    """Compact, rewrite manifests, expire snapshots (keeping what the ledger and streams need), remove orphans."""
    from datetime import timedelta

    from catalog.tables import ALL_TABLES
    from pipelines.ops.maintain import MaintenancePolicy
    from pipelines.ops.maintain import maintain as run_maintenance
    from pipelines.spark import build_spark

    settings = _settings(runtime)
    configure_logging(settings.logs_dir, "maintain")
    policy = MaintenancePolicy(retain=timedelta(hours=retain_hours), orphan_age=timedelta(hours=orphan_age_hours))
    tables = [t for t in ALL_TABLES if not table or t.identifier in table]
    if table and len(tables) != len(set(table)):
        raise typer.BadParameter(f"--table must be among {[t.identifier for t in ALL_TABLES]}")
    reports = run_maintenance(build_spark(settings, "telcopulse-maintain"), settings, policy, tables=tables)
    for report in reports:
        typer.echo(json.dumps(report.as_dict()) if as_json else _maintenance_line(report.as_dict()))


def _maintenance_line(report: dict[str, object]) -> str:
    return (
        f"{report['table']}: compacted {report['rewritten_data_files']} -> {report['added_data_files']} files, "
        f"{report['rewritten_manifests']} manifests rewritten, snapshots {report['snapshots_before']} -> "
        f"{report['snapshots_after']} ({report['expiry_rule']}), {report['orphan_files_removed']} orphans removed"
    )


class RebuildLayer(StrEnum):
    SILVER = "silver"
    GOLD = "gold"


@app.command()
def rebuild(
    layer: Annotated[RebuildLayer, typer.Argument(help="silver (gold follows) or gold")],
    since: Annotated[
        str | None, typer.Option("--from", help="ISO time (UTC unless it has an offset); default: everything")
    ] = None,
    jobs_stopped: Annotated[
        bool, typer.Option("--jobs-stopped", help="on AWS: confirm the Glue jobs of silver and gold are stopped")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    runtime: RuntimeOption = None,
) -> None:
    """Recompute a layer from the layer below, exactly once (refused while its job runs). See docs/operations.md."""
    from pipelines.ops.rebuild import rebuild_gold, rebuild_silver

    settings = _settings(runtime)
    configure_logging(settings.logs_dir, "rebuild")
    moment = None
    if since is not None:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError as exc:
            raise typer.BadParameter(f"--from wants an ISO-8601 time, got {since!r}") from exc
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    run = rebuild_silver if layer is RebuildLayer.SILVER else rebuild_gold
    report = run(settings, since=moment, confirmed=jobs_stopped)
    typer.echo(json.dumps(report.as_dict()) if as_json else json.dumps(report.as_dict(), indent=2))


@app.command()
def start(
    csv: Annotated[Path | None, typer.Option(help="CSV to replay (default: the sample)")] = None,
    simulate_rate: Annotated[float, typer.Option(help="also simulate a fleet at this many readings/s")] = 0.0,
    with_dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="serve the dashboard")
    ] = True,
    port: Annotated[int, typer.Option(help="dashboard port (loopback)")] = 8501,
) -> None:
    """The whole pipeline locally: stack up, replay input, run bronze, silver and gold (and the dashboard).

    Runs until Ctrl-C, then stops everything it started, kinesalite included if it started it.
    """
    from pipelines.local import stack

    settings = _settings()
    configure_logging()
    stack_was_up = stack.recorded_pid(settings) is not None
    stack.up(settings)
    cli = [sys.executable, "-m", "pipelines.cli"]
    subprocess.run([*cli, "produce", "--csv", str(csv or SAMPLE_CSV)], check=True)
    children = [subprocess.Popen([*cli, "run", "all"])]
    if with_dashboard:
        children.append(subprocess.Popen([*cli, "dashboard", "--port", str(port)]))
    if simulate_rate > 0:
        children.append(
            subprocess.Popen(
                [
                    *cli,
                    "produce",
                    "--simulate",
                    "--rate",
                    str(simulate_rate),
                    "--duration",
                    str(365 * 24 * 3600),
                ]
            )
        )
    stop = _stop_on_signals()
    log.info(
        "TelcoPulse is running%s; Ctrl-C stops it",
        f", dashboard on http://127.0.0.1:{port}" if with_dashboard else "",
    )
    try:
        while not stop.is_set() and all(child.poll() is None for child in children[:1]):
            stop.wait(1.0)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=90)
            except subprocess.TimeoutExpired:
                child.kill()
        if not stack_was_up:
            stack.down(settings)
    raise typer.Exit(children[0].returncode or 0)


@app.command("setup-jars", hidden=True)
def setup_jars() -> None:
    """Resolve Spark's jars from Maven into the checkout's cache (run by `make setup`)."""
    from pipelines.spark import resolve_jars

    jars = resolve_jars(_settings())
    typer.echo(f"{len(jars)} jars cached")


@app.command()
def bench(
    smoke: Annotated[bool, typer.Option(help="tiny sizes, under a minute: keeps the harness working in CI")] = False,
    records: Annotated[int | None, typer.Option(help="backlog records of a full run (default 500,000)")] = None,
    step_seconds: Annotated[float, typer.Option(help="seconds of each rate step of a full run")] = 60.0,
    out: Annotated[
        Path | None, typer.Option(help="folder for <date>.json and .png (bench/results; smoke: build/bench-smoke)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="keep the benchmark's homes (temporary folders) for inspection")] = False,
) -> None:
    """Measure what TelcoPulse sustains on this machine and where the time goes; write a JSON report and a chart."""
    from pipelines.bench.runner import BenchConfig, run_bench

    configure_logging()
    if smoke:
        config = BenchConfig.smoke()
    else:
        config = BenchConfig.full(records=records or 500_000, step_seconds=step_seconds)
    default_out = Path("build/bench-smoke") if smoke else Path("bench/results")
    path = run_bench(config, out_dir=out or default_out, keep=keep)
    report = json.loads(path.read_text())
    for key, target in report["targets"].items():
        mark = "met" if target["met"] else "MISSED"
        typer.echo(f"{key:<28} {target['value']!s:>12} {target['unit']:<30} target {target['target']:>8}  {mark}")
    typer.echo(f"report: {path} and {path.with_suffix('.png')}")


def main() -> None:
    try:
        app()
    except TelcoPulseError as exc:
        typer.echo(f"telcopulse: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
