"""Turns one inbound text into state changes and a reply, inside the caller's transaction.

Order matters and is fixed: the text is classified, stored, and crisis is handled before
anything else (alert and page rows written first); opt-out and opt-in change consent; only then
are questions answered. The reply cap never silences a safety reply or a consent confirmation.
The common path is three Core statements (the patient upsert that also counts texts for the reply
cap and skips a stored MessageSid, the inbound row and the reply row) and no ORM session, because
every patient waits on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, case, exists, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.services import ClinicInfo
from messages.catalog import Catalog
from messages.intents import AppointmentAction, Intent, IntentKind
from messages.matcher import Matcher
from messages.reminders import reminder_values
from messages.staff import render_page
from schedules.alerts import alert_if_visit_at_risk, raise_alert
from schedules.clinic_values import clinic_values
from schedules.driver_sql import DriverStatement, bound_columns
from schedules.models import (
    OUTBOUND_COLUMNS,
    AlertKind,
    Appointment,
    AppointmentStatus,
    ConsentChange,
    ConsentEvent,
    Direction,
    Message,
    MessageStatus,
    Patient,
    Purpose,
    Reminder,
    ReminderStatus,
    UTCDateTime,
)
from schedules.planner import TimingSettings, visit_times

log = logging.getLogger("clinicbot.conversation")

MESSAGES = Message.__table__
PATIENTS = Patient.__table__
# A check-in answer counts for the visit whose check-in went out this recently.
CHECKIN_ANSWER_WINDOW = timedelta(hours=48)
LOW_CHECKIN_SCORES = (1, 2)
# The appointment words that ask staff to act, and the alert each raises.
STAFF_REQUESTS = {
    AppointmentAction.CALL: AlertKind.CALL_BACK,
    AppointmentAction.RESCHEDULE: AlertKind.RESCHEDULE,
}


@dataclass(frozen=True)
class InboundText:
    """One text as Twilio delivered it."""

    sid: str
    from_number: str
    to_number: str
    body: str
    num_media: int = 0


@dataclass
class Outcome:
    """What handling an inbound text decided."""

    reply: str | None
    inbound_id: int
    duplicate: bool = False
    intent: Intent | None = None
    page_ids: list[int] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)


class RepeatedMessageSid(Exception):
    """Another request stored this MessageSid first; answer from the log instead."""


@dataclass
class PatientState:
    """The patient columns a text's handling reads, from the upsert's RETURNING."""

    id: int
    phone: str
    language: str
    opted_out: bool
    has_consent: bool
    texts_in_window: int
    changes: dict[str, Any] = field(default_factory=dict)


def stored_answer(connection: Connection, sid: str) -> Outcome | None:
    """Return the answer already given to the text with this MessageSid, if it was stored."""
    row = _statements(connection).inbound_by_sid.first_row(connection, {"sid": sid})
    if row is None:
        return None
    inbound_id = int(row[0])
    reply = connection.scalar(
        select(Message.body)
        .where(Message.reply_to_id == inbound_id, Message.purpose == Purpose.REPLY)
        .order_by(Message.id)
        .limit(1)
    )
    log.info("repeated MessageSid answered from the log", extra={"sid": sid})
    return Outcome(reply=reply, inbound_id=inbound_id, duplicate=True)


class _SessionOnDemand:
    """An ORM session on the caller's connection, made only when a rare path needs one.

    The common path (a question answered) is a few Core statements; building a Session and its
    transaction for each text would cost more than they do.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._session: Session | None = None

    def get(self) -> Session:
        """Return the session, joining the connection's transaction the first time."""
        if self._session is None:
            # rollback_only: the caller's transaction is committed by the caller, never here.
            self._session = Session(
                bind=self._connection,
                join_transaction_mode="rollback_only",
                expire_on_commit=False,
            )
        return self._session

    def __enter__(self) -> _SessionOnDemand:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Write what the session holds (unless the work failed) and let it go; the caller's
        transaction stays as it is."""
        if self._session is None:
            return
        try:
            if exc_type is None:
                self._session.flush()
        finally:
            self._session.close()
            self._session = None


def handle_inbound(
    connection: Connection,
    clinic: ClinicInfo,
    text: InboundText,
    intent: Intent,
    *,
    catalog: Catalog,
    matcher: Matcher,
    now: datetime,
    public_base_url: str | None,
) -> Outcome:
    """Store and act on one inbound text, classified as if a check-in were awaited, on the
    caller's connection and in its transaction; the caller commits. Raises RepeatedMessageSid
    when a concurrent request stored its MessageSid first."""
    with _SessionOnDemand(connection) as orm:
        first_language = intent.language if intent.language in catalog.languages else "en"
        patient = _upsert_patient(connection, clinic, text, first_language, now)
        if patient is None:
            repeat = stored_answer(connection, text.sid)
            if repeat is None:
                raise RepeatedMessageSid(text.sid)
            return repeat
        awaited: int | None = None
        beneath = intent.beneath
        if IntentKind.CHECKIN_SCORE in (intent.kind, beneath.kind if beneath else None):
            # Only a score-shaped text pays for this lookup.
            awaited = _awaited_checkin(connection, patient.id, now)
            if awaited is None and intent.kind is IntentKind.CHECKIN_SCORE:
                intent = matcher.classify(text.body, awaiting_checkin=False)
        language = intent.language or patient.language
        if language not in catalog.languages:
            language = "en"

        inbound_id = _insert_inbound(connection, clinic, text, patient.id, intent, language, now)
        outcome = Outcome(reply=None, inbound_id=inbound_id, intent=intent)
        conversation = _Conversation(
            orm, clinic, patient, inbound_id, catalog, matcher, language, now, public_base_url
        )
        reply = conversation.apply(intent, text.body, outcome, awaited)
        if reply is not None:
            reply = conversation.within_reply_cap(intent, reply)
        if reply is not None:
            snippet_id, extra = reply
            outcome.reply = catalog.render(snippet_id, language, {**conversation.values(), **extra})
            _statements(connection).insert_reply.run(
                connection,
                {
                    "clinic_id": clinic.id,
                    "patient_id": patient.id,
                    "from_number": clinic.sms_number,
                    "to_number": text.from_number,
                    "body": outcome.reply,
                    "language": language,
                    "classification": snippet_id,
                    "reply_to_id": inbound_id,
                    "now": now,
                },
            )
        if patient.changes:
            connection.execute(
                update(Patient).where(Patient.id == patient.id).values(**patient.changes)
            )
        return outcome


@dataclass(frozen=True)
class _HotStatements:
    """The webhook's common-path statements, run on the DBAPI cursor (see DriverStatement)."""

    inbound_by_sid: DriverStatement
    upsert_patient: DriverStatement
    insert_inbound: DriverStatement
    insert_reply: DriverStatement


