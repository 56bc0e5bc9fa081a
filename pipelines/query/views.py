"""Analyst views: Athena (Trino) SQL in ``catalog/views``, one ``CREATE OR REPLACE VIEW`` per file.

Athena runs the files as written; the local DuckDB engine runs them transpiled by sqlglot, so both engines
answer the same view names with the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import sqlglot
from sqlglot import exp

VIEWS_DIR = Path(str(files("catalog.views")))


class ViewDefinitionError(ValueError):
    """A view file is not exactly one Trino ``CREATE OR REPLACE VIEW`` statement."""


@dataclass(frozen=True)
class AnalystView:
    """One view: its Glue name (``telcopulse_gold.v_...``), its statement, the tables it reads, and the
    file's leading comment as its description (kept out of the statement that engines run)."""

    name: str
    trino_sql: str
    tables: tuple[str, ...]
    description: str = ""

    @property
    def duckdb_sql(self) -> str:
        return sqlglot.transpile(self.trino_sql, read="trino", write="duckdb")[0]


def parse_view(sql: str, *, source: str = "<sql>") -> AnalystView:
    """Parse one view file as Trino and name the view and the tables it reads.

    Raises:
        ViewDefinitionError: the file holds something other than one ``CREATE OR REPLACE VIEW``.
    """
    statements = [statement for statement in sqlglot.parse(sql, read="trino") if statement is not None]
    if len(statements) != 1:
        raise ViewDefinitionError(f"{source}: expected one statement, found {len(statements)}")
    create = statements[0]
    if not isinstance(create, exp.Create) or create.kind != "VIEW" or not create.args.get("replace"):
        raise ViewDefinitionError(f"{source}: expected CREATE OR REPLACE VIEW")
    target = create.this
    if not isinstance(target, exp.Table) or not target.db:
        raise ViewDefinitionError(f"{source}: the view needs a schema-qualified name (telcopulse_gold.v_...)")
    view_name = f"{target.db}.{target.name}"
    query = create.expression
    ctes = {cte.alias for cte in query.find_all(exp.CTE)}
    tables = sorted({f"{t.db}.{t.name}" for t in query.find_all(exp.Table) if t.db and t.name not in ctes})
    lines = sql.strip().splitlines()
    comment = lines[: _leading_comment_lines(lines)]
    statement = "\n".join(lines[len(comment) :]).strip().rstrip(";").strip()
    description = " ".join(line.lstrip("-").strip() for line in comment).strip()
    return AnalystView(name=view_name, trino_sql=statement, tables=tuple(tables), description=description)


def _leading_comment_lines(lines: list[str]) -> int:
    count = 0
    for line in lines:
        if not line.strip().startswith("--"):
            break
        count += 1
    return count


@cache
def analyst_views(directory: Path = VIEWS_DIR) -> tuple[AnalystView, ...]:
    """Every view in ``directory``, ordered so that a view comes after the views it reads."""
    views = [parse_view(path.read_text(), source=path.name) for path in sorted(directory.glob("*.sql"))]
    ordered: list[AnalystView] = []
    pending = list(views)
    names = {view.name for view in views}
    while pending:
        done = {view.name for view in ordered}
        ready = [v for v in pending if all(t not in names or t in done for t in v.tables)]
        if not ready:
            raise ViewDefinitionError(f"views read each other in a cycle: {[v.name for v in pending]}")
        ordered.extend(ready)
        pending = [v for v in pending if v not in ready]
    return tuple(ordered)
