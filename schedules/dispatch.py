"""Sending whatever is due: the one job the worker's clock runs.

Never twice: a worker claims a batch of due reminders (FOR UPDATE SKIP LOCKED on PostgreSQL; on
SQLite one writer at a time), then, one text at a time, commits the reminder as `sending` before
handing it to Twilio and commits the outcome after. A crash can leave at most two texts as
`sending` (on SQLite, or with a send rate limit, one): the one with Twilio and, on PostgreSQL, the
next one, already marked but not yet sent. A later sweep marks them `unknown` and alerts staff
instead of resending them. Claimed texts never marked go back to `pending`, guarded by the claim
token.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, exists, literal, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Update

from messages.catalog import Catalog, ContentError
from schedules.alerts import alert_if_visit_at_risk, mark_number_unusable
from schedules.content import clinic_catalog
from schedules.db import ConnectionTransactions, transaction
from schedules.driver_sql import DriverStatement, bound_columns
from schedules.models import (
    OUTBOUND_COLUMNS,
    Alert,
    AlertKind,
    Appointment,
    AppointmentStatus,
    Clinic,
    ConsentChange,
    ConsentEvent,
    Direction,
    Message,
    MessageStatus,
    Patient,
    Purpose,
    Reminder,
    ReminderStatus,
)
from schedules.outbox import sweep_pages
from schedules.planner import TimingSettings, in_window, kind_expiry, visit_times
from schedules.reminders import render_body, timing_for
from schedules.repage import repage_unacknowledged
from schedules.sender import Sender, SendError
from schedules.settings import effective_settings

log = logging.getLogger("clinicbot.dispatch")

BATCH_SIZE = 200
STALE_AFTER = timedelta(minutes=2)
# A paced batch can take longer than STALE_AFTER: its claims are kept fresh this often, so
# another worker's tick never takes a live batch for a dead one.
CLAIM_REFRESH = timedelta(seconds=30)
# No text is marked `sending` ahead of its turn this close to its window's end: a marked text
# must go, and it must not go in quiet hours.
MARK_AHEAD_CUTOFF = timedelta(minutes=1)
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=30)
OPTED_OUT_CODES = frozenset({21610})
UNUSABLE_NUMBER_CODES = frozenset({21211, 21614, 21635})


@dataclass
class DispatchReport:
    """What one dispatch run did."""

    pages: dict[int, str] = field(default_factory=dict)
    reminders: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        """Return how many texts the provider accepted."""
        pages = sum(1 for s in self.pages.values() if s not in ("failed", "unknown", "skipped"))
        return pages + self.reminders["sent"]


class SendRate:
    """Spaces out sends per sender number so Twilio's queue for it never overflows."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(
        self,
        sender_key: str,
        per_second: float,
        before_sleeping: Callable[[], None] | None = None,
    ) -> None:
        """Block until this sender may send again at per_second texts a second (0: no limit).

        before_sleeping runs first when there is a wait, so nothing is left unrecorded while idle.
        """
        if per_second <= 0:
            return
        with self._lock:
            now = self._clock()
            at = max(now, self._next.get(sender_key, now))
            self._next[sender_key] = at + 1.0 / per_second
        if at > now:
            if before_sleeping is not None:
                before_sleeping()
            self._sleep(at - now)

    def clock(self) -> float:
        """Return the time on the clock this rate keeps, in seconds."""
        return self._clock()

    def would_wait(self, sender_key: str, per_second: float) -> bool:
        """Return whether a text from this sender would have to wait if it were sent now."""
        if per_second <= 0:
            return False
        with self._lock:
            return self._next.get(sender_key, float("-inf")) > self._clock()


@dataclass(frozen=True)
class Claimed:
    """A reminder this worker holds, rendered and ready to hand over."""

    reminder_id: int
    token: str
    clinic_id: int
    patient_id: int
    kinds: str
    to: str
    from_number: str
    body: str
    language: str
    per_second: float
    # The clinic's send window: checked again right before the text leaves.
    zone: ZoneInfo
    timing: TimingSettings


