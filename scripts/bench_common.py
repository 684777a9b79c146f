"""Helpers shared by scripts/bench_webhook.py, bench_dispatch.py and bench_import.py.

Throw-away databases (a SQLite file in a temporary directory; a PostgreSQL database created and
dropped on the server), the benchmark clinic, a local Twilio stub, per-statement timing through
SQLAlchemy's cursor events, and the PASS/MISS and JSON plumbing. The benchmarks print figures
and exit 0 whatever they are; 1 only when they cannot measure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLINIC_SLUG = "bench"
CLINIC_SMS = "+13035550100"
CLINIC_PHONE = "+13035550101"
ONCALL = "+13035550199"
TIMEZONE = "America/Denver"
STATUS_CALLBACK = "https://bench.example.org/twilio/status"


class SetupFailed(RuntimeError):
    """Something the benchmark needs could not be set up: it cannot measure."""


# ---------------------------------------------------------------------------------------------
# Databases


@dataclass
class Database:
    """One throw-away database to benchmark on."""

    label: str
    url: str
    drop: Callable[[], None] | None = None

    @property
    def is_postgres(self) -> bool:
        """Return whether this is the PostgreSQL one."""
        return self.url.startswith("postgresql")


def sqlite_database(workdir: Path, name: str) -> Database:
    """Return a SQLite database in a new file in workdir (removed with workdir)."""
    path = workdir / f"{name}.db"

    def drop() -> None:
        for suffix in ("", "-wal", "-shm", ".writer-lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    return Database("SQLite", f"sqlite:///{path}", drop)


def postgres_admin(url: str) -> Any:
    """Return an AUTOCOMMIT engine on the server's maintenance database `postgres`."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(
        make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )


def postgres_reachable(url: str) -> str | None:
    """Return None when the server answers, else the first line of the error."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    admin = postgres_admin(url)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    finally:
        admin.dispose()
    return None


def postgres_database(url: str, prefix: str) -> Database:
    """Create a throw-away database <prefix>_<random> on the server; its drop() removes it."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = postgres_admin(url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()

    def drop() -> None:
        engine = postgres_admin(url)
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    return Database("PostgreSQL", db_url, drop)


def shown_url(url: str) -> str:
    """Return a URL with any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def wanted_databases(args: argparse.Namespace, script: str) -> list[str] | None:
    """Return the labels to run ("SQLite", "PostgreSQL"), saying loudly what is skipped.

    None when --postgres-only was asked for and PostgreSQL is unreachable (cannot measure).
    """
    labels: list[str] = []
    if not args.postgres_only:
        labels.append("SQLite")
    if not args.sqlite_only:
        problem = postgres_reachable(args.postgres_url)
        if problem is None:
            labels.append("PostgreSQL")
        elif args.postgres_only:
            print(
                f"{script}: --postgres-only but PostgreSQL is unreachable at "
                f"{shown_url(args.postgres_url)}: {problem}",
                file=sys.stderr,
            )
            return None
        else:
            print(
                f"\n!! PostgreSQL is unreachable at {shown_url(args.postgres_url)}: {problem}\n"
                "!! Skipping PostgreSQL; benchmarking SQLite only.\n",
                flush=True,
            )
    return labels


@contextmanager
def throwaway(label: str, workdir: Path, args: argparse.Namespace, name: str) -> Iterator[Database]:
    """Yield a new empty database of this kind; drop it afterwards."""
    db = (
        sqlite_database(workdir, name)
        if label == "SQLite"
        else postgres_database(args.postgres_url, f"clinicbot_{name}")
    )
    try:
        yield db
    finally:
        if db.drop is not None:
            db.drop()
            if db.is_postgres:
                print(f"  dropped the throw-away {db.label} database", flush=True)


def prepare_database(url: str, settings: dict[str, Any] | None = None) -> int:
    """Migrate the database to head and add the benchmark clinic; return its id."""
    from schedules.clinics import add_clinic
    from schedules.db import make_engine, make_session_factory, transaction
    from schedules.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            clinic = add_clinic(
                session,
                slug=CLINIC_SLUG,
                name="Bench Clinic",
                sms_number=CLINIC_SMS,
                phone=CLINIC_PHONE,
                timezone=TIMEZONE,
                oncall_number=ONCALL,
            )
            clinic.settings = dict(settings or {})
            session.flush()
            return int(clinic.id)
    finally:
        engine.dispose()


def analyze(engine: Any) -> None:
    """Refresh the PostgreSQL planner's statistics (what autovacuum would do, now)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------------------------------------
