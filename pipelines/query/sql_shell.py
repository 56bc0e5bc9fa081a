"""`telcopulse sql`: one query or a prompt over the query engine, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

import pyarrow as pa

from pipelines.errors import TelcoPulseError
from pipelines.ports import QueryEngine

PROMPT = "telcopulse> "
CONTINUATION = "        -> "
QUIT_COMMANDS = frozenset({"\\q", "quit", "exit"})
MAX_CELL_WIDTH = 60


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _json_value(value: Any) -> Any:
    """JSON has no decimal, time or bytes: integral decimals become ints, others floats, times ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


def _text_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(_json_value(value))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def format_json(table: pa.Table) -> str:
    """A JSON list with one object per row, keys in column order."""
    return json.dumps([{key: _json_value(value) for key, value in row.items()} for row in table.to_pylist()])


def format_csv(table: pa.Table) -> str:
    """RFC 4180 CSV with a header row; NULL is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow("" if value is None else _text_value(value) for value in row.values())
    return buffer.getvalue().rstrip("\n")


def format_table(table: pa.Table) -> str:
    """Aligned columns for a terminal (numbers right-aligned), then the row count."""
    names = table.column_names
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        for t in table.schema.types
    ]
    cells = [[_text_value(value)[:MAX_CELL_WIDTH] for value in row.values()] for row in table.to_pylist()]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]

    def line(values: list[str]) -> str:
        return " | ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    rows = table.num_rows
    footer = f"({rows} row{'s' if rows != 1 else ''})"
    return "\n".join([line(names), rule, *(line(row) for row in cells), footer])


FORMATTERS = {OutputFormat.TABLE: format_table, OutputFormat.CSV: format_csv, OutputFormat.JSON: format_json}


def run_query(engine: QueryEngine, sql: str, output: OutputFormat = OutputFormat.TABLE) -> str:
    """The result of one query, formatted."""
    return FORMATTERS[output](engine.query(sql))


def split_statements(lines: Iterable[str]) -> Iterator[str]:
    """Statements from prompt lines: a statement ends with ``;`` at the end of a line, or at end of input."""
    pending: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if not pending and line.strip().lower() in QUIT_COMMANDS:
            return
        if not pending and not line.strip():
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(pending).strip().rstrip(";").strip()
            pending = []
            if statement:
                yield statement
    statement = "\n".join(pending).strip().rstrip(";").strip()
    if statement:
        yield statement


def interactive(
    engine: QueryEngine, lines: Iterable[str], out: TextIO, err: TextIO, output: OutputFormat, *, prompt: bool
) -> int:
    """Run every statement read from ``lines``; a failing one is reported and the prompt goes on.

    Returns:
        The number of statements that failed (the CLI's exit status is non-zero when any did).
    """
    failures = 0

    def prompted() -> Iterator[str]:
        # Resumed only after the line's statement (if it ended one) has run: the prompt follows its output.
        for line in lines:
            yield line
            if prompt:
                statement_ended = line.rstrip().endswith(";") or not line.strip()
                err.write(PROMPT if statement_ended else CONTINUATION)
                err.flush()

    if prompt:
        err.write(PROMPT)
        err.flush()
    for statement in split_statements(prompted()):
        try:
            out.write(run_query(engine, statement, output) + "\n")
            out.flush()
        except TelcoPulseError as exc:
            failures += 1
            err.write(f"error: {exc}\n")
            err.flush()
    return failures