@lru_cache(maxsize=4)
def _build_statements(dialect: str) -> _HotStatements:
    """Build the common-path statements for a dialect (its upsert syntax is its own)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    col = PATIENTS.c
    now = bindparam("now", type_=UTCDateTime())
    in_window = col.texts_window_start > bindparam("window_floor", type_=UTCDateTime())
    not_stored = ~exists().where(MESSAGES.c.twilio_sid == bindparam("sid"))
    new_patient = {
        "clinic_id": bindparam("clinic_id"),
        "phone": bindparam("phone"),
        "language": bindparam("language"),
        "opted_out": literal(False),
        "texts_window_start": now,
        "texts_in_window": literal(1),
        "created_at": now,
    }
    upsert = (
        insert(PATIENTS)
        # INSERT ... SELECT, so that a MessageSid stored before changes nothing (not even the
        # reply-cap count) and the webhook needs no separate look-up for it.
        .from_select(list(new_patient), select(*new_patient.values()).where(not_stored))
        .on_conflict_do_update(
            index_elements=[col.clinic_id, col.phone],
            set_={
                "texts_in_window": case((in_window, col.texts_in_window + 1), else_=1),
                "texts_window_start": case((in_window, col.texts_window_start), else_=now),
            },
        )
        # Computed in SQL so that every column read back is a plain integer or string.
        .returning(
            col.id,
            col.language,
            col.opted_out,
            col.consent_at.is_not(None),
            col.texts_in_window,
        )
    )
    inbound_columns = (
        "clinic_id",
        "patient_id",
        "twilio_sid",
        "from_number",
        "to_number",
        "body",
        "num_media",
        "language",
        "classification",
    )
    insert_inbound = (
        insert(MESSAGES)
        .values(
            {
                **bound_columns(MESSAGES, inbound_columns),
                "direction": Direction.INBOUND.value,
                "status": MessageStatus.RECEIVED.value,
                "attempts": 0,
                "created_at": now,
            }
        )
        .on_conflict_do_nothing(index_elements=[MESSAGES.c.twilio_sid])
        .returning(MESSAGES.c.id)
    )
    reply_columns = (*OUTBOUND_COLUMNS, "reply_to_id")
    insert_reply = MESSAGES.insert().values(
        {
            **bound_columns(MESSAGES, reply_columns),
            "direction": Direction.OUTBOUND.value,
            "purpose": Purpose.REPLY.value,
            "num_media": 0,
            "status": MessageStatus.REPLIED.value,
            "attempts": 0,
            "created_at": now,
            "sent_at": now,
        }
    )
    return _HotStatements(
        inbound_by_sid=DriverStatement(
            select(MESSAGES.c.id).where(MESSAGES.c.twilio_sid == bindparam("sid"))
        ),
        upsert_patient=DriverStatement(upsert),
        insert_inbound=DriverStatement(insert_inbound),
        insert_reply=DriverStatement(insert_reply),
    )


def _statements(connection: Connection) -> _HotStatements:
    """Return the common-path statements for this connection's database."""
    return _build_statements(connection.dialect.name)