# Twilio stub


def _import_twilio_peer() -> Any:
    """Return tests/twilio_peer.py as a module, with the SDK's host rewriting turned off."""
    # TWILIO_EDGE / TWILIO_REGION make the SDK rewrite every host towards *.twilio.com.
    os.environ.pop("TWILIO_EDGE", None)
    os.environ.pop("TWILIO_REGION", None)
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import twilio_peer

    return twilio_peer


def twilio_credentials() -> tuple[str, str]:
    """Return the account SID and auth token the stub accepts."""
    peer = _import_twilio_peer()
    return peer.TEST_ACCOUNT_SID, peer.TEST_AUTH_TOKEN


class LocalStub:
    """A TwilioErrorStub (tests/twilio_peer.py) serving from a thread of this process."""

    def __init__(self) -> None:
        self._stub = _import_twilio_peer().TwilioErrorStub(host="127.0.0.1").start()
        self.base_url: str = self._stub.base_url
        self.where = "in this process"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Return every accepted send (form fields, AccountSid, Sid)."""
        return list(self._stub.requests)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Return every request that reached the endpoint."""
        return list(self._stub.attempts)

    def reset(self) -> None:
        """Forget the recorded requests (nothing is in flight: sends are synchronous)."""
        self._stub.requests.clear()
        self._stub.attempts.clear()

    def stop(self) -> None:
        """Stop serving."""
        self._stub.stop()


def _serve_stub(conn: Any) -> None:
    """Run a TwilioErrorStub in this (child) process and answer the parent's questions."""
    stub = LocalStub()
    conn.send(stub.base_url)
    while True:
        try:
            command = conn.recv()
        except EOFError:
            break
        if command == "requests":
            conn.send(stub.requests)
        elif command == "attempts":
            conn.send(stub.attempts)
        elif command == "reset":
            stub.reset()
            conn.send(True)
        elif command == "stop":
            break
    stub.stop()


class RemoteStub:
    """A TwilioErrorStub in its own process, as Twilio is: it never competes for our GIL.

    In-process, the stub's handler thread and the dispatcher share one interpreter lock, and
    every send waits for the thread to be scheduled again after the dispatcher's own work.
    """

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve_stub, args=(child,), name="twilio-stub", daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(60):
            self._process.kill()
            raise SetupFailed("the Twilio stub process did not start within 60s")
        self.base_url: str = self._conn.recv()
        self.where = f"in its own process (pid {self._process.pid})"

    def _ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Return every accepted send (form fields, AccountSid, Sid)."""
        return self._ask("requests")

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Return every request that reached the endpoint."""
        return self._ask("attempts")

    def reset(self) -> None:
        """Forget the recorded requests."""
        self._ask("reset")

    def stop(self) -> None:
        """Stop the stub process (ours: started above, ended by its own handle)."""
        with suppress(OSError):
            self._conn.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()


def twilio_stub(in_process: bool = False) -> LocalStub | RemoteStub:
    """Start a local Twilio stub on 127.0.0.1: in its own process unless in_process."""
    _import_twilio_peer()
    return LocalStub() if in_process else RemoteStub()


# ---------------------------------------------------------------------------------------------
# Statement timing


_SPACES = re.compile(r"\s+")


def statement_key(statement: str, width: int = 110) -> str:
    """Return a statement shortened to one line, for grouping and display."""
    text = _SPACES.sub(" ", statement).strip()
    # insertmanyvalues batches differ only in their VALUES lists.
    text = re.sub(r"VALUES \(.*", "VALUES (...)", text)
    text = re.sub(r"IN \(__\[POSTCOMPILE_\w+\]\)", "IN (...)", text)
    text = re.sub(r"IN \((?:[%$?:][\w()]*(?:, )?)+\)", "IN (...)", text)
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class StatementStat:
    """Executions of one statement: how many, total seconds, and the slowest one's parameters."""

    sql: str
    calls: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    slowest_params: Any = None

    @property
    def per_call_ms(self) -> float:
        """Return milliseconds per execution."""
        return self.seconds * 1000 / self.calls if self.calls else 0.0


