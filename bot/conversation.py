"""Turns one inbound text into state changes and a reply, inside the caller's transaction.

Order matters and is fixed: the text is stored, then classified; crisis is handled before
anything else (alert and page row written first); opt-out and opt-in change consent; only then
are questions answered. Reply caps never silence a safety reply or a consent confirmation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.services import ClinicInfo
from messages.catalog import Catalog
from messages.intents import AppointmentAction, Intent, IntentKind
from messages.matcher import Matcher
from messages.staff import render_page
from schedules.models import (
    Alert,
    AlertKind,
    ConsentChange,
    ConsentEvent,
    Direction,
    Message,
    MessageStatus,
    Patient,
    Purpose,
)
from schedules.phones import mask_phone

log = logging.getLogger("clinicbot.conversation")


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


def handle_inbound(
    session: Session,
    clinic: ClinicInfo,
    text: InboundText,
    *,
    catalog: Catalog,
    matcher: Matcher,
    now: datetime,
    public_base_url: str | None,
) -> Outcome:
    """Store, classify and act on one inbound text; the caller commits."""
    inbound = _store_inbound(session, clinic, text, now)
    if inbound is None:
        return _repeat_of(session, text.sid)
    patient, is_new = _patient_for(session, clinic, text.from_number, now)
    inbound.patient_id = patient.id

    intent = matcher.classify(text.body, awaiting_checkin=False)
    if is_new and intent.language:
        patient.language = intent.language
    language = intent.language or patient.language
    if language not in catalog.languages:
        language = "en"
    inbound.classification = _label(intent)
    inbound.language = language

    outcome = Outcome(reply=None, inbound_id=inbound.id, intent=intent)
    conversation = _Conversation(
        session, clinic, patient, inbound, catalog, matcher, language, now, public_base_url
    )
    reply_snippet = conversation.apply(intent, text.body, outcome)
    if reply_snippet is not None:
        reply_snippet = conversation.within_reply_cap(intent, reply_snippet)
    if reply_snippet is not None:
        outcome.reply = catalog.render(reply_snippet, language, conversation.values())
        session.add(
            Message(
                clinic_id=clinic.id,
                patient_id=patient.id,
                direction=Direction.OUTBOUND,
                purpose=Purpose.REPLY,
                from_number=clinic.sms_number,
                to_number=text.from_number,
                body=outcome.reply,
                language=language,
                classification=reply_snippet,
                status=MessageStatus.REPLIED,
                reply_to_id=inbound.id,
                created_at=now,
                sent_at=now,
            )
        )
    session.flush()
    log.info(
        "inbound text handled",
        extra={
            "clinic": clinic.slug,
            "from": mask_phone(text.from_number),
            "sid": text.sid,
            "intent": inbound.classification,
            "replied": outcome.reply is not None,
            "alerts": len(outcome.alert_ids),
        },
    )
    return outcome


def _store_inbound(
    session: Session, clinic: ClinicInfo, text: InboundText, now: datetime
) -> Message | None:
    """Insert the inbound text; return None when its MessageSid was already stored."""
    message = Message(
        clinic_id=clinic.id,
        direction=Direction.INBOUND,
        twilio_sid=text.sid,
        from_number=text.from_number,
        to_number=text.to_number,
        body=text.body,
        num_media=text.num_media,
        status=MessageStatus.RECEIVED,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None
    return message


def _repeat_of(session: Session, sid: str) -> Outcome:
    """Return the answer already given to the text with this MessageSid."""
    inbound_id = session.scalar(select(Message.id).where(Message.twilio_sid == sid))
    if inbound_id is None:
        raise RuntimeError("MessageSid conflicted but is not stored")
    reply = session.scalar(
        select(Message.body)
        .where(Message.reply_to_id == inbound_id, Message.purpose == Purpose.REPLY)
        .order_by(Message.id)
        .limit(1)
    )
    log.info("repeated MessageSid answered from the log", extra={"sid": sid})
    return Outcome(reply=reply, inbound_id=inbound_id, duplicate=True)


def _patient_for(
    session: Session, clinic: ClinicInfo, phone: str, now: datetime
) -> tuple[Patient, bool]:
    """Return the clinic's patient with this number (recorded now if new) and whether it is new."""
    # Locking the row serialises texts from one number (PostgreSQL; SQLite has one writer anyway),
    # so consent changes and the reply cap never race each other.
    query = (
        select(Patient)
        .where(Patient.clinic_id == clinic.id, Patient.phone == phone)
        .with_for_update()
    )
    patient = session.scalar(query)
    if patient is not None:
        return patient, False
    patient = Patient(clinic_id=clinic.id, phone=phone, language="en", created_at=now)
    try:
        with session.begin_nested():
            session.add(patient)
    except IntegrityError:
        # Another request from the same new number won the insert.
        found = session.scalar(query)
        if found is None:
            raise
        return found, False
    return patient, True


def _label(intent: Intent) -> str:
    """Return a short classification label for the audit log."""
    detail = intent.topic or (intent.action.value if intent.action else None)
    if intent.score is not None:
        detail = str(intent.score)
    if intent.carrier_keyword:
        detail = "keyword"
    return f"{intent.kind.value}:{detail}" if detail else intent.kind.value


