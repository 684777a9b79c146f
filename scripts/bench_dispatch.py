"""Benchmark reminder dispatch: send throughput, and how a tick scales with the queue's size.

`make bench` runs this after scripts/bench_webhook.py. It is a benchmark, not a test: it prints
figures and the targets they meet or miss, and exits 0 whatever they are. It exits 1 only when
it cannot measure (a database cannot be set up, --postgres-only without PostgreSQL).

For each database (SQLite in a temporary file; PostgreSQL in throw-away databases created and
dropped on the server given by --postgres-url):

A. Throughput. N (3,000) patients with SMS consent, each with one scheduled visit and one reminder
   due now (2/3 arrival texts for a visit this afternoon, 1/3 check-ins for a visit yesterday,
   iv and nasal, 20% Spanish), in a clinic with send_rate_per_second = 0 (no limit) and `now` at
   12:00 clinic time, inside the send window. `dispatch_due` sends them through the real
   TwilioSender to a local TwilioErrorStub (tests/twilio_peer.py), served from its own process
   like Twilio (--in-process-stub: from a thread of this one). The baseline is a bare loop of the
   Twilio SDK (`Client(...).messages.create(...)`, `client.api.base_url` on the same stub)
   sending the same N texts, run before and after dispatch; their mean is the baseline.
   Checks after: every reminder `sent` once, one stub request per patient with the stored body.
   Target: dispatch texts/s >= 0.5 x bare. Then (unless --no-breakdown) the same reminders are
   reset and dispatched again: once with the hand-over steps, other statements, commits and
   sends timed, then with a no-op sender and, on PostgreSQL, with synchronous_commit off and with
   pool_pre_ping on, to show what each cost is worth. On PostgreSQL the next text's `sending`
   mark runs on a second thread during the current send: those two timings overlap, and with
   them the parts can add up to more than the wall time.

B. Due-query scaling. One dispatch tick with nothing due ("empty", at 10:00) and with ~100
   reminders due ("busy", at noon; reset to pending between runs), timed on two databases that
   differ only in their queue of future pending reminders: 1,000 and 1,000,000 (bulk-inserted
   with Core executemany; ANALYZE on PostgreSQL). The two are timed in turn, so that other work
   on the machine weighs on both alike; each figure is the median of --runs. Target: 1M / 1k
   <= 1.5 for both ticks, which only holds when every statement in the tick is indexed.
   Statements whose time per call grows are listed with their query plan (EXPLAIN on
   PostgreSQL, EXPLAIN QUERY PLAN on SQLite).

Usage: .venv/bin/python scripts/bench_dispatch.py [--sqlite-only | --postgres-only]
       [--part a|b|all] [--reminders 3000] [--future 1000000] [--runs 7] [--profile]
       [--postgres-url URL] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bench_common as common
from bench_common import (
    CLINIC_SMS,
    STATUS_CALLBACK,
    SetupFailed,
    StatementStat,
    StatementTimer,
    mark,
    median,
)

ZONE = ZoneInfo(common.TIMEZONE)
# A Wednesday at noon, clinic time: inside the default 09:00-20:00 send window.
NOW = datetime(2027, 1, 13, 12, 0, tzinfo=ZONE).astimezone(UTC)
SETTINGS = {"send_rate_per_second": 0}
WARMUP_SENDS = 200
SPANISH_SHARE = 0.2
INSERT_CHUNK = 50_000

TARGET_RATIO = 0.5  # dispatch texts/s over bare SDK texts/s, at least
TARGET_SCALING = 1.5  # tick time with 1M future reminders over with 1k, at most
GROWN = 1.5  # a statement whose time per call grew more than this is listed (and explained)
GROWN_MIN_MS = 0.2  # ... when it takes at least this long per call at the large size


# ---------------------------------------------------------------------------------------------
# Rows


def phone_of(index: int) -> str:
    """Return the index-th distinct patient number: +1720555xxxx, then +1719555xxxx, ..."""
    prefixes = ("+1720555", "+1719555", "+1970555", "+1303556", "+1720556", "+1719556")
    if index >= 10_000 * len(prefixes):
        raise SetupFailed(f"at most {10_000 * len(prefixes):,} patients")
    return f"{prefixes[index // 10_000]}{index % 10_000:04d}"


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Return a clinic wall-clock time as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def insert_patients(engine: Any, clinic_id: int, count: int, rng: random.Random) -> list[int]:
    """Insert count consenting patients; return their ids in phone order."""
    from sqlalchemy import insert, select

    from schedules.models import Patient

    consent_at = NOW - timedelta(days=30)
    rows = [
        {
            "clinic_id": clinic_id,
            "phone": phone_of(i),
            "name": f"Patient {i:05d}",
            "language": "es" if rng.random() < SPANISH_SHARE else "en",
            "consent_at": consent_at,
            "consent_method": "clinic",
            "consent_number": phone_of(i),
            "opted_out": False,
            "texts_in_window": 0,
            "created_at": consent_at,
        }
        for i in range(count)
    ]
    with engine.begin() as connection:
        for start in range(0, len(rows), INSERT_CHUNK):
            connection.execute(insert(Patient), rows[start : start + INSERT_CHUNK])
        ids = dict(connection.execute(select(Patient.phone, Patient.id)).all())
    return [ids[phone_of(i)] for i in range(count)]


def due_rows(
    clinic_id: int, patient_ids: list[int], rng: random.Random, prefix: str, arrival_only: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return appointment and reminder rows: one reminder due at NOW per patient.

    Two in three are arrival texts for a visit at 14:00-15:00 today (due three hours before,
    11:00-12:00); one in three check-ins for a visit yesterday (due 10:00 today). Times come
    from the planner, as sync_reminders would store them.
    """
    from schedules.planner import (
        ARRIVAL,
        CHECKIN,
        TimingSettings,
        arrival_due_at,
        checkin_due_at,
        kind_expiry,
        visit_times,
    )

    timing = TimingSettings()
    today = NOW.astimezone(ZONE).date()
    appointments: list[dict[str, Any]] = []
    reminders: list[dict[str, Any]] = []
    for i, patient_id in enumerate(patient_ids):
        treatment = "iv" if rng.random() < 0.6 else "nasal"
        if arrival_only or i % 3 != 2:
            kind = ARRIVAL
            start = local(today, 14) + timedelta(minutes=15 * (i % 5))
            times = visit_times(start, treatment, timing, ZONE)
            due = arrival_due_at(times, ZONE, timing)
        else:
            kind = CHECKIN
            start = local(today - timedelta(days=1), 9 + (i % 16) // 2, 30 * (i % 2))
            times = visit_times(start, treatment, timing, ZONE)
            due = checkin_due_at(start, ZONE, timing)
        if not due <= NOW < kind_expiry(kind, times):
            raise SetupFailed(f"bench row {i}: {kind} due {due} is not due and live at {NOW}")
        appointment_id = len(appointments) + 1
        appointments.append(
            {
                "id": appointment_id,
                "clinic_id": clinic_id,
                "external_id": f"{prefix}-{i}",
                "patient_id": patient_id,
                "starts_at": start,
                "duration_minutes": 60,
                "treatment": treatment,
                "status": "scheduled",
                "created_at": NOW - timedelta(days=20),
            }
        )
        reminders.append(
            {
                "clinic_id": clinic_id,
                "appointment_id": appointment_id,
                "patient_id": patient_id,
                "kinds": kind,
                "due_at": due,
                "expires_at": kind_expiry(kind, times),
                "planned_start": start,
                "status": "pending",
                "attempts": 0,
                "created_at": NOW - timedelta(days=20),
            }
        )
    return appointments, reminders


def insert_rows(engine: Any, appointments: list[dict[str, Any]], reminders: list[dict[str, Any]]):
    """Bulk-insert appointments (explicit ids) and reminders with Core executemany."""
    from sqlalchemy import insert

    from schedules.models import Appointment, Reminder

    with engine.begin() as connection:
        for start in range(0, len(appointments), INSERT_CHUNK):
            connection.execute(insert(Appointment), appointments[start : start + INSERT_CHUNK])
        for start in range(0, len(reminders), INSERT_CHUNK):
            connection.execute(insert(Reminder), reminders[start : start + INSERT_CHUNK])
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('appointments', 'id'), "
                "(SELECT max(id) FROM appointments))"
            )