@dataclass(frozen=True)
class _SendStatements:
    """The per-text statements, compiled once and run on the DBAPI cursor (DriverStatement).

    On PostgreSQL each step is one statement (data-modifying CTEs) run in autocommit: one round
    trip a text. SQLite has no such CTEs, and its statements cost no round trip: there each step
    is a short transaction of the separate statements.
    """

    insert_message: DriverStatement
    mark_sending: DriverStatement
    forget_message: DriverStatement
    mark_sent: DriverStatement
    message_sent: DriverStatement
    # PostgreSQL: the outcome of the last text, then the audit row and `sending` mark of the next.
    hand_over: DriverStatement
    # PostgreSQL: the outcome of the last text alone.
    record_sent: DriverStatement


@functools.cache
def _send_statements() -> _SendStatements:
    """Build the statements sending runs for every text."""
    reminders = Reminder.__table__
    messages = Message.__table__
    now = bindparam("now", type_=reminders.c.updated_at.type)
    sent_at = bindparam("sent_at", type_=reminders.c.sent_at.type)
    audit_row = {
        **bound_columns(messages, OUTBOUND_COLUMNS),
        **{
            c: literal(v, type_=messages.c[c].type)
            for c, v in (
                ("direction", Direction.OUTBOUND.value),
                ("purpose", Purpose.REMINDER.value),
                ("num_media", 0),
                ("status", MessageStatus.CLAIMED.value),
                ("attempts", 0),
            )
        },
        "created_at": now,
    }
    appointments = Appointment.__table__
    patients = Patient.__table__
    # The claim's own checks once more, in the statement that marks the text `sending`: the
    # visit still at its time, the patient still reachable, the text still useful.
    still_claimed = (
        reminders.c.id == bindparam("reminder_id"),
        reminders.c.status == ReminderStatus.CLAIMED.value,
        reminders.c.claim_token == bindparam("token"),
        reminders.c.expires_at > now,
        exists().where(
            appointments.c.id == reminders.c.appointment_id,
            appointments.c.status == AppointmentStatus.SCHEDULED.value,
            appointments.c.starts_at == reminders.c.planned_start,
        ),
        exists().where(
            patients.c.id == reminders.c.patient_id,
            patients.c.opted_out.is_(False),
            patients.c.consent_at.is_not(None),
            patients.c.unusable_at.is_(None),
        ),
    )

    def mark_sending(message_id: Any) -> Any:
        return (
            reminders.update()
            .where(*still_claimed)
            .values(
                status=ReminderStatus.SENDING.value,
                attempts=reminders.c.attempts + 1,
                updated_at=now,
                message_id=message_id,
            )
        )

    mark_sent = (
        reminders.update()
        .where(reminders.c.id == bindparam("sent_reminder_id"))
        .values(
            status=ReminderStatus.SENT.value,
            twilio_sid=bindparam("sent_sid"),
            sent_at=sent_at,
            updated_at=sent_at,
        )
    )
    message_sent = (
        messages.update()
        .where(messages.c.id == bindparam("sent_message_id"))
        .values(
            status=bindparam("sent_status"),
            twilio_sid=bindparam("sent_sid"),
            sent_at=sent_at,
            updated_at=sent_at,
        )
    )
    # PostgreSQL runs every data-modifying CTE to completion, read or not. The audit row is only
    # written while the claim holds (a sweep racing in between leaves one, which send() removes).
    sent_reminder = mark_sent.returning(reminders.c.id).cte("sent_reminder")
    sent_message = message_sent.returning(messages.c.id).cte("sent_message")
    audit = (
        messages.insert()
        .from_select(
            list(audit_row),
            select(*audit_row.values()).where(exists().where(*still_claimed)),
        )
        .returning(messages.c.id)
        .cte("audit")
    )
    taken = (
        mark_sending(select(audit.c.id).scalar_subquery()).returning(reminders.c.id).cte("taken")
    )
    hand_over = select(select(audit.c.id).scalar_subquery(), exists(select(taken.c.id))).add_cte(
        sent_reminder, sent_message, audit, taken
    )
    return _SendStatements(
        insert_message=DriverStatement(
            messages.insert().values(audit_row).returning(messages.c.id)
        ),
        mark_sending=DriverStatement(mark_sending(bindparam("message_id"))),
        forget_message=DriverStatement(
            messages.delete().where(messages.c.id == bindparam("message_id"))
        ),
        mark_sent=DriverStatement(mark_sent),
        message_sent=DriverStatement(message_sent),
        hand_over=DriverStatement(hand_over),
        record_sent=DriverStatement(message_sent.add_cte(sent_reminder)),
    )