def _upsert_patient(
    connection: Connection, clinic: ClinicInfo, text: InboundText, language: str, now: datetime
) -> PatientState | None:
    """Find or record the patient and count this text in their reply-cap window, in one statement.

    A new patient is recorded in language. Returns None, changing nothing, when this MessageSid
    is stored already. On PostgreSQL the upsert also locks the row, so texts from one number
    are handled one at a time and consent changes and the cap never race (SQLite has one
    writer anyway).
    """
    window = timedelta(minutes=int(clinic.settings["reply_cap_window_minutes"]))
    params = {
        "sid": text.sid,
        "clinic_id": clinic.id,
        "phone": text.from_number,
        "language": language,
        "now": now,
        "window_floor": now - window,
    }
    row = _statements(connection).upsert_patient.first_row(connection, params)
    if row is None:
        return None
    patient_id, language, opted_out, has_consent, texts_in_window = row
    return PatientState(
        id=int(patient_id),
        phone=text.from_number,
        language=language,
        opted_out=bool(opted_out),
        has_consent=bool(has_consent),
        texts_in_window=int(texts_in_window),
    )


def _insert_inbound(
    connection: Connection,
    clinic: ClinicInfo,
    text: InboundText,
    patient_id: int,
    intent: Intent,
    language: str,
    now: datetime,
) -> int:
    """Store the inbound text; raise RepeatedMessageSid if its SID was stored meanwhile."""
    params = {
        "clinic_id": clinic.id,
        "patient_id": patient_id,
        "twilio_sid": text.sid,
        "from_number": text.from_number,
        "to_number": text.to_number,
        "body": text.body,
        "num_media": text.num_media,
        "language": language,
        "classification": intent_label(intent),
        "now": now,
    }
    row = _statements(connection).insert_inbound.first_row(connection, params)
    if row is None:
        raise RepeatedMessageSid(text.sid)
    return int(row[0])


def _awaited_checkin(connection: Connection, patient_id: int, now: datetime) -> int | None:
    """Return the appointment whose recent check-in still awaits this patient's score."""
    return connection.scalar(
        select(Appointment.id)
        .join(Reminder, Reminder.appointment_id == Appointment.id)
        .where(
            Reminder.patient_id == patient_id,
            Reminder.kinds.contains("checkin"),
            Reminder.status.in_((ReminderStatus.SENT, ReminderStatus.DELIVERED)),
            Reminder.sent_at >= now - CHECKIN_ANSWER_WINDOW,
            Appointment.checkin_score.is_(None),
        )
        .order_by(Reminder.sent_at.desc())
        .limit(1)
    )


def intent_label(intent: Intent) -> str:
    """Return a short classification label for the audit log."""
    detail = intent.topic or (intent.action.value if intent.action else None)
    if intent.score is not None:
        detail = str(intent.score)
    if intent.carrier_keyword:
        detail = "keyword"
    if intent.screened:
        detail = "screen"
    return f"{intent.kind.value}:{detail}" if detail else intent.kind.value


Reply = tuple[str, dict[str, str]]