@dataclass
class StatementTimer:
    """Times every statement an engine runs while attached, grouped by statement text."""

    stats: dict[str, StatementStat] = field(default_factory=dict)
    active: bool = False
    running: float = 0.0  # seconds in statements since recording started

    def attach(self, engine: Any) -> None:
        """Listen to engine's cursor events (stays attached; toggle with `active`)."""
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any):
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any):
            started = conn.info["bench_started"].pop()
            if not self.active:
                return
            elapsed = time.perf_counter() - started
            key = statement_key(statement)
            stat = self.stats.get(key)
            if stat is None:
                stat = self.stats[key] = StatementStat(key)
            stat.calls += 1
            stat.seconds += elapsed
            self.running += elapsed
            if elapsed >= stat.slowest:
                stat.slowest = elapsed
                stat.slowest_params = (statement, params, bool(many))

    @contextmanager
    def recording(self) -> Iterator[dict[str, StatementStat]]:
        """Record statements run inside the block into a fresh table."""
        self.stats = {}
        self.running = 0.0
        self.active = True
        try:
            yield self.stats
        finally:
            self.active = False

    @property
    def total(self) -> float:
        """Return the seconds spent in all recorded statements."""
        return sum(s.seconds for s in self.stats.values())


class TransactionTimer:
    """Wraps schedules.db.transaction: time to open, and to commit and close, each block.

    The commit time leaves out statements the commit's flush runs (those are in the statement
    timer); it is the COMMIT round trip (fsync on PostgreSQL) plus the session's bookkeeping.
    """

    def __init__(self, original: Callable[..., Any], statements: StatementTimer) -> None:
        self.original = original
        self.statements = statements
        self.blocks = 0
        self.opening = 0.0
        self.committing = 0.0

    @contextmanager
    def __call__(self, factory: Any) -> Iterator[Any]:
        """Run one transaction block, timing its edges."""
        started = time.perf_counter()
        manager = self.original(factory)
        session = manager.__enter__()
        self.opening += time.perf_counter() - started
        self.blocks += 1
        try:
            yield session
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
            return
        before, in_statements = time.perf_counter(), self.statements.running
        manager.__exit__(None, None, None)
        flushed = self.statements.running - in_statements
        self.committing += time.perf_counter() - before - flushed


class GcTimer:
    """Adds up the time the cyclic garbage collector runs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1

    @contextmanager
    def recording(self) -> Iterator[GcTimer]:
        """Time collections inside the block."""
        import gc

        gc.callbacks.append(self._callback)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._callback)


def explain(engine: Any, statement: str, params: Any) -> str:
    """Return the query plan of one recorded statement (nothing is executed)."""
    prefix = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            cursor.execute(prefix + statement, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
            connection.rollback()
    if engine.dialect.name == "postgresql":
        return "\n".join(str(row[0]) for row in rows)
    return "\n".join(str(row[-1]) for row in rows)


# ---------------------------------------------------------------------------------------------
# Figures


def mark(ok: bool) -> str:
    """Return PASS or MISS."""
    return "PASS" if ok else "MISS"


def median(values: list[float]) -> float:
    """Return the median of values."""
    return statistics.median(values) if values else 0.0


def load_average() -> float:
    """Return the 1-minute load average (other work on the machine skews the figures)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def print_table(header: list[str], rows: list[list[str]], widths: list[int]) -> None:
    """Print a table: the first column left-aligned, the others right-aligned."""

    def line(cells: list[str]) -> str:
        return " ".join(
            f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    top = line(header)
    print(top)
    print("-" * len(top))
    for row in rows:
        print(line(row))


def write_json(path: Path | None, data: Any) -> None:
    """Write the figures as JSON when --json was given."""
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"\nFigures written to {path}")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add --sqlite-only, --postgres-only, --postgres-url, --json and --keep."""
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    only.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
        help="PostgreSQL server to create the throw-away databases on "
        "(BENCH_POSTGRES_URL, TEST_POSTGRES_URL, or the local server)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