def dispatch_due(
    factory: sessionmaker[Session],
    sender: Sender,
    now: datetime,
    status_callback: str | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    rate: SendRate | None = None,
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    public_base_url: str | None = None,
) -> DispatchReport:
    """Send every page and reminder due at now; return what happened.

    stop: claim no further batch. abandon: hand the unsent rest of this batch back at once.
    """
    report = DispatchReport(
        pages=sweep_pages(factory, sender, now, status_callback=status_callback)
    )
    report.pages.update(
        repage_unacknowledged(factory, sender, now, status_callback, public_base_url)
    )
    recover_stale_claims(factory, now)
    expired = expire_overdue(factory, now)
    if expired:
        report.reminders[ReminderStatus.EXPIRED] += expired
    rate = rate or SendRate()
    started = rate.clock()

    def current() -> datetime:
        """Return now moved on by the time this run has taken: a paced batch can take minutes."""
        return now + timedelta(seconds=rate.clock() - started)

    while stop is None or not stop.is_set():
        token = str(uuid.uuid4())
        batch = claim_due(factory, current(), token, batch_size, report)
        claimed_at = current()
        with HandOver(factory, sender, current, status_callback) as hand_over:
            for position, item in enumerate(batch):
                if current() - claimed_at >= CLAIM_REFRESH:
                    claimed_at = current()
                    keep_claims(factory, token, claimed_at)
                abandoning = abandon is not None and abandon.is_set()
                if abandoning and not hand_over.marked(item):
                    hand_over.record_pending()
                    release(factory, batch[position:], current())
                    report.reminders["released"] += len(batch) - position
                    break
                # The window may close before or while the send rate holds this text: it then
                # waits for the next window (or expires), like any text that missed one.
                if _past_window(item, current(), hand_over):
                    _hold_back(factory, hand_over, item, current(), report)
                    continue
                rate.wait(item.from_number, item.per_second, hand_over.record_pending)
                if _past_window(item, current(), hand_over):
                    _hold_back(factory, hand_over, item, current(), report)
                    continue
                following = batch[position + 1] if position + 1 < len(batch) else None
                if (
                    following is None
                    or abandoning
                    or rate.would_wait(following.from_number, following.per_second)
                    or not _still_open(following, current() + MARK_AHEAD_CUTOFF)
                ):
                    following = None
                report.reminders[hand_over.send(item, following)] += 1
        if len(batch) < batch_size:
            break
    if report.pages or report.reminders:
        log.info(
            "dispatch run",
            extra={
                "pages": len(report.pages),
                **{f"reminders_{k}": v for k, v in report.reminders.items()},
            },
        )
    return report


def _still_open(item: Claimed, at: datetime) -> bool:
    """Return whether the item's clinic may still be texted at this moment (its send window)."""
    return in_window(at, item.zone, item.timing)


def _past_window(item: Claimed, at: datetime, hand_over: HandOver) -> bool:
    """Return whether the item must not leave now: its window has closed and it is not marked
    `sending` yet (a marked text goes; marking ahead stops a minute before the window closes)."""
    return not hand_over.marked(item) and not _still_open(item, at)


def _hold_back(
    factory: sessionmaker[Session],
    hand_over: HandOver,
    item: Claimed,
    now: datetime,
    report: DispatchReport,
) -> None:
    """Give one claimed text back to the queue unsent, the outcomes before it recorded first."""
    hand_over.record_pending()
    release(factory, [item], now)
    report.reminders["released"] += 1


