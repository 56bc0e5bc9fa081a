"""Flat, condition-named exceptions. Catch them only at a job or CLI boundary."""

from __future__ import annotations


class TelcoPulseError(Exception):
    """Base of every error TelcoPulse raises on purpose."""


class SchemaMismatchError(TelcoPulseError):
    """A DataFrame lacks columns a step needs."""

    def __init__(self, step: str, missing: list[str]) -> None:
        super().__init__(f"{step} needs columns {sorted(missing)} that the input lacks")
        self.missing = missing


class StackNotRunningError(TelcoPulseError):
    """The local stack (kinesalite) is not reachable."""


class JobAlreadyRunningError(TelcoPulseError):
    """Another process holds this job's lock: two copies of one job must never write at once."""


class SetupMissingError(TelcoPulseError):
    """A cache that `make setup` fills (Spark jars, DuckDB extensions) is missing."""


class QueryEngineError(TelcoPulseError):
    """The SQL engine behind the dashboard or `telcopulse sql` failed or is unreachable."""