@dataclass
class _Conversation:
    """The state one inbound text is applied to."""

    session: Session
    clinic: ClinicInfo
    patient: Patient
    inbound: Message
    catalog: Catalog
    matcher: Matcher
    language: str
    now: datetime
    public_base_url: str | None

    def apply(self, intent: Intent, body: str, outcome: Outcome) -> str | None:
        """Apply the intent's state changes and return the snippet id to reply with, if any."""
        kind = intent.kind
        if kind in (IntentKind.CRISIS, IntentKind.EMERGENCY):
            self._raise_safety_alert(kind, outcome)
            if self.matcher.mentions_opt_out(body):
                self._opt_out(body, source="sms_words_with_crisis")
            return kind.value
        if kind is IntentKind.OPT_OUT:
            if self.patient.opted_out:
                return None
            self._opt_out(body, source="sms_keyword" if intent.carrier_keyword else "sms_words")
            return None if self._carrier_answered(intent) else "opt_out"
        if kind is IntentKind.OPT_IN:
            self._opt_in(body, source="sms_keyword" if intent.carrier_keyword else "sms_words")
            return None if self._carrier_answered(intent) else "opt_in"
        if self.patient.opted_out:
            # Honour the opt-out: only HELP is still answered (safety was handled above).
            return "help" if intent.kind is IntentKind.TOPIC and intent.topic == "help" else None
        if kind is IntentKind.APPOINTMENT:
            return self._appointment(intent, outcome)
        if kind is IntentKind.TOPIC and intent.topic:
            return intent.topic
        return "fallback"

    def _carrier_answered(self, intent: Intent) -> bool:
        """Return whether Twilio has already answered this exact keyword itself."""
        return intent.carrier_keyword and bool(self.clinic.settings["twilio_handles_opt_out"])

    def _appointment(self, intent: Intent, outcome: Outcome) -> str:
        """Handle NEXT, C, R, RIDE and CALL."""
        if intent.action is AppointmentAction.RESCHEDULE:
            self._alert(AlertKind.RESCHEDULE, outcome)
            return "reschedule_ack"
        if intent.action is AppointmentAction.CALL:
            self._alert(AlertKind.CALL_BACK, outcome)
            return "call_ack"
        # NEXT, C and RIDE act on the patient's next appointment; none is on record for this number.
        return "no_appointment"

    def _alert(self, kind: AlertKind, outcome: Outcome) -> Alert:
        """Add an alert for staff about this patient and text."""
        alert = Alert(
            clinic_id=self.clinic.id,
            patient_id=self.patient.id,
            kind=kind,
            message_id=self.inbound.id,
            created_at=self.now,
        )
        self.session.add(alert)
        self.session.flush()
        outcome.alert_ids.append(alert.id)
        return alert

    def _raise_safety_alert(self, kind: IntentKind, outcome: Outcome) -> None:
        """Add the crisis or emergency alert and the page to the on-call number."""
        alert = self._alert(AlertKind(kind.value), outcome)
        if not self.clinic.oncall_number:
            log.error(
                "crisis alert raised but the clinic has no on-call number to page",
                extra={"clinic": self.clinic.slug, "alert_id": alert.id},
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
                kind.value, clinic_name=self.clinic.name, alert_id=alert.id, link=link
            ),
            classification=f"page:{kind.value}",
            status=MessageStatus.PENDING,
            reply_to_id=self.inbound.id,
            created_at=self.now,
        )
        self.session.add(page)
        self.session.flush()
        outcome.page_ids.append(page.id)

    def _opt_out(self, words: str, source: str) -> None:
        """Record that the patient opted out, with their words and the time."""
        self.patient.opted_out = True
        self.patient.opted_out_at = self.now
        self._record(ConsentChange.OPT_OUT, source, words)

    def _opt_in(self, words: str, source: str) -> None:
        """Re-subscribe the patient, recording consent by reply if there was none."""
        if self.patient.consent_at is None:
            self.patient.consent_at = self.now
            self.patient.consent_method = "sms_reply"
            self.patient.consent_number = self.patient.phone
            self._record(ConsentChange.CONSENT, source, words)
        if self.patient.opted_out:
            self.patient.opted_out = False
            self._record(ConsentChange.OPT_IN, source, words)

    def _record(self, change: ConsentChange, source: str, words: str) -> None:
        """Append an entry to the patient's consent history."""
        self.session.add(
            ConsentEvent(
                patient_id=self.patient.id,
                change=change,
                source=source,
                words=words[:500],
                message_id=self.inbound.id,
                at=self.now,
            )
        )

    def within_reply_cap(self, intent: Intent, snippet: str) -> str | None:
        """Return what to send under the reply cap: the reply, a one-time notice, or nothing."""
        if intent.is_safety or snippet in ("opt_out", "opt_in"):
            return snippet
        cap = int(self.clinic.settings["reply_cap_count"])
        recent = self._replies_in_window()
        if recent < cap:
            return snippet
        log.warning(
            "reply cap reached",
            extra={
                "clinic": self.clinic.slug,
                "from": mask_phone(self.patient.phone),
                "replies_in_window": recent,
            },
        )
        # The notice itself counts as a reply, so the number hears it once and then silence.
        return "rate_limited" if recent == cap else None

    def _replies_in_window(self) -> int:
        """Count the replies this number got inside the reply-cap window."""
        window = timedelta(minutes=int(self.clinic.settings["reply_cap_window_minutes"]))
        return int(
            self.session.scalar(
                select(func.count(Message.id)).where(
                    Message.patient_id == self.patient.id,
                    Message.direction == Direction.OUTBOUND,
                    Message.purpose == Purpose.REPLY,
                    Message.created_at > self.now - window,
                )
            )
            or 0
        )

    def values(self) -> dict[str, str]:
        """Return the clinic's details for the snippet placeholders."""
        return {
            "clinic_name": self.clinic.name,
            "clinic_phone": display_phone(self.clinic.phone),
            "clinic_hours": self.clinic.hours,
        }


def display_phone(e164: str) -> str:
    """Return a number the way a patient would dial it from the clinic's country."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