def _open_clinics(session: Session, now: datetime) -> dict[int, Clinic]:
    """Return the clinics inside their send window at now."""
    clinics = {}
    for clinic in session.scalars(select(Clinic)):
        if in_window(now, ZoneInfo(clinic.timezone), timing_for(clinic)):
            clinics[clinic.id] = clinic
    return clinics


def claim_due(
    factory: sessionmaker[Session],
    now: datetime,
    token: str,
    batch_size: int,
    report: DispatchReport,
) -> list[Claimed]:
    """Claim up to batch_size due reminders, settling those that must not be sent."""
    with transaction(factory) as session:
        # No grace past the window's end, however few minutes late: a text that missed its window
        # waits for the next one and expires if its visit comes first (expire_overdue).
        open_ids = list(_open_clinics(session, now))
        if not open_ids:
            return []
        query = (
            select(Reminder)
            .where(
                Reminder.status == ReminderStatus.PENDING,
                Reminder.due_at <= now,
                Reminder.clinic_id.in_(open_ids),
            )
            .order_by(Reminder.due_at, Reminder.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        reminders = list(session.scalars(query))
        if not reminders:
            return []
        appointments = _by_id(session, Appointment, {r.appointment_id for r in reminders})
        patients = _by_id(session, Patient, {r.patient_id for r in reminders})
        clinics = _by_id(session, Clinic, {r.clinic_id for r in reminders})
        catalogs: dict[int, Catalog] = {}
        terms = {clinic_id: _ClinicTerms.of(clinic) for clinic_id, clinic in clinics.items()}
        claimed: list[Claimed] = []
        claims: list[dict[str, Any]] = []
        for reminder in reminders:
            appointment = appointments[reminder.appointment_id]
            patient = patients[reminder.patient_id]
            clinic = clinics[reminder.clinic_id]
            verdict = _settle(reminder, appointment, patient, terms[clinic.id], now)
            if verdict is not None:
                reminder.status, reminder.status_reason = verdict
                reminder.updated_at = now
                report.reminders[verdict[0]] += 1
                continue
            try:
                if clinic.id not in catalogs:
                    content_dir = terms[clinic.id].content_dir
                    catalogs[clinic.id] = clinic_catalog(session, clinic.id, content_dir)
                catalog = catalogs[clinic.id]
                body = render_body(
                    catalog, clinic, appointment, patient.language, reminder.kind_list
                )
            except (ContentError, KeyError, ValueError) as exc:
                reminder.status = ReminderStatus.FAILED
                reminder.status_reason = f"could not render: {type(exc).__name__}"
                reminder.updated_at = now
                session.add(_alert(reminder, AlertKind.SEND_FAILED, now))
                report.reminders[ReminderStatus.FAILED] += 1
                log.error("reminder could not be rendered", extra={"reminder_id": reminder.id})
                continue
            # One bulk UPDATE by primary key: cheaper than the unit of work's per-object flush.
            claims.append(
                {
                    "id": reminder.id,
                    "status": ReminderStatus.CLAIMED,
                    "claim_token": token,
                    "body": body,
                    "updated_at": now,
                }
            )
            claimed.append(
                Claimed(
                    reminder_id=reminder.id,
                    token=token,
                    clinic_id=reminder.clinic_id,
                    patient_id=reminder.patient_id,
                    kinds=reminder.kinds,
                    to=patient.phone,
                    from_number=clinic.sms_number,
                    body=body,
                    language=patient.language,
                    per_second=terms[clinic.id].per_second,
                    zone=terms[clinic.id].zone,
                    timing=terms[clinic.id].timing,
                )
            )
        if claims:
            session.execute(update(Reminder), claims)
        return claimed


def _by_id(session: Session, model: type, ids: set[int]) -> dict[int, object]:
    """Load rows of model by primary key in one query."""
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _ClinicTerms:
    """What claiming needs of a clinic's settings, worked out once a batch."""

    timing: TimingSettings
    zone: ZoneInfo
    per_second: float
    content_dir: str

    @classmethod
    def of(cls, clinic: Clinic) -> _ClinicTerms:
        """Return the terms of clinic's current settings."""
        settings = effective_settings(clinic.settings)
        return cls(
            TimingSettings.from_settings(settings),
            ZoneInfo(clinic.timezone),
            float(settings["send_rate_per_second"]),
            settings["content_dir"],
        )


def _settle(
    reminder: Reminder,
    appointment: Appointment,
    patient: Patient,
    terms: _ClinicTerms,
    now: datetime,
) -> tuple[str, str] | None:
    """Return the final status and reason when this reminder must not be sent, else None."""
    if appointment.status != AppointmentStatus.SCHEDULED:
        return ReminderStatus.CANCELLED, "appointment cancelled"
    if appointment.starts_at != reminder.planned_start:
        return ReminderStatus.CANCELLED, "appointment moved"
    if patient.opted_out:
        return ReminderStatus.SKIPPED, "patient opted out"
    if patient.consent_at is None:
        return ReminderStatus.SKIPPED, "no SMS consent on record"
    if patient.unusable_at is not None:
        return ReminderStatus.SKIPPED, f"number cannot take texts ({patient.unusable_code})"
    times = visit_times(appointment.starts_at, appointment.treatment, terms.timing, terms.zone)
    live = [kind for kind in reminder.kind_list if kind_expiry(kind, times) > now]
    if not live:
        return ReminderStatus.EXPIRED, "past its latest useful moment"
    if len(live) < len(reminder.kind_list):
        # Part of a merged text went stale during downtime: send only what is still true.
        reminder.kinds = ",".join(live)
    return None


def release(factory: sessionmaker[Session], items: Sequence[Claimed], now: datetime) -> None:
    """Give claimed reminders that were never handed over back to the queue."""
    if not items:
        return
    with transaction(factory) as session:
        for item in items:
            session.execute(
                update(Reminder)
                .where(
                    Reminder.id == item.reminder_id,
                    Reminder.status == ReminderStatus.CLAIMED,
                    Reminder.claim_token == item.token,
                )
                .values(status=ReminderStatus.PENDING, claim_token=None, body=None, updated_at=now)
            )


def keep_claims(factory: sessionmaker[Session], token: str, now: datetime) -> None:
    """Mark a live batch's claims not yet handed over as touched at now (see CLAIM_REFRESH)."""
    with transaction(factory) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.claim_token == token, Reminder.status == ReminderStatus.CLAIMED)
            .values(updated_at=now)
        )