def future_rows(
    clinic_id: int,
    patient_ids: list[int],
    first_appointment_id: int,
    count: int,
    rng: random.Random,
) -> Any:
    """Yield chunks of (appointments, reminders): count pending reminders, none due at NOW.

    Visits from tomorrow to two years out, 09:00-17:00 clinic time, three reminders each at the
    planner's usual distances (fasting the evening before, arrival three hours before, check-in
    the next morning).
    """
    today = NOW.astimezone(ZONE).date()
    appointment_id = first_appointment_id
    made = 0
    while made < count:
        appointments: list[dict[str, Any]] = []
        reminders: list[dict[str, Any]] = []
        while made < count and len(reminders) < INSERT_CHUNK:
            day = today + timedelta(days=rng.randint(1, 730))
            start = local(day, rng.randint(9, 16), rng.choice((0, 15, 30, 45)))
            treatment = "iv" if rng.random() < 0.6 else "nasal"
            fasting_hours = 6 if treatment == "iv" else 2
            appointments.append(
                {
                    "id": appointment_id,
                    "clinic_id": clinic_id,
                    "external_id": f"F-{appointment_id}",
                    "patient_id": patient_ids[appointment_id % len(patient_ids)],
                    "starts_at": start,
                    "duration_minutes": 60,
                    "treatment": treatment,
                    "status": "scheduled",
                    "created_at": NOW - timedelta(days=1),
                }
            )
            for kind, due, expires in (
                ("fasting", start - timedelta(hours=18), start - timedelta(hours=fasting_hours)),
                ("arrival", start - timedelta(hours=3), start),
                ("checkin", start + timedelta(hours=20), start + timedelta(hours=44)),
            ):
                if made >= count:
                    break
                reminders.append(
                    {
                        "clinic_id": clinic_id,
                        "appointment_id": appointment_id,
                        "patient_id": appointments[-1]["patient_id"],
                        "kinds": kind,
                        "due_at": due,
                        "expires_at": expires,
                        "planned_start": start,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": NOW - timedelta(days=1),
                    }
                )
                made += 1
            appointment_id += 1
        yield appointments, reminders


# ---------------------------------------------------------------------------------------------
# Sending


def sdk_client(base_url: str) -> Any:
    """Return a Twilio SDK client pointed at the stub, as the bare loop uses it."""
    from twilio.rest import Client

    sid, token = common.twilio_credentials()
    client = Client(sid, token)
    client.api.base_url = base_url
    client.edge = None
    client.region = None
    return client


def twilio_sender(base_url: str) -> Any:
    """Return ClinicBot's TwilioSender pointed at the stub."""
    from bot.senders import TwilioSender

    sid, token = common.twilio_credentials()
    return TwilioSender(sid, token, default_from=CLINIC_SMS, api_base_url=base_url)


