"""Core statements compiled once per dialect and run straight on the DBAPI cursor.

The webhook and the dispatcher run the same handful of statements thousands of times; going
through SQLAlchemy's execution machinery each time costs several times what the database does.
A DriverStatement keeps SQLAlchemy as the author of the SQL (one statement, every dialect) and
of the parameter conversion (each bind type's own processor), and skips the rest. It runs inside
the caller's transaction, on the DBAPI connection behind the caller's Connection or Session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import BindParameter, Executable

# Conversions remembered for one column; forgotten all at once past this many.
REMEMBERED_LIMIT = 4096


def bound_columns(table: Table, names: Sequence[str]) -> dict[str, BindParameter[Any]]:
    """Return a bind parameter of each named column's own type, named like the column."""
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


@dataclass(frozen=True)
class _Compiled:
    """One statement's SQL for one dialect, with how to turn named values into its parameters."""

    sql: str
    positional: tuple[str, ...] | None  # the parameter order for a positional paramstyle
    defaults: Mapping[str, Any]  # values compiled into the statement (literals in .values())
    processors: Mapping[str, Callable[[Any], Any]]


class DriverStatement:
    """A Core statement run on the DBAPI cursor, its parameters converted by their bind types."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        """Return the statement compiled for dialect, compiling it the first time."""
        compiled = self._compiled.get(dialect.name)
        if compiled is not None:
            return compiled
        with self._lock:
            if dialect.name in self._compiled:
                return self._compiled[dialect.name]
            sa_compiled: Any = self._statement.compile(dialect=dialect)
            processors = {}
            for name, bind in sa_compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            defaults = {
                name: bind.value
                for name, bind in sa_compiled.binds.items()
                if not bind.required and bind.value is not None
            }
            positional = tuple(sa_compiled.positiontup) if sa_compiled.positional else None
            compiled = _Compiled(sa_compiled.string, positional, defaults, processors)
            self._compiled[dialect.name] = compiled
        return compiled

    def sql(self, dialect: Dialect) -> str:
        """Return the statement's SQL for dialect."""
        return self._for(dialect).sql

    def parameters(self, dialect: Dialect, values: Mapping[str, Any]) -> Sequence[Any] | dict:
        """Return the DBAPI parameters for values, converted by each bind's type."""
        compiled = self._for(dialect)
        return _parameters(compiled, compiled.processors, values)

    def _cursor(self, connection: Connection) -> Any:
        """Return a cursor of the DBAPI connection behind connection."""
        return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def first_row(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run the statement in the caller's transaction and return its first row, if any.

        Rows come back as the driver gives them: read only plain columns (integers, strings,
        booleans, which SQLite returns as 0/1) or compare in SQL.
        """
        cursor = self._cursor(connection)
        try:
            cursor.execute(
                self._for(connection.dialect).sql, self.parameters(connection.dialect, values)
            )
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def run(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run the statement in the caller's transaction and return how many rows it changed."""
        cursor = self._cursor(connection)
        try:
            cursor.execute(
                self._for(connection.dialect).sql, self.parameters(connection.dialect, values)
            )
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def executemany(
        self,
        connection: Connection,
        rows: Sequence[Mapping[str, Any]],
        remembered: Mapping[str, dict[Any, Any]] | None = None,
    ) -> None:
        """Run the statement once per row of values, in one DBAPI executemany.

        remembered maps columns whose values recur, and whose conversion gives equal values
        equal results, to the caller's dict of conversions, kept across calls: each distinct
        value is converted once.
        """
        if not rows:
            return
        compiled = self._for(connection.dialect)
        processors = {
            name: _remembering(processor, remembered[name])
            if remembered and name in remembered
            else processor
            for name, processor in compiled.processors.items()
        }
        if compiled.positional is not None and not compiled.defaults:
            # Every value is named in each row here, so no merged copy of the row is needed.
            steps = [(name, processors.get(name)) for name in compiled.positional]
            parameters: list[Any] = [
                [row[name] if convert is None else convert(row[name]) for name, convert in steps]
                for row in rows
            ]
        else:
            parameters = [_parameters(compiled, processors, row) for row in rows]
        cursor = self._cursor(connection)
        try:
            cursor.executemany(compiled.sql, parameters)
        finally:
            cursor.close()


def _parameters(
    compiled: _Compiled,
    processors: Mapping[str, Callable[[Any], Any]],
    values: Mapping[str, Any],
) -> Sequence[Any] | dict:
    """Return the DBAPI parameters for values, converted by processors."""
    merged = {**compiled.defaults, **values} if compiled.defaults else dict(values)
    for name, processor in processors.items():
        if name in merged:
            merged[name] = processor(merged[name])
    if compiled.positional is None:
        return merged
    return [merged[name] for name in compiled.positional]


def _remembering(processor: Callable[[Any], Any], answers: dict[Any, Any]) -> Callable[[Any], Any]:
    """Return processor looking its answer up in answers first, and keeping each new one there."""

    def convert(value: Any) -> Any:
        try:
            return answers[value]
        except KeyError:
            if len(answers) >= REMEMBERED_LIMIT:
                answers.clear()
            answer = answers[value] = processor(value)
            return answer

    return convert