@dataclass(frozen=True)
class _Sent:
    """A text the provider accepted whose outcome is not committed yet."""

    reminder_id: int
    message_id: int
    sid: str
    status: str
    at: datetime  # when the provider accepted it


class HandOver:
    """Hands claimed reminders to the sender one at a time, on one connection kept for the batch.

    Each text is committed as `sending` (with its audit row) before it goes to the sender. The
    outcome of a successful send is committed with a later text's `sending` mark, one commit a
    text instead of two. The last outcome is committed when the batch ends, and before any wait
    (SendRate, shutdown), so a status callback never waits long for its message.

    On PostgreSQL the next text's `sending` mark is committed on a second thread while this text
    is with the sender, so the durable WAL flush of each mark (what bounds the send rate) costs
    no wall time. The price: a crash can leave two texts `sending`, the one with the sender and
    the next one, marked but not yet sent; both become `unknown` for staff, neither is resent.
    A text is marked ahead only when it may go at once (no send-rate wait) and is for another
    patient, so this text's errors (an opt-out, a bad number) never concern a marked text. The
    mark re-checks the visit and the patient; for a text marked ahead that is one send earlier.
    SQLite's commits cost no round trip: there each text is marked just before it is sent.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: Sender,
        clock: Callable[[], datetime],
        status_callback: str | None,
    ) -> None:
        self._factory = factory
        self._sender = sender
        # The run's clock, not its start: a paced batch takes minutes, and each mark checks the
        # text's expiry and stamps its times at the moment it is made.
        self._clock = clock
        self._status_callback = status_callback
        self._statements = _send_statements()
        self._connections = ConnectionTransactions(factory)
        self._one_statement = self._connections.dialect_name == "postgresql"
        self._pending: _Sent | None = None
        # The text being marked `sending` on the hand-over thread: its reminder id and the
        # future of its audit row's id (None: its claim was lost).
        self._ahead: tuple[int, Future[int | None]] | None = None
        self._thread: ThreadPoolExecutor | None = None

    def __enter__(self) -> HandOver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.record_pending()
        finally:
            # The thread must be done with the connection before it goes back to the pool.
            if self._thread is not None:
                self._thread.shutdown(wait=True)
            self._connections.close()

    def marked(self, item: Claimed) -> bool:
        """Return whether item is being marked `sending` ahead of its turn (it must be sent)."""
        return self._ahead is not None and self._ahead[0] == item.reminder_id

    def send(self, item: Claimed, following: Claimed | None = None) -> str:
        """Hand one claimed reminder to the sender, committing before it; return its status.

        following: the text to send right after this one, without a wait; on PostgreSQL it is
        marked `sending` while this one is with the sender.
        """
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == item.reminder_id:
            message_id = ahead[1].result()
        else:
            if ahead is not None:
                # Marked ahead but not sent: it stays `sending`, becomes `unknown`, never resent.
                ahead[1].result()
            message_id = self._mark(self._values(item))
        if message_id is None:
            return _settle_refused(self._factory, item, self._clock())
        if (
            self._one_statement
            and following is not None
            and following.patient_id != item.patient_id
        ):
            self._mark_ahead(following)
        elif self._pending is not None:
            # No mark to take the last outcome along (it was marked ahead): record it alone.
            self.record_pending()
        try:
            result = self._sender.send(
                to=item.to,
                body=item.body,
                from_number=item.from_number,
                status_callback=self._status_callback,
            )
        except SendError as exc:
            return _record_failure(self._factory, item.reminder_id, message_id, exc, self._clock())
        self._pending = _Sent(
            item.reminder_id, message_id, result.sid, result.status, self._clock()
        )
        return ReminderStatus.SENT

    def _values(self, item: Claimed) -> dict[str, Any]:
        """Return the parameters marking item `sending`, taking the last outcome along."""
        values = {
            **self._pending_values(),
            "reminder_id": item.reminder_id,
            "token": item.token,
            "clinic_id": item.clinic_id,
            "patient_id": item.patient_id,
            "from_number": item.from_number,
            "to_number": item.to,
            "body": item.body,
            "language": item.language,
            "classification": f"reminder:{item.kinds}",
            "now": self._clock(),
        }
        self._pending = None
        return values

    def _mark(self, values: dict[str, Any]) -> int | None:
        """Mark a text `sending` (and record the last outcome); return its audit row's id."""
        if self._one_statement:
            return self._hand_over_in_one_statement(values)
        return self._hand_over_in_a_transaction(values)

    def _mark_ahead(self, item: Claimed) -> None:
        """Start marking item `sending` on the hand-over thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hand-over")
        future = self._thread.submit(self._hand_over_in_one_statement, self._values(item))
        self._ahead = (item.reminder_id, future)

    def _pending_values(self) -> dict[str, Any]:
        """Return the parameters recording the last text's outcome (None: no text pending)."""
        sent = self._pending
        return {
            "sent_reminder_id": sent.reminder_id if sent else None,
            "sent_message_id": sent.message_id if sent else None,
            "sent_sid": sent.sid if sent else None,
            "sent_status": sent.status if sent else None,
            "sent_at": sent.at if sent else None,
            "now": self._clock(),
        }

    def _hand_over_in_one_statement(self, values: dict[str, Any]) -> int | None:
        """PostgreSQL: record the last outcome and mark this text `sending`, in one statement."""
        statements = self._statements
        connection = self._connections.autocommit()
        row = statements.hand_over.first_row(connection, values)
        message_id, taken = row if row is not None else (None, False)
        if taken:
            return int(message_id)
        if message_id is not None:
            # The claim was taken back between the statement's check and its update.
            statements.forget_message.run(connection, {"message_id": message_id})
        return None

    def _hand_over_in_a_transaction(self, values: dict[str, Any]) -> int | None:
        """SQLite: the same as _hand_over_in_one_statement, statement by statement."""
        statements = self._statements
        with self._connections.transaction() as connection:
            if values["sent_reminder_id"] is not None:
                self._record_sent_in(connection, values)
            row = statements.insert_message.first_row(connection, values)
            assert row is not None  # INSERT ... RETURNING gives the new row
            message_id = int(row[0])
            taken = statements.mark_sending.run(connection, {**values, "message_id": message_id})
            if taken != 1:
                # Nothing was sent: the audit row goes, the last outcome stays.
                statements.forget_message.run(connection, {"message_id": message_id})
                return None
        return message_id

    def record_pending(self) -> None:
        """Commit the outcome of the last text sent, if it is not committed yet."""
        if self._ahead is not None:
            # The connection is the hand-over thread's until its statement is done.
            self._ahead[1].result()
        if self._pending is None:
            return
        values = self._pending_values()
        self._pending = None
        if self._one_statement:
            self._statements.record_sent.run(self._connections.autocommit(), values)
            return
        with self._connections.transaction() as connection:
            self._record_sent_in(connection, values)

    def _record_sent_in(self, connection: Connection, values: dict[str, Any]) -> None:
        """SQLite: record the last text's outcome, statement by statement, in a transaction."""
        self._statements.mark_sent.run(connection, values)
        self._statements.message_sent.run(connection, values)