def reset_stub(stub: Any) -> None:
    """Forget what the stub recorded (nothing is in flight: all sends are synchronous)."""
    stub.reset()


def bare_loop(stub: Any, texts: list[tuple[str, str]]) -> float:
    """Send texts with a bare SDK loop after a warm-up; return texts per second."""
    client = sdk_client(stub.base_url)
    for i in range(WARMUP_SENDS):
        client.messages.create(
            to=f"+1720557{i:04d}", from_=CLINIC_SMS, body="warm-up", status_callback=STATUS_CALLBACK
        )
    reset_stub(stub)
    started = time.perf_counter()
    for to, body in texts:
        client.messages.create(to=to, from_=CLINIC_SMS, body=body, status_callback=STATUS_CALLBACK)
    elapsed = time.perf_counter() - started
    accepted = len(stub.requests)
    if accepted != len(texts):
        raise SetupFailed(f"bare loop: the stub accepted {accepted} of {len(texts)}")
    reset_stub(stub)
    return len(texts) / elapsed


class TimedSender:
    """Wraps a sender and adds up the time spent in send()."""

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.seconds = 0.0
        self.calls = 0

    def send(self, **kwargs: Any) -> Any:
        """Send and time it."""
        started = time.perf_counter()
        try:
            return self.sender.send(**kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


class NullSender:
    """Accepts every text at once without any I/O: what dispatch costs by itself."""

    def send(self, **kwargs: Any) -> Any:
        """Return a made-up SID."""
        import uuid

        from schedules.sender import SendResult

        return SendResult(sid="SM" + uuid.uuid4().hex, status="queued")


# ---------------------------------------------------------------------------------------------
# Part A: throughput


@dataclass
class Breakdown:
    """Where the dispatch wall time went in the instrumented rerun."""

    wall: float
    db: float
    sender: float
    opening: float
    committing: float
    blocks: int
    gc: float
    statements: list[StatementStat]
    rate: float
    hand_over: float = 0.0
    hand_over_steps: int = 0

    @property
    def rest(self) -> float:
        """Return the seconds in none of the above: Python in the ORM, SQLAlchemy, rendering."""
        spent = self.db + self.sender + self.opening + self.committing + self.hand_over
        return max(self.wall - spent, 0.0)


@dataclass
class ThroughputResult:
    """Part A's figures for one database."""

    label: str
    n: int
    bare_before: float
    bare_after: float
    dispatch_rate: float
    dispatch_seconds: float
    sent: int
    problems: list[str]
    report: dict[str, int]
    breakdown: Breakdown | None = None
    what_if: list[tuple[str, float]] = field(default_factory=list)
    profile: str | None = None

    @property
    def bare(self) -> float:
        """Return the baseline: the mean of the two bare runs."""
        return (self.bare_before + self.bare_after) / 2

    @property
    def ratio(self) -> float:
        """Return dispatch texts/s over bare texts/s."""
        return self.dispatch_rate / self.bare if self.bare else 0.0

    @property
    def verified(self) -> bool:
        """Return whether every reminder went out exactly once."""
        return not self.problems and self.sent == self.n


def expected_texts(factory: Any, clinic_id: int) -> list[tuple[str, str]]:
    """Render every pending reminder's text as dispatch would: (to, body), in due order."""
    from sqlalchemy import select

    from messages.catalog import load_catalog
    from schedules.models import Appointment, Clinic, Patient, Reminder
    from schedules.reminders import render_body
    from schedules.settings import effective_settings

    with factory() as session:
        clinic = session.get_one(Clinic, clinic_id)
        content_dir = effective_settings(clinic.settings)["content_dir"] or None
        try:  # the clinic's catalog with staff-approved wording, as dispatch renders with
            from schedules.content import clinic_catalog

            catalog = clinic_catalog(session, clinic.id, content_dir)
        except ImportError:
            catalog = load_catalog(content_dir)
        rows = session.execute(
            select(Reminder, Appointment, Patient)
            .join(Appointment, Reminder.appointment_id == Appointment.id)
            .join(Patient, Reminder.patient_id == Patient.id)
            .order_by(Reminder.due_at, Reminder.id)
        ).all()
        return [
            (patient.phone, render_body(catalog, clinic, appt, patient.language, r.kind_list))
            for r, appt, patient in rows
        ]


def verify_sent(factory: Any, stub: Any, n: int, report: Any) -> tuple[int, list[str]]:
    """Check that every reminder was sent once with its stored body; return (sent, problems)."""
    from sqlalchemy import func, select

    from schedules.models import Message, Patient, Reminder

    problems: list[str] = []
    requests, attempts = stub.requests, stub.attempts
    by_to: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        by_to.setdefault(request.get("To"), []).append(request)
    with factory() as session:
        rows = session.execute(
            select(Reminder.status, Reminder.body, Reminder.twilio_sid, Patient.phone).join(
                Patient, Reminder.patient_id == Patient.id
            )
        ).all()
        messages = session.scalar(
            select(func.count(Message.id)).where(Message.purpose == "reminder")
        )
    statuses = Counter(row.status for row in rows)
    sent = statuses.get("sent", 0)
    if statuses != Counter({"sent": n}):
        problems.append(f"reminder statuses {dict(statuses)}, expected {{'sent': {n}}}")
    if report.reminders.get("sent", 0) != n:
        problems.append(f"dispatch_due reported {dict(report.reminders)}")
    if messages != n:
        problems.append(f"{messages} reminder messages in the audit log, expected {n}")
    if len(requests) != n:
        problems.append(f"the stub accepted {len(requests)} texts, expected {n}")
    if len(attempts) != len(requests):
        problems.append(f"{len(attempts) - len(requests)} sends refused by the stub")
    twice = wrong = 0
    for row in rows:
        got = by_to.get(row.phone, [])
        if len(got) != 1:
            twice += 1
        elif got[0].get("Body") != row.body or got[0].get("Sid") != row.twilio_sid:
            wrong += 1
    if twice:
        problems.append(f"{twice} patients did not get exactly one text")
    if wrong:
        problems.append(f"{wrong} texts differ from the stored body or SID")
    strangers = set(by_to) - {row.phone for row in rows}
    if strangers:
        problems.append(f"{len(strangers)} texts went to numbers with no reminder")
    return sent, problems


def reset_reminders(engine: Any, ids: list[int] | None = None) -> None:
    """Put sent reminders back to pending and delete their audit-log rows (not timed)."""
    from sqlalchemy import delete, update

    from schedules.models import Message, Reminder

    query = update(Reminder).values(
        status="pending",
        status_reason=None,
        claim_token=None,
        body=None,
        message_id=None,
        twilio_sid=None,
        sent_at=None,
        attempts=0,
        updated_at=None,
    )
    if ids is not None:
        query = query.where(Reminder.id.in_(ids))
    with engine.begin() as connection:
        connection.execute(query)
        connection.execute(delete(Message).where(Message.purpose == "reminder"))


def part_a(db: common.Database, args: argparse.Namespace, stub: Any) -> ThroughputResult:
    """Measure dispatch throughput against the bare SDK loop on one database."""
    from schedules.db import make_engine, make_session_factory
    from schedules.dispatch import dispatch_due

    rng = random.Random(args.seed)
    clinic_id = common.prepare_database(db.url, SETTINGS)
    engine = make_engine(db.url)
    try:
        started = time.monotonic()
        patient_ids = insert_patients(engine, clinic_id, args.reminders, rng)
        insert_rows(engine, *due_rows(clinic_id, patient_ids, rng, "D", arrival_only=False))
        common.analyze(engine)
        factory = make_session_factory(engine)
        texts = expected_texts(factory, clinic_id)
        print(
            f"  A: {len(texts):,} reminders due at {NOW.astimezone(ZONE):%a %Y-%m-%d %H:%M %Z} "
            f"({time.monotonic() - started:.1f}s to set up)",
            flush=True,
        )

        bare_before = bare_loop(stub, texts)
        print(f"  A: bare SDK loop {bare_before:,.0f} texts/s", flush=True)

        sender = twilio_sender(stub.base_url)
        for i in range(WARMUP_SENDS):
            sender.send(to=f"+1720557{i:04d}", body="warm-up", from_number=CLINIC_SMS)
        dispatch_due(factory, sender, NOW - timedelta(days=1), STATUS_CALLBACK)  # nothing due
        reset_stub(stub)

        started = time.perf_counter()
        report = dispatch_due(factory, sender, NOW, STATUS_CALLBACK)
        seconds = time.perf_counter() - started
        rate = len(texts) / seconds
        print(f"  A: dispatch_due {rate:,.0f} texts/s ({seconds:.2f}s)", flush=True)
        sent, problems = verify_sent(factory, stub, len(texts), report)
        sent_texts = sorted((r["To"], r["Body"]) for r in stub.requests)
        if sent_texts != sorted(texts):
            problems.append("the texts dispatch sent differ from those rendered for the bare loop")
        reset_stub(stub)

        bare_after = bare_loop(stub, texts)
        print(f"  A: bare SDK loop again {bare_after:,.0f} texts/s", flush=True)
        result = ThroughputResult(
            db.label,
            len(texts),
            bare_before,
            bare_after,
            rate,
            seconds,
            sent,
            problems,
            {str(k): int(v) for k, v in report.reminders.items() if v},
        )

        if not args.no_breakdown:
            result.breakdown = breakdown_run(engine, factory, stub, len(texts))
            result.what_if = what_if_runs(db, engine, stub, len(texts))
        if args.profile:
            result.profile = profile_run(engine, factory, stub)
        return result
    finally:
        engine.dispose()


def breakdown_run(engine: Any, factory: Any, stub: Any, n: int) -> Breakdown:
    """Reset and dispatch the same reminders again, timing statements, commits and sends."""
    import schedules.dispatch as dispatch

    reset_reminders(engine)
    reset_stub(stub)
    timer = StatementTimer()
    timer.attach(engine)
    transactions = common.TransactionTimer(dispatch.transaction, timer)
    sender = TimedSender(twilio_sender(stub.base_url))
    sender.send(to="+17205579999", body="warm-up", from_number=CLINIC_SMS)
    sender.seconds = sender.calls = 0
    dispatch.transaction = transactions  # instrumentation only, put back below
    # The per-text hand-over runs on the DBAPI cursor, out of the timer's sight: time its steps.
    hand_over = [0.0, 0]
    steps = ("_hand_over_in_one_statement", "_hand_over_in_a_transaction", "record_pending")
    originals = {name: getattr(dispatch.HandOver, name) for name in steps}

    def timed(step: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                hand_over[0] += time.perf_counter() - started
                hand_over[1] += 1

        return run

    for name, step in originals.items():
        setattr(dispatch.HandOver, name, timed(step))
    try:
        with timer.recording() as stats, common.GcTimer().recording() as gc:
            started = time.perf_counter()
            dispatch.dispatch_due(factory, sender, NOW, STATUS_CALLBACK)
            wall = time.perf_counter() - started
    finally:
        dispatch.transaction = transactions.original
        for name, step in originals.items():
            setattr(dispatch.HandOver, name, step)
    reset_stub(stub)
    ranked = sorted(stats.values(), key=lambda s: -s.seconds)
    return Breakdown(
        wall,
        timer.total,
        sender.seconds,
        transactions.opening,
        transactions.committing,
        transactions.blocks,
        gc.seconds,
        ranked,
        n / wall,
        hand_over[0],
        hand_over[1],
    )


def what_if_runs(db: common.Database, engine: Any, stub: Any, n: int) -> list[tuple[str, float]]:
    """Dispatch the same reminders again under other conditions; return (what, texts/s).

    Not proposals as they stand: they show what each cost is worth. The no-op sender shows
    dispatch's own cost; on PostgreSQL, an engine with synchronous_commit off (no WAL flush per
    commit) shows what the flush of each `sending` mark costs, and one with pool_pre_ping on
    (a round trip per checkout) what the pool's socket check saves.
    """
    from schedules.db import make_engine, make_session_factory
    from schedules.dispatch import dispatch_due

    variants: list[tuple[str, Any, dict[str, Any]]] = [("no-op sender (no HTTP)", NullSender(), {})]
    if db.is_postgres:
        off = {"connect_args": {"options": "-c synchronous_commit=off"}}
        variants += [
            ("TwilioSender, synchronous_commit off", None, off),
            ("TwilioSender, pool_pre_ping on", None, {"pool_pre_ping": True}),
        ]
    results = []
    for label, sender, options in variants:
        variant = make_engine(db.url, **options) if options else engine
        try:
            reset_reminders(engine)
            reset_stub(stub)
            factory = make_session_factory(variant)
            sender = sender or twilio_sender(stub.base_url)
            sender.send(to="+17205579999", body="warm-up", from_number=CLINIC_SMS)
            reset_stub(stub)
            started = time.perf_counter()
            report = dispatch_due(factory, sender, NOW, STATUS_CALLBACK)
            seconds = time.perf_counter() - started
        finally:
            if variant is not engine:
                variant.dispose()
        if report.reminders.get("sent") != n:
            raise SetupFailed(f"{label}: sent {dict(report.reminders)}, expected {n}")
        results.append((label, n / seconds))
    reset_stub(stub)
    return results


def profile_run(engine: Any, factory: Any, stub: Any) -> str:
    """Reset and dispatch again under cProfile; return the top functions by own time."""
    from schedules.dispatch import dispatch_due

    reset_reminders(engine)
    reset_stub(stub)
    sender = twilio_sender(stub.base_url)
    profiler = cProfile.Profile()
    profiler.enable()
    dispatch_due(factory, sender, NOW, STATUS_CALLBACK)
    profiler.disable()
    reset_stub(stub)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Part B: scaling


@dataclass
class TickFigures:
    """One tick's timings at one queue size."""

    runs: list[float]
    statements: dict[str, StatementStat]

    @property
    def median(self) -> float:
        """Return the median seconds."""
        return median(self.runs)


@dataclass
class ScalingResult:
    """Part B's figures for one database."""

    label: str
    sizes: tuple[int, int]
    due: int
    empty: dict[int, TickFigures] = field(default_factory=dict)
    busy: dict[int, TickFigures] = field(default_factory=dict)
    insert_seconds: float = 0.0
    plans: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def ratio(self, tick: str) -> float:
        """Return the large-table median over the small-table median for a tick."""
        figures = self.empty if tick == "empty" else self.busy
        small, large = (figures[size].median for size in self.sizes)
        return large / small if small else 0.0


@dataclass
class Side:
    """One of part B's two databases: the same clinic, patients and due reminders, and a small
    or a large queue of future ones."""

    size: int
    engine: Any
    factory: Any
    due_ids: list[int]
    timer: StatementTimer
    insert_seconds: float


QUIET = NOW - timedelta(hours=2)  # 10:00: inside the send window, before any reminder is due


def set_up_side(db: common.Database, size: int, args: argparse.Namespace) -> Side:
    """Migrate, add the clinic, the patients, the due reminders and size future ones."""
    from sqlalchemy import func, select

    from schedules.db import make_engine, make_session_factory
    from schedules.models import Reminder

    rng = random.Random(args.seed)
    clinic_id = common.prepare_database(db.url, SETTINGS)
    engine = make_engine(db.url)
    patient_ids = insert_patients(engine, clinic_id, args.patients, rng)
    appointments, reminders = due_rows(
        clinic_id, patient_ids[: args.due], rng, "DUE", arrival_only=True
    )
    insert_rows(engine, appointments, reminders)
    with engine.connect() as connection:
        due_ids = list(connection.scalars(select(Reminder.id).order_by(Reminder.id)))
    started = time.monotonic()
    next_appointment = len(appointments) + 1
    for chunk_appointments, chunk_reminders in future_rows(
        clinic_id, patient_ids, next_appointment, size, rng
    ):
        insert_rows(engine, chunk_appointments, chunk_reminders)
    common.analyze(engine)
    inserted = time.monotonic() - started
    with engine.connect() as connection:
        pending = connection.scalar(
            select(func.count(Reminder.id)).where(Reminder.status == "pending")
        )
    if pending != size + len(due_ids):
        raise SetupFailed(f"{pending} pending reminders, expected {size + len(due_ids)}")
    timer = StatementTimer()
    timer.attach(engine)
    print(
        f"  B: {size:,} future pending reminders + {len(due_ids)} due "
        f"({inserted:.1f}s to insert{' and ANALYZE' if db.is_postgres else ''})",
        flush=True,
    )
    return Side(size, engine, make_session_factory(engine), due_ids, timer, inserted)


def empty_tick(side: Side, sender: Any) -> tuple[float, Any]:
    """Run one tick with nothing due; return its seconds and report."""
    from schedules.dispatch import dispatch_due

    started = time.perf_counter()
    report = dispatch_due(side.factory, sender, QUIET, STATUS_CALLBACK)
    return time.perf_counter() - started, report


def busy_tick(side: Side, sender: Any) -> tuple[float, Any]:
    """Run one tick that sends the due reminders (put back to pending before)."""
    from schedules.dispatch import dispatch_due

    started = time.perf_counter()
    report = dispatch_due(side.factory, sender, NOW, STATUS_CALLBACK)
    return time.perf_counter() - started, report


def part_b(label: str, workdir: Path, args: argparse.Namespace, stub: Any) -> ScalingResult:
    """Time a dispatch tick with a small and a large queue of future reminders.

    Two databases, timed in turn (small, large, large, small, ...) so that other work on the
    machine weighs on both alike.
    """
    small, large = args.small_future, args.future
    result = ScalingResult(label, (small, large), args.due)
    sender = twilio_sender(stub.base_url)
    sender.send(to="+17205579999", body="warm-up", from_number=CLINIC_SMS)
    with contextlib.ExitStack() as stack:
        sides: dict[int, Side] = {}
        for size in (large, small):
            db = stack.enter_context(
                common.throwaway(label, workdir, args, f"bench_dispatch_b{size}")
            )
            side = sides[size] = set_up_side(db, size, args)
            stack.callback(side.engine.dispose)
        result.insert_seconds = sides[large].insert_seconds
        order = [sides[small], sides[large]]
        for tick, run, figures, due in (
            ("empty", empty_tick, result.empty, 0),
            ("busy", busy_tick, result.busy, args.due),
        ):
            runs: dict[int, list[float]] = {small: [], large: []}
            for side in order:
                if due:
                    reset_reminders(side.engine, side.due_ids)
                run(side, sender)  # warm-up
                side.timer.stats = {}
            for i in range(args.runs):
                for side in order if i % 2 == 0 else order[::-1]:
                    if due:
                        reset_reminders(side.engine, side.due_ids)
                    side.timer.active = True  # statements of the timed ticks only
                    try:
                        seconds, report = run(side, sender)
                    finally:
                        side.timer.active = False
                    runs[side.size].append(seconds)
                    done = {str(k): v for k, v in report.reminders.items() if v}
                    if done != ({"sent": due} if due else {}) or report.pages:
                        result.problems.append(f"{tick} tick at {side.size:,}: {done}")
            for side in order:
                figures[side.size] = TickFigures(runs[side.size], side.timer.stats)
            print(
                f"  B: {tick} tick {figures[small].median * 1000:.1f} ms at {small:,}, "
                f"{figures[large].median * 1000:.1f} ms at {large:,} (median of {args.runs})",
                flush=True,
            )
        for side in order:
            reset_reminders(side.engine, side.due_ids)
        reset_stub(stub)
        # Plans of the statements that grew, on the large database.
        for figures in (result.empty, result.busy):
            for stat in grown_statements(figures[small].statements, figures[large].statements):
                if stat.sql in result.plans or stat.slowest_params is None:
                    continue
                statement, params, many = stat.slowest_params
                if many:
                    continue  # executemany: one row at a time by primary key
                try:
                    result.plans[stat.sql] = common.explain(sides[large].engine, statement, params)
                except Exception as exc:
                    result.plans[stat.sql] = f"(EXPLAIN failed: {type(exc).__name__}: {exc})"
    return result


def grown_statements(
    small: dict[str, StatementStat], large: dict[str, StatementStat]
) -> list[StatementStat]:
    """Return the large-table statements whose time per call grew past GROWN, slowest first."""
    grown = []
    for key, stat in large.items():
        before = small.get(key)
        if stat.per_call_ms < GROWN_MIN_MS:
            continue
        if before is None or stat.per_call_ms > GROWN * max(before.per_call_ms, 0.001):
            grown.append(stat)
    return sorted(grown, key=lambda s: -s.seconds)


# ---------------------------------------------------------------------------------------------
# Report


def print_breakdown(b: Breakdown, n: int) -> None:
    """Print where the instrumented rerun's wall time went."""

    def part(seconds: float) -> str:
        return f"{seconds:6.2f}s {seconds / b.wall:4.0%}  {seconds * 1000 / n:6.2f} ms a text"

    calls = sum(x.calls for x in b.statements)
    print(f"    breakdown rerun with timing on: {b.rate:,.0f} texts/s, wall {b.wall:.2f}s")
    for label, seconds in (
        ("sender.send (HTTP to the stub)", b.sender),
        (f"hand-over steps, their SQL and commits ({b.hand_over_steps:,})", b.hand_over),
        (f"other SQL statements ({calls:,})", b.db),
        (f"COMMIT + session close ({b.blocks:,})", b.committing),
        ("opening transactions", b.opening),
        ("rest: ORM, SQLAlchemy, rendering", b.rest),
        ("(garbage collection, within the above)", b.gc),
    ):
        print(f"      {label:<52} {part(seconds)}")


def report(
    throughput: list[ThroughputResult], scaling: list[ScalingResult], args: argparse.Namespace
) -> None:
    """Print the figures tables, the checks and the targets."""
    import os

    if throughput:
        n = throughput[0].n
        print(
            f"\nA. Throughput: {n:,} reminders due, one patient each; send_rate_per_second 0; "
            f"TwilioSender -> local TwilioErrorStub vs bare twilio SDK loop; {os.cpu_count()} "
            "CPUs.\n"
        )
        common.print_table(
            [
                "database",
                "bare before",
                "bare after",
                "bare mean",
                "dispatch",
                "ratio",
                "sent once",
            ],
            [
                [
                    r.label,
                    f"{r.bare_before:,.0f}/s",
                    f"{r.bare_after:,.0f}/s",
                    f"{r.bare:,.0f}/s",
                    f"{r.dispatch_rate:,.0f}/s",
                    f"{r.ratio:.2f}",
                    "yes" if r.verified else "NO",
                ]
                for r in throughput
            ],
            [11, 11, 10, 10, 10, 6, 9],
        )
        for r in throughput:
            print(
                f"\n  {r.label}: dispatched {r.n:,} in {r.dispatch_seconds:.2f}s "
                f"({r.dispatch_seconds / r.n * 1000:.2f} ms a text; bare "
                f"{1000 / r.bare:.2f} ms); report {r.report}"
            )
            for problem in r.problems:
                print(f"    !! {problem}")
            b = r.breakdown
            if b is not None:
                print_breakdown(b, r.n)
                print(f"    {'calls':>6} {'total s':>8} {'ms/call':>8}  statement")
                for stat in b.statements[:10]:
                    print(
                        f"    {stat.calls:>6} {stat.seconds:>8.2f} {stat.per_call_ms:>8.3f}  "
                        f"{stat.sql}"
                    )
            if r.what_if:
                print("    the same dispatch again, other conditions:")
                for label, rate in r.what_if:
                    print(
                        f"      {label:<40} {rate:6,.0f} texts/s  {1000 / rate:6.2f} ms a text"
                        f"  (ratio to bare {rate / r.bare:.2f})"
                    )
            if r.profile:
                print("\n    cProfile of a dispatch rerun:")
                print("\n".join("    " + line for line in r.profile.splitlines()))

    if scaling:
        s0 = scaling[0]
        small, large = s0.sizes
        print(
            f"\nB. Due-query scaling: one dispatch tick with {small:,} vs {large:,} future pending "
            f"reminders; median of {args.runs} runs.\n"
        )
        rows = []
        for s in scaling:
            for tick, figures in (("empty", s.empty), (f"{s.due} due", s.busy)):
                rows.append(
                    [
                        s.label,
                        tick,
                        f"{figures[small].median * 1000:.1f} ms",
                        f"{figures[large].median * 1000:.1f} ms",
                        f"{s.ratio('empty' if tick == 'empty' else 'busy'):.2f}",
                    ]
                )
        common.print_table(
            ["database", "tick", f"{small:,} future", f"{large:,} future", "ratio"],
            rows,
            [11, 8, 14, 16, 6],
        )
        for s in scaling:
            print(f"\n  {s.label}: inserting up to {large:,} took {s.insert_seconds:.1f}s")
            for problem in s.problems:
                print(f"    !! {problem}")
            for name, figures in (("empty tick", s.empty), (f"{s.due}-due tick", s.busy)):
                print(
                    f"    {name}: statements a tick, x ms per call at {small:,} -> {large:,} "
                    f"(mean over the {args.runs} timed runs):"
                )
                big = sorted(figures[large].statements.values(), key=lambda x: -x.seconds)
                for stat in big[:8]:
                    before = figures[small].statements.get(stat.sql)
                    was = f"{before.per_call_ms:8.3f}" if before else "       -"
                    grew = (
                        f"{stat.per_call_ms / before.per_call_ms:5.1f}x"
                        if before and before.per_call_ms
                        else "     "
                    )
                    calls = stat.calls / len(figures[large].runs)
                    print(
                        f"      {calls:>6.1f} x {was} -> {stat.per_call_ms:8.3f} {grew}  {stat.sql}"
                    )
            for sql, plan in s.plans.items():
                print(f"    grew: {sql}\n    plan at {large:,}:")
                print("\n".join("      " + line for line in plan.splitlines()))

    print(
        f"\nTargets: dispatch/bare >= {TARGET_RATIO}, every reminder sent exactly once; "
        f"tick at {args.future:,} / at {args.small_future:,} <= {TARGET_SCALING}"
    )
    for r in throughput:
        print(
            f"  {r.label:<11} A ratio {r.ratio:.2f} {mark(r.ratio >= TARGET_RATIO)}   "
            f"sent once {mark(r.verified)}"
        )
    for s in scaling:
        print(
            f"  {s.label:<11} B empty tick {s.ratio('empty'):.2f} "
            f"{mark(s.ratio('empty') <= TARGET_SCALING)}   {s.due}-due tick "
            f"{s.ratio('busy'):.2f} {mark(s.ratio('busy') <= TARGET_SCALING)}"
        )


def as_json(throughput: list[ThroughputResult], scaling: list[ScalingResult]) -> dict[str, Any]:
    """Return the figures as plain data."""

    def stats(figures: TickFigures) -> list[dict[str, Any]]:
        return [
            {"sql": s.sql, "calls": s.calls, "ms_per_call": round(s.per_call_ms, 4)}
            for s in sorted(figures.statements.values(), key=lambda x: -x.seconds)
        ]

    return {
        "throughput": [
            {
                "database": r.label,
                "reminders": r.n,
                "bare_before_per_s": round(r.bare_before, 1),
                "bare_after_per_s": round(r.bare_after, 1),
                "bare_per_s": round(r.bare, 1),
                "dispatch_per_s": round(r.dispatch_rate, 1),
                "dispatch_seconds": round(r.dispatch_seconds, 3),
                "ratio": round(r.ratio, 3),
                "sent": r.sent,
                "problems": r.problems,
                "breakdown": None
                if r.breakdown is None
                else {
                    "wall_s": round(r.breakdown.wall, 3),
                    "statements_s": round(r.breakdown.db, 3),
                    "sender_s": round(r.breakdown.sender, 3),
                    "commit_s": round(r.breakdown.committing, 3),
                    "open_s": round(r.breakdown.opening, 3),
                    "gc_s": round(r.breakdown.gc, 3),
                    "transactions": r.breakdown.blocks,
                    "rest_s": round(r.breakdown.rest, 3),
                    "top": [
                        {"sql": s.sql, "calls": s.calls, "seconds": round(s.seconds, 4)}
                        for s in r.breakdown.statements[:10]
                    ],
                },
                "what_if_per_s": {label: round(rate, 1) for label, rate in r.what_if},
                "targets": {"ratio": r.ratio >= TARGET_RATIO, "sent_once": r.verified},
            }
            for r in throughput
        ],
        "scaling": [
            {
                "database": s.label,
                "sizes": list(s.sizes),
                "due": s.due,
                "empty_ms": {str(k): round(v.median * 1000, 3) for k, v in s.empty.items()},
                "busy_ms": {str(k): round(v.median * 1000, 3) for k, v in s.busy.items()},
                "empty_runs_ms": {
                    str(k): [round(x * 1000, 3) for x in v.runs] for k, v in s.empty.items()
                },
                "busy_runs_ms": {
                    str(k): [round(x * 1000, 3) for x in v.runs] for k, v in s.busy.items()
                },
                "empty_ratio": round(s.ratio("empty"), 3),
                "busy_ratio": round(s.ratio("busy"), 3),
                "statements": {
                    f"{tick}_{size}": stats(figures[size])
                    for tick, figures in (("empty", s.empty), ("busy", s.busy))
                    for size in s.sizes
                },
                "plans": s.plans,
                "problems": s.problems,
                "targets": {
                    "empty": s.ratio("empty") <= TARGET_SCALING,
                    "busy": s.ratio("busy") <= TARGET_SCALING,
                },
            }
            for s in scaling
        ],
    }


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(parser)
    parser.add_argument("--part", choices=("a", "b", "all"), default="all", help="A, B or both")
    parser.add_argument("--reminders", type=int, default=3000, help="A: reminders due (3000)")
    parser.add_argument(
        "--future", type=int, default=1_000_000, help="B: large queue of future reminders (1M)"
    )
    parser.add_argument(
        "--small-future", type=int, default=1000, help="B: small queue of future reminders (1000)"
    )
    parser.add_argument("--due", type=int, default=100, help="B: reminders due in the busy tick")
    parser.add_argument("--patients", type=int, default=10_000, help="B: patients (10,000)")
    parser.add_argument("--runs", type=int, default=7, help="B: timed runs per tick (7)")
    parser.add_argument("--seed", type=int, default=20270113, help="random seed")
    parser.add_argument(
        "--no-breakdown", action="store_true", help="A: skip the instrumented rerun"
    )
    parser.add_argument("--profile", action="store_true", help="A: also rerun under cProfile")
    parser.add_argument(
        "--in-process-stub",
        action="store_true",
        help="serve the Twilio stub from a thread of this process (shares the GIL)",
    )
    # BENCH_ARGS in the Makefile go to every benchmark: leave the others' options to them.
    args, others = parser.parse_known_args(argv)
    if others:
        print(f"bench_dispatch: ignoring options for another benchmark: {' '.join(others)}")
    if not 1 <= args.reminders <= 50_000:
        parser.error("--reminders must be 1..50,000")
    if not 1 <= args.small_future < args.future <= 20_000_000:
        parser.error("need 1 <= --small-future < --future <= 20,000,000")
    if not 1 <= args.due <= min(args.patients, 10_000):
        parser.error("--due must be 1..--patients")
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be 1..100")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 whatever the figures, 1 if it could not measure."""
    args = parse_args(argv)
    labels = common.wanted_databases(args, "bench_dispatch")
    if labels is None:
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="clinicbot-bench-dispatch-"))
    throughput: list[ThroughputResult] = []
    scaling: list[ScalingResult] = []
    status = 0
    stub = None
    try:
        stub = common.twilio_stub(in_process=args.in_process_stub)
        print(f"Twilio stub at {stub.base_url}, {stub.where}", flush=True)
        for label in labels:
            print(
                f"\n== {label} == (1-minute load average before: {common.load_average():.2f})",
                flush=True,
            )
            if args.part in ("a", "all"):
                with common.throwaway(label, workdir, args, "bench_dispatch_a") as db:
                    throughput.append(part_a(db, args, stub))
            if args.part in ("b", "all"):
                scaling.append(part_b(label, workdir, args, stub))
    except SetupFailed as exc:
        print(f"\nbench_dispatch: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\nbench_dispatch: interrupted", file=sys.stderr)
        status = 1
    finally:
        if stub is not None:
            stub.stop()
        if throughput or scaling:
            report(throughput, scaling, args)
            common.write_json(args.json, as_json(throughput, scaling))
        if args.keep:
            print(f"\nTemporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