@dataclass
class _Conversation:
    """The state one inbound text is applied to."""

    orm: _SessionOnDemand
    clinic: ClinicInfo
    patient: PatientState
    inbound_id: int
    catalog: Catalog
    matcher: Matcher
    language: str
    now: datetime
    public_base_url: str | None

    @property
    def session(self) -> Session:
        """Return the ORM session the rare paths write through."""
        return self.orm.get()

    def apply(
        self, intent: Intent, body: str, outcome: Outcome, awaited: int | None
    ) -> Reply | None:
        """Apply the intent's state changes and return the snippet to reply with, if any."""
        kind = intent.kind
        if kind in (IntentKind.CRISIS, IntentKind.EMERGENCY):
            self._raise_safety_alert(kind, outcome, screened=intent.screened)
            if self.matcher.crisis_opts_out(intent, body) and not self.patient.opted_out:
                self._opt_out(body, "sms_words_with_crisis", outcome)
            if intent.beneath is not None and not self.patient.opted_out:
                self._record_beneath(intent.beneath, outcome, awaited)
            # "My dad had a stroke, can I reschedule?": the request reaches staff too.
            request = self.matcher.visit_request(body)
            if request in STAFF_REQUESTS:
                self._alert(STAFF_REQUESTS[request], outcome)
            if intent.screened:
                # The screen can be wrong ("i feel more like myself"): the reply asks, not assumes.
                return "crisis_screen", {}
            return kind.value, {}
        if kind is IntentKind.OPT_OUT:
            if self.patient.opted_out:
                return None
            self._opt_out(body, "sms_keyword" if intent.carrier_keyword else "sms_words", outcome)
            return None if self._carrier_answered(intent) else ("opt_out", {})
        if kind is IntentKind.OPT_IN:
            self._opt_in(body, "sms_keyword" if intent.carrier_keyword else "sms_words")
            return None if self._carrier_answered(intent) else ("opt_in", {})
        if self.patient.opted_out:
            # Honour the opt-out: only HELP is still answered (safety was handled above). A
            # request for a call or a new time still reaches staff, who can phone.
            if kind is IntentKind.APPOINTMENT and intent.action in STAFF_REQUESTS:
                self._alert(STAFF_REQUESTS[intent.action], outcome)
            wants_help = intent.kind is IntentKind.TOPIC and intent.topic == "help"
            return ("help", {}) if wants_help else None
        if kind is IntentKind.CHECKIN_SCORE and awaited is not None and intent.score is not None:
            return self._record_checkin(awaited, intent.score, outcome)
        if kind is IntentKind.APPOINTMENT:
            return self._appointment(intent, outcome)
        if kind is IntentKind.TOPIC and intent.topic:
            return intent.topic, {}
        return "fallback", {}

    def _record_beneath(self, beneath: Intent, outcome: Outcome, awaited: int | None) -> None:
        """Record what a screened crisis also said: a confirmation, a ride or a check-in score."""
        # Only the state: the crisis reply is the one answer sent.
        if beneath.kind is IntentKind.APPOINTMENT and beneath.action in (
            AppointmentAction.CONFIRM,
            AppointmentAction.RIDE,
        ):
            self._appointment(beneath, outcome)
        elif beneath.kind is IntentKind.CHECKIN_SCORE and awaited is not None and beneath.score:
            self._record_checkin(awaited, beneath.score, outcome)

    def _carrier_answered(self, intent: Intent) -> bool:
        """Return whether Twilio has already answered this exact keyword itself."""
        return intent.carrier_keyword and bool(self.clinic.settings["twilio_handles_opt_out"])

    def _next_visit(self) -> Appointment | None:
        """Return the patient's next scheduled visit."""
        return self.session.scalar(
            select(Appointment)
            .where(
                Appointment.patient_id == self.patient.id,
                Appointment.status == AppointmentStatus.SCHEDULED,
                Appointment.starts_at > self.now,
            )
            .order_by(Appointment.starts_at)
            .limit(1)
        )

    def _visit_values(self, visit: Appointment) -> dict[str, str]:
        """Return the visit's local day, time and cutoffs for the reply."""
        zone = ZoneInfo(self.clinic.timezone)
        timing = TimingSettings.from_settings(self.clinic.settings)
        times = visit_times(visit.starts_at, visit.treatment, timing, zone)
        return reminder_values(
            times.start,
            times.no_food_after,
            times.liquids_until,
            times.arrive_by,
            zone,
            self.language,
        ).as_dict()

    def _appointment(self, intent: Intent, outcome: Outcome) -> Reply:
        """Handle NEXT, C, R, RIDE and CALL, only ever about this number's own visits."""
        if intent.action is AppointmentAction.CALL:
            self._alert(AlertKind.CALL_BACK, outcome)
            return "call_ack", {}
        if intent.action is AppointmentAction.RESCHEDULE:
            self._alert(AlertKind.RESCHEDULE, outcome)
            return "reschedule_ack", {}
        visit = self._next_visit()
        if visit is None:
            return "no_appointment", {}
        if intent.action is AppointmentAction.CONFIRM:
            visit.confirmed_at = visit.confirmed_at or self.now
            return "confirmed", self._visit_values(visit)
        if intent.action is AppointmentAction.RIDE:
            visit.driver_confirmed_at = visit.driver_confirmed_at or self.now
            return "ride_ack", self._visit_values(visit)
        return "next_appointment", self._visit_values(visit)

    def _record_checkin(self, appointment_id: int, score: int, outcome: Outcome) -> Reply:
        """Record a check-in score against its visit; a low score alerts staff."""
        self.session.execute(
            update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(checkin_score=score, checkin_at=self.now, updated_at=self.now)
        )
        if score in LOW_CHECKIN_SCORES:
            self._alert(AlertKind.LOW_CHECKIN, outcome)
            return "checkin_low", {}
        return "checkin_thanks", {}

    def _alert(self, kind: AlertKind, outcome: Outcome) -> int:
        """Add an alert for staff about this patient and text; return its id."""
        alert = raise_alert(
            self.session,
            clinic_id=self.clinic.id,
            patient_id=self.patient.id,
            kind=kind,
            now=self.now,
            message_id=self.inbound_id,
        )
        outcome.alert_ids.append(alert.id)
        return alert.id

    def _raise_safety_alert(
        self, kind: IntentKind, outcome: Outcome, *, screened: bool = False
    ) -> None:
        """Add the crisis or emergency alert and the page to the on-call number."""
        alert_id = self._alert(AlertKind(kind.value), outcome)
        if not self.clinic.oncall_number:
            log.error(
                "crisis alert raised but the clinic has no on-call number to page",
                extra={"clinic": self.clinic.slug, "alert_id": alert_id},
            )
            return
        link = f"{self.public_base_url or ''}/admin/patients/{self.patient.id}/conversation"
        page = Message(
            clinic_id=self.clinic.id,
            direction=Direction.OUTBOUND,
            purpose=Purpose.PAGE,
            from_number=self.clinic.sms_number,
            to_number=self.clinic.oncall_number,
            body=render_page(
                "crisis_screen" if screened else kind.value,
                clinic_name=self.clinic.name,
                alert_id=alert_id,
                link=link,
            ),
            classification=f"page:{kind.value}",
            status=MessageStatus.PENDING,
            reply_to_id=self.inbound_id,
            created_at=self.now,
        )
        self.session.add(page)
        self.session.flush()
        outcome.page_ids.append(page.id)

    def _opt_out(self, words: str, source: str, outcome: Outcome) -> None:
        """Record that the patient opted out, with their words and the time."""
        self.patient.opted_out = True
        self.patient.changes.update(opted_out=True, opted_out_at=self.now)
        self._record(ConsentChange.OPT_OUT, source, words)
        alert = alert_if_visit_at_risk(
            self.session,
            clinic_id=self.clinic.id,
            patient_id=self.patient.id,
            kind=AlertKind.OPTED_OUT_WITH_VISIT,
            now=self.now,
            message_id=self.inbound_id,
        )
        if alert is not None:
            outcome.alert_ids.append(alert.id)

    def _opt_in(self, words: str, source: str) -> None:
        """Re-subscribe the patient, recording consent by reply if there was none."""
        if not self.patient.has_consent:
            self.patient.has_consent = True
            self.patient.changes.update(
                consent_at=self.now, consent_method="sms_reply", consent_number=self.patient.phone
            )
            self._record(ConsentChange.CONSENT, source, words)
        if self.patient.opted_out:
            self.patient.opted_out = False
            self.patient.changes.update(opted_out=False)
            self._record(ConsentChange.OPT_IN, source, words)

    def _record(self, change: ConsentChange, source: str, words: str) -> None:
        """Append an entry to the patient's consent history."""
        self.session.add(
            ConsentEvent(
                patient_id=self.patient.id,
                change=change,
                source=source,
                words=words[:500],
                message_id=self.inbound_id,
                at=self.now,
            )
        )

    def within_reply_cap(self, intent: Intent, reply: Reply) -> Reply | None:
        """Return what to send under the reply cap: the reply, a one-time notice, or nothing."""
        if intent.is_safety or reply[0] in ("opt_out", "opt_in"):
            return reply
        cap = int(self.clinic.settings["reply_cap_count"])
        count = self.patient.texts_in_window
        if count <= cap:
            return reply
        log.warning(
            "reply cap reached",
            extra={"clinic": self.clinic.slug, "patient_id": self.patient.id, "texts": count},
        )
        # The number hears the notice once, then silence until the window passes.
        return ("rate_limited", {}) if count == cap + 1 else None

    def values(self) -> dict[str, str]:
        """Return the clinic's details for the snippet placeholders."""
        return clinic_values(self.clinic)