def _settle_refused(factory: sessionmaker[Session], item: Claimed, now: datetime) -> str:
    """Settle a claimed reminder its hand-over refused to mark; return what became of it."""
    with transaction(factory) as session:
        reminder = session.scalar(
            select(Reminder)
            .where(
                Reminder.id == item.reminder_id,
                Reminder.status == ReminderStatus.CLAIMED,
                Reminder.claim_token == item.token,
            )
            .with_for_update()
        )
        if reminder is None:
            return "lost_claim"
        verdict = _settle(
            reminder,
            session.get_one(Appointment, reminder.appointment_id),
            session.get_one(Patient, reminder.patient_id),
            _ClinicTerms.of(session.get_one(Clinic, reminder.clinic_id)),
            now,
        )
        reminder.updated_at = now
        if verdict is None:
            # The statement's checks and these disagree (a moment apart): the next claim decides.
            reminder.status = ReminderStatus.PENDING
            reminder.claim_token = reminder.body = None
            return "released"
        reminder.status, reminder.status_reason = verdict
        return verdict[0]


def _record_failure(
    factory: sessionmaker[Session],
    reminder_id: int,
    message_id: int,
    exc: SendError,
    now: datetime,
) -> str:
    """Record a sender error on the reminder, the patient and for staff; return the status."""
    with transaction(factory) as session:
        reminder = session.get_one(Reminder, reminder_id)
        patient = session.get_one(Patient, reminder.patient_id)
        message = session.get_one(Message, message_id)
        reminder.error_code, reminder.error_message = exc.code, exc.message[:255]
        reminder.updated_at = now
        message.error_code, message.error_message = exc.code, exc.message[:255]
        message.status = MessageStatus.FAILED
        retry_at = now + RETRY_BASE * (2 ** max(reminder.attempts - 1, 0))
        if exc.retryable and reminder.attempts < MAX_ATTEMPTS and retry_at < reminder.expires_at:
            reminder.status, reminder.status_reason = (
                ReminderStatus.PENDING,
                "rate limited; retrying",
            )
            reminder.due_at, reminder.claim_token = retry_at, None
        elif exc.code in OPTED_OUT_CODES:
            reminder.status, reminder.status_reason = ReminderStatus.FAILED, "recipient opted out"
            if not patient.opted_out:
                patient.opted_out, patient.opted_out_at = True, now
                session.add(
                    ConsentEvent(
                        patient_id=patient.id,
                        change=ConsentChange.OPT_OUT,
                        source="twilio_21610",
                        message_id=message_id,
                        at=now,
                    )
                )
                alert_if_visit_at_risk(
                    session,
                    clinic_id=patient.clinic_id,
                    patient_id=patient.id,
                    kind=AlertKind.OPTED_OUT_WITH_VISIT,
                    now=now,
                    message_id=message_id,
                )
        elif exc.code in UNUSABLE_NUMBER_CODES:
            reminder.status = ReminderStatus.FAILED
            mark_number_unusable(session, reminder, patient, exc.code, now)
        elif exc.uncertain:
            reminder.status = ReminderStatus.UNKNOWN
            reminder.status_reason = "provider answer lost; may have been sent, not resent"
            message.status = MessageStatus.UNKNOWN
            session.add(_alert(reminder, AlertKind.SEND_FAILED, now))
        else:
            reminder.status = ReminderStatus.FAILED
            reminder.status_reason = "refused by the provider"
            session.add(_alert(reminder, AlertKind.SEND_FAILED, now))
        status = reminder.status
    log.warning(
        "reminder not sent",
        extra={"reminder_id": reminder_id, "code": exc.code, "status": status},
    )
    return status


