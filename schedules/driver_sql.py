"""Core statements compiled once per dialect and run straight on the DBAPI cursor.

The webhook and the dispatcher run the same handful of statements thousands of times; going
through SQLAlchemy's execution machinery each time costs several times what the database does.
A DriverStatement keeps SQLAlchemy as the author of the SQL (one statement, every dialect) and
of the parameter conversion (each bind type's own processor), and skips the rest. It runs inside
the caller's transaction, on the DBAPI connection behind the caller's Connection or Session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import BindParameter, Executable

# Rows given to one executemany by BulkInsert.write.
CHUNK = 1000
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

    def first_row(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run the statement in the caller's transaction and return its first row, if any.

        Rows come back as the driver gives them: read only plain columns (integers, strings,
        booleans, which SQLite returns as 0/1) or compare in SQL.
        """
        cursor = _cursor(connection)
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
        cursor = _cursor(connection)
        try:
            cursor.execute(
                self._for(connection.dialect).sql, self.parameters(connection.dialect, values)
            )
            return int(cursor.rowcount)
        finally:
            cursor.close()


class BulkInsert:
    """Many rows inserted into some columns of one table: COPY on PostgreSQL, else executemany.

    Each value is converted by its column's bind type, as any insert would convert it, and the
    other columns get their scalar Python-side defaults. COPY because PostgreSQL handles an
    executemany as one INSERT per row: an import's hundreds of thousands of rows cost it seconds
    of statement handling that COPY does not do.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self._table = table
        self.defaults: dict[str, Any] = {}
        for column in table.columns:
            default = column.default
            if column.name in columns or default is None:
                continue
            if not getattr(default, "is_scalar", False):
                raise ValueError(f"{table.name}.{column.name} has a computed default: name it")
            self.defaults[column.name] = default.arg  # type: ignore[attr-defined]
        self.names = (*columns, *self.defaults)
        self._insert = DriverStatement(insert(table).values(bound_columns(table, self.names)))
        self._copies: dict[str, tuple[str, list[str]]] = {}

    def write(
        self,
        connection: Connection,
        rows: Iterable[Mapping[str, Any]],
        remembered: Mapping[str, dict[Any, Any]] | None = None,
    ) -> None:
        """Insert rows (each naming every column given) in the caller's transaction.

        rows may be a generator: it is read CHUNK rows at a time. remembered maps columns whose
        values recur, and whose conversion gives equal values equal results, to the caller's
        dict of conversions, kept across calls: each distinct value is converted once.
        """
        with self.writing(connection, remembered) as writer:
            writer.write(rows)

    @contextmanager
    def writing(
        self, connection: Connection, remembered: Mapping[str, dict[Any, Any]] | None = None
    ) -> Iterator[BulkWriter]:
        """Yield a writer of rows as write() takes them; they are all stored when the block ends.

        On PostgreSQL the database stores the rows while the block goes on: work the block does
        after writing (no statements: the connection is busy copying) overlaps with the
        database's. Elsewhere each write is stored at once.
        """
        compiled = self._insert._for(connection.dialect)
        processors = {
            name: _remembering(processor, remembered[name])
            if remembered and name in remembered
            else processor
            for name, processor in compiled.processors.items()
        }
        dialect = connection.dialect
        copy = self._copy_statement(dialect) if dialect.name == "postgresql" else None
        cursor = _cursor(connection)
        try:
            with ExitStack() as copying:
                yield BulkWriter(self, cursor, compiled, processors, copy, copying)
        finally:
            cursor.close()

    def _copy_statement(self, dialect: Dialect) -> tuple[str, list[str]]:
        """Return the binary COPY statement for the columns and their PostgreSQL type names."""
        copy = self._copies.get(dialect.name)
        if copy is None:
            preparer = dialect.identifier_preparer
            columns = ", ".join(preparer.quote(name) for name in self.names)
            table = preparer.format_table(self._table)
            sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
            types = [
                self._table.c[name].type.compile(dialect=dialect).split("(")[0].strip().lower()
                for name in self.names
            ]
            copy = self._copies[dialect.name] = (sql, types)
        return copy


class BulkWriter:
    """Writes rows for one BulkInsert.writing block (see there)."""

    def __init__(
        self,
        bulk: BulkInsert,
        cursor: Any,
        compiled: _Compiled,
        processors: Mapping[str, Callable[[Any], Any]],
        copy: tuple[str, list[str]] | None,
        copying: ExitStack,
    ) -> None:
        self._bulk = bulk
        self._cursor = cursor
        self._compiled = compiled
        self._processors = processors
        self._copy_statement = copy
        self._copying = copying
        self._copy: Any = None

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows (each naming every column given); a generator is read as it goes."""
        names, defaults, processors = self._bulk.names, self._bulk.defaults, self._processors
        pending = iter(rows)
        first = next(pending, None)
        if first is None:
            return
        pending = chain((first,), pending)
        if self._copy_statement is not None:
            if self._copy is None:
                # Opened at the first row: a block that writes none costs no round trip.
                sql, types = self._copy_statement
                self._copy = self._copying.enter_context(self._cursor.copy(sql))
                self._copy.set_types(types)
            for values in _in_order(pending, names, processors, defaults):
                self._copy.write_row(values)
            return
        order = self._compiled.positional or names
        while chunk := list(islice(pending, CHUNK)):
            parameters: list[Any] = list(_in_order(chunk, order, processors, defaults))
            if self._compiled.positional is None:
                parameters = [dict(zip(order, values, strict=True)) for values in parameters]
            self._cursor.executemany(self._compiled.sql, parameters)


def _cursor(connection: Connection) -> Any:
    """Return a cursor of the DBAPI connection behind connection."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _in_order(
    rows: Iterable[Mapping[str, Any]],
    names: Sequence[str],
    processors: Mapping[str, Callable[[Any], Any]],
    defaults: Mapping[str, Any],
) -> Iterator[list[Any]]:
    """Yield each row's values of names (defaults for those it lacks), converted by processors."""
    steps = [(name, processors.get(name)) for name in names]
    for row in rows:
        if defaults:
            row = {**defaults, **row}
        yield [row[name] if convert is None else convert(row[name]) for name, convert in steps]


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
