"""Engine and session construction for SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine, configuring SQLite for several writing processes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Make the pool replace a PostgreSQL connection the server has closed, without a round trip.

    A pooled connection sits idle between requests, so the server has nothing to say on it
    unless it is closing it (a restart, pg_terminate_backend, an idle timeout): then the socket
    turns readable. pool_pre_ping would ask with a query, a round trip on every checkout.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the pooled connection is closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed, or wrote on, an idle pooled connection")


def _configure_sqlite(engine: Engine) -> None:
    """Turn on WAL, a busy timeout, foreign keys and write-locking transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another process wrote in between; IMMEDIATE waits for the busy timeout.
        # Straight to the driver: every webhook request begins here.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to engine."""
    return sessionmaker(bind=engine, expire_on_commit=False)


class SQLiteWriterLock:
    """Serialises writing transactions on one SQLite file across threads and processes.

    SQLite's own busy handler polls with sleeps of up to 100 ms, which is what a webhook's p99
    would measure; an exclusive flock on a file beside the database wakes the next writer as
    soon as the lock is released.
    """

    def __init__(self, database_path: str) -> None:
        self._path = database_path + ".writer-lock"
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid: int | None = None

    def _descriptor(self) -> int:
        """Return this process's descriptor for the lock file, reopening it after a fork."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        with self._thread_lock:
            fd = self._descriptor()
            if self._depth == 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)


_WRITER_LOCKS: dict[str, SQLiteWriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> SQLiteWriterLock | None:
    """Return the writer lock for a file-backed SQLite engine, None for other databases."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    if engine.url.database == ":memory:":
        return None
    path = os.path.abspath(engine.url.database)
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(path)
        if lock is None:
            lock = _WRITER_LOCKS[path] = SQLiteWriterLock(path)
    return lock


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session whose work is committed on success and rolled back on error."""
    bind = factory.kw.get("bind")
    lock = writer_lock(bind) if isinstance(bind, Engine) else None
    if lock is None:
        with factory() as session, session.begin():
            yield session
        return
    with lock.held(), factory() as session, session.begin():
        yield session


@contextmanager
def connection_transaction(engine: Engine) -> Iterator[Connection]:
    """Yield a connection whose work is committed on success and rolled back on error."""
    lock = writer_lock(engine)
    # The SQLite writer lock covers the transaction only: taking the connection from the pool
    # and giving it back are no writer's business.
    with (
        engine.connect() as connection,
        lock.held() if lock else nullcontext(),
        connection.begin(),
    ):
        yield connection


class ConnectionTransactions:
    """One connection kept across many short write transactions, each under the writer lock.

    For a loop of small transactions (one text at a time): checking a connection out of the
    pool and building a Session for each would cost more than the statements.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        bind = factory.kw.get("bind")
        if not isinstance(bind, Engine):
            raise TypeError("the session factory must be bound to an engine")
        self._engine = bind
        self._lock = writer_lock(bind)
        self._connection: Connection | None = None

    @property
    def dialect_name(self) -> str:
        """Return the database's dialect name."""
        return self._engine.dialect.name

    def _connect(self) -> Connection:
        """Return the kept connection, checking one out the first time."""
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield the connection inside a transaction committed on success, rolled back on error."""
        connection = self._connect()
        with self._lock.held() if self._lock else nullcontext(), connection.begin():
            yield connection

    def autocommit(self) -> Connection:
        """Return the connection in autocommit, for work that is one statement (not SQLite)."""
        if self._lock is not None or self.dialect_name == "sqlite":
            raise TypeError("SQLite's writers take the writer lock: use transaction()")
        connection = self._connect()
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection = self._connection = connection.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return connection

    def close(self) -> None:
        """Give the connection back to the pool."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def is_postgresql(engine: Engine) -> bool:
    """Return whether engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"