def _alert(reminder: Reminder, kind: AlertKind, now: datetime) -> Alert:
    """Return a staff alert about this reminder's patient."""
    return Alert(
        clinic_id=reminder.clinic_id,
        patient_id=reminder.patient_id,
        kind=kind,
        message_id=reminder.message_id,
        created_at=now,
    )


def expire_overdue(factory: sessionmaker[Session], now: datetime) -> int:
    """Expire pending reminders past their latest useful moment, even during quiet hours."""
    with transaction(factory) as session:
        result = session.execute(overdue_expiry(now))
        return int(result.rowcount or 0)


def overdue_expiry(now: datetime) -> Update:
    """Return the statement marking pending reminders past their latest useful moment expired."""
    # A text is always due before it expires (the planner's rule; a retry is only planned
    # before expiry), so the due condition changes nothing but lets ix_reminders_status_due
    # find the rows: there is no index on expires_at.
    return (
        update(Reminder)
        .where(
            Reminder.status == ReminderStatus.PENDING,
            Reminder.due_at <= now,
            Reminder.expires_at <= now,
        )
        .values(
            status=ReminderStatus.EXPIRED,
            status_reason="past its latest useful moment",
            updated_at=now,
        )
    )


def recover_stale_claims(factory: sessionmaker[Session], now: datetime) -> None:
    """Requeue claims a dead worker never handed over; flag texts whose send outcome is unknown."""
    cutoff = now - STALE_AFTER
    with transaction(factory) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.status == ReminderStatus.CLAIMED, Reminder.updated_at < cutoff)
            .values(status=ReminderStatus.PENDING, claim_token=None, body=None, updated_at=now)
        )
        stuck = list(
            session.scalars(
                select(Reminder)
                .where(Reminder.status == ReminderStatus.SENDING, Reminder.updated_at < cutoff)
                .with_for_update(skip_locked=True)
            )
        )
        for reminder in stuck:
            reminder.status = ReminderStatus.UNKNOWN
            reminder.status_reason = "worker stopped while sending; check before resending"
            reminder.updated_at = now
            session.add(_alert(reminder, AlertKind.SEND_FAILED, now))
            if reminder.message_id is not None:
                session.execute(
                    update(Message)
                    .where(Message.id == reminder.message_id)
                    .values(status=MessageStatus.UNKNOWN, updated_at=now)
                )
        if stuck:
            log.error("texts with unknown outcome flagged for staff", extra={"count": len(stuck)})
