"""Staff pages for patient care: alerts to act on, a patient's conversation, the phone simulator.

Clinicians and admins see every alert; the front desk sees only the operational ones (call-back
and reschedule requests, opted-out patients with a visit coming, unusable numbers, send failures)
and never a crisis transcript. Every page filters by the staff member's clinic.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.admin import audit, audit_now, bp, require
from bot.admin.auth import Staff
from bot.conversation import InboundText, handle_inbound
from bot.services import ClinicInfo, services
from messages.catalog import ContentError
from messages.intents import LANGUAGES, Intent, IntentKind
from messages.segments import count_segments
from schedules.alerts import SAFETY_KINDS
from schedules.db import transaction, writer_lock
from schedules.models import (
    Alert,
    AlertKind,
    Appointment,
    AppointmentStatus,
    Clinic,
    ConsentEvent,
    Message,
    Patient,
    Purpose,
    StaffRole,
)
from schedules.phones import InvalidPhoneNumber, mask_phone, normalize_phone

OPERATIONAL_KINDS: tuple[str, ...] = (
    AlertKind.CALL_BACK,
    AlertKind.RESCHEDULE,
    AlertKind.OPTED_OUT_WITH_VISIT,
    AlertKind.UNUSABLE_NUMBER,
    AlertKind.SEND_FAILED,
)
ALL_KINDS: tuple[str, ...] = tuple(AlertKind)
KIND_LABELS: dict[str, str] = {
    AlertKind.CRISIS: "Crisis language",
    AlertKind.EMERGENCY: "Medical emergency",
    AlertKind.LOW_CHECKIN: "Low check-in score",
    AlertKind.CALL_BACK: "Asked for a call back",
    AlertKind.RESCHEDULE: "Asked to reschedule",
    AlertKind.OPTED_OUT_WITH_VISIT: "Opted out, visit coming",
    AlertKind.UNUSABLE_NUMBER: "Number cannot take texts",
    AlertKind.SEND_FAILED: "Text not sent",
}
# Open alerts shown at once; a clinic with more has a backlog the page says it is cutting.
OPEN_LIMIT = 300
ACKNOWLEDGED_DAYS = 7
ACKNOWLEDGED_LIMIT = 200
THREAD_LIMIT = 200
MAX_NOTE = 2000
MAX_SIMULATED_TEXT = 1600
# Fictional numbers (555-01xx) stand in for "a number the clinic has never seen".
SIMULATOR_NUMBERS: tuple[str, ...] = tuple(f"+1202555{n:04d}" for n in range(100, 200))


def visible_kinds(staff: Staff) -> tuple[str, ...]:
    """Return the alert kinds this staff member may see."""
    return ALL_KINDS if staff.can(StaffRole.CLINICIAN) else OPERATIONAL_KINDS


def ago(then: datetime, now: datetime) -> str:
    """Return how long ago then was, the way staff say it ("12 min ago")."""
    seconds = max((now - then).total_seconds(), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def local_time(staff: Staff) -> Any:
    """Return a formatter of UTC times as the clinic's wall clock."""
    zone = ZoneInfo(staff.clinic_timezone)

    def fmt(moment: datetime | None, with_day: bool = True) -> str:
        if moment is None:
            return ""
        here = moment.astimezone(zone)
        clock = here.strftime("%I:%M %p").lstrip("0")
        return f"{here.strftime('%a %b')} {here.day}, {clock}" if with_day else clock

    return fmt


def _safe_next(target: str | None, fallback: str) -> str:
    """Return target when it is a page of this site's staff area, else fallback."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return fallback


@dataclass(frozen=True)
class AlertRow:
    """One alert as the list shows it."""

    alert: Alert
    patient_name: str | None
    phone: str | None
    label: str
    age: str

    @property
    def masked_phone(self) -> str:
        """Return the patient's number with all but the last four digits hidden."""
        return mask_phone(self.phone)

    @property
    def urgent(self) -> bool:
        """Return whether this is a crisis or emergency alert."""
        return self.alert.kind in SAFETY_KINDS


def _alert_rows(session: Session, query: Any, now: datetime) -> list[AlertRow]:
    """Run an alert query joined to its patient and return the rows."""
    return [
        AlertRow(
            alert, name, phone, KIND_LABELS.get(alert.kind, alert.kind), ago(alert.created_at, now)
        )
        for alert, name, phone in session.execute(query)
    ]


@bp.get("/alerts")
@require(StaffRole.FRONTDESK)
def alerts() -> ResponseReturnValue:
    """List open alerts, most urgent first, then those acknowledged in the last week."""
    staff: Staff = g.staff
    now = datetime.now(UTC)
    kinds = visible_kinds(staff)
    rank = case({kind: index for index, kind in enumerate(ALL_KINDS)}, value=Alert.kind, else_=99)
    base = (
        select(Alert, Patient.name, Patient.phone)
        .outerjoin(Patient, Patient.id == Alert.patient_id)
        .where(Alert.clinic_id == staff.clinic_id, Alert.kind.in_(kinds))
    )
    with transaction(services().sessions) as session:
        open_rows = _alert_rows(
            session,
            base.where(Alert.acknowledged_at.is_(None))
            # The longest-waiting first within a kind.
            .order_by(rank, Alert.created_at, Alert.id)
            .limit(OPEN_LIMIT),
            now,
        )
        done_rows = _alert_rows(
            session,
            base.where(Alert.acknowledged_at >= now - timedelta(days=ACKNOWLEDGED_DAYS))
            .order_by(Alert.acknowledged_at.desc(), Alert.id.desc())
            .limit(ACKNOWLEDGED_LIMIT),
            now,
        )
        counts = dict(
            session.execute(
                select(Alert.kind, func.count())
                .where(
                    Alert.clinic_id == staff.clinic_id,
                    Alert.kind.in_(kinds),
                    Alert.acknowledged_at.is_(None),
                )
                .group_by(Alert.kind)
            ).all()
        )
        audit(session, "view_alerts", detail=f"{len(open_rows)} open")
    return render_template(
        "admin/alerts.html",
        open_rows=open_rows,
        done_rows=done_rows,
        counts=[(kind, KIND_LABELS[kind], counts[kind]) for kind in kinds if counts.get(kind)],
        total_open=sum(counts.values()),
        can_read=staff.can(StaffRole.CLINICIAN),
        safety_kinds=SAFETY_KINDS,
        acknowledged_days=ACKNOWLEDGED_DAYS,
        when=local_time(staff),
        max_note=MAX_NOTE,
    )


@bp.post("/alerts/<int:alert_id>/ack")
@require(StaffRole.FRONTDESK)
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """Acknowledge an alert with a note, recording who and when."""
    staff: Staff = g.staff
    back = _safe_next(request.form.get("next"), url_for("admin.alerts"))
    note = request.form.get("note", "").strip()[:MAX_NOTE]
    now = datetime.now(UTC)
    with transaction(services().sessions) as session:
        alert = session.scalar(
            select(Alert).where(Alert.id == alert_id, Alert.clinic_id == staff.clinic_id)
        )
        if alert is None:
            abort(404)
        if alert.kind not in visible_kinds(staff):
            audit(
                session, "forbidden", target_type="alert", target_id=alert_id, detail=request.path
            )
            forbidden = True
        else:
            forbidden = False
            if alert.acknowledged_at is None and alert.kind in SAFETY_KINDS and not note:
                flash(f"Alert #{alert_id}: say what was done in the note before acknowledging it.")
                return redirect(back, code=303)
            done = session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
                .values(acknowledged_by=staff.email, acknowledged_at=now, note=note or None)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 1:
                audit(
                    session, "ack_alert", target_type="alert", target_id=alert_id, detail=alert.kind
                )
                flash(f"Alert #{alert_id} acknowledged.")
            else:
                flash(f"Alert #{alert_id} was already acknowledged by {alert.acknowledged_by}.")
    if forbidden:
        abort(403)
    return redirect(back, code=303)


@dataclass
class ThreadEntry:
    """One text in a conversation, with the pages it caused."""

    message: Message
    pages: list[Message] = field(default_factory=list)


@bp.get("/patients/<int:patient_id>/conversation")
@require(StaffRole.CLINICIAN)
def conversation(patient_id: int) -> ResponseReturnValue:
    """Show a patient's texts in and out, their consent record and their alerts."""
    staff: Staff = g.staff
    now = datetime.now(UTC)
    with transaction(services().sessions) as session:
        patient = session.scalar(
            select(Patient).where(Patient.id == patient_id, Patient.clinic_id == staff.clinic_id)
        )
        if patient is None:
            abort(404)
        newest_first = list(
            session.scalars(
                select(Message)
                .where(Message.patient_id == patient_id, Message.clinic_id == staff.clinic_id)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(THREAD_LIMIT + 1)
            )
        )
        truncated = len(newest_first) > THREAD_LIMIT
        thread = [ThreadEntry(m) for m in reversed(newest_first[:THREAD_LIMIT])]
        by_id = {entry.message.id: entry for entry in thread}
        inbound_ids = [e.message.id for e in thread if e.message.direction == "in"]
        if inbound_ids:
            for page in session.scalars(
                select(Message)
                .where(Message.purpose == Purpose.PAGE, Message.reply_to_id.in_(inbound_ids))
                .order_by(Message.id)
            ):
                by_id[page.reply_to_id].pages.append(page)  # type: ignore[index]
        events = list(
            session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.patient_id == patient_id)
                .order_by(ConsentEvent.at, ConsentEvent.id)
            )
        )
        alert_rows = _alert_rows(
            session,
            select(Alert, Patient.name, Patient.phone)
            .outerjoin(Patient, Patient.id == Alert.patient_id)
            .where(Alert.patient_id == patient_id, Alert.clinic_id == staff.clinic_id)
            .order_by(Alert.acknowledged_at.is_not(None), Alert.created_at.desc())
            .limit(50),
            now,
        )
        visits = list(
            session.scalars(
                select(Appointment)
                .where(
                    Appointment.patient_id == patient_id,
                    Appointment.status == AppointmentStatus.SCHEDULED,
                    Appointment.starts_at > now,
                )
                .order_by(Appointment.starts_at)
                .limit(5)
            )
        )
        audit(session, "view_conversation", target_type="patient", target_id=patient_id)
    return render_template(
        "admin/conversation.html",
        patient=patient,
        thread=thread,
        truncated=truncated,
        events=events,
        alert_rows=alert_rows,
        visits=visits,
        safety_kinds=SAFETY_KINDS,
        when=local_time(staff),
        max_note=MAX_NOTE,
        thread_limit=THREAD_LIMIT,
    )


@contextmanager
def rolled_back(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session in a transaction that is always rolled back, never committed."""
    bind = factory.kw.get("bind")
    lock = writer_lock(bind) if isinstance(bind, Engine) else None
    with lock.held() if lock is not None else nullcontext(), factory() as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


@dataclass(frozen=True)
class Simulation:
    """What the bot would have done with one text."""

    reply: str | None
    snippet_id: str | None
    intent: Intent
    segments: Any
    alerts: list[str]
    pages: int
    consent_changes: list[str]
    as_number: str
    silence: str | None = None


def describe_intent(intent: Intent) -> str:
    """Return the matched intent in plain words."""
    if intent.kind is IntentKind.TOPIC:
        return f"topic: {intent.topic}"
    if intent.kind is IntentKind.APPOINTMENT and intent.action:
        return f"appointment: {intent.action.value}"
    if intent.kind is IntentKind.CHECKIN_SCORE:
        return f"check-in score: {intent.score}"
    if intent.carrier_keyword:
        return f"{intent.kind.value} (carrier keyword)"
    return intent.kind.value


def _simulator_number(session: Session, clinic_id: int) -> str:
    """Return a fictional number no patient of the clinic has."""
    taken = set(
        session.scalars(
            select(Patient.phone).where(
                Patient.clinic_id == clinic_id, Patient.phone.in_(SIMULATOR_NUMBERS)
            )
        )
    )
    return next(number for number in SIMULATOR_NUMBERS if number not in taken)


def simulate(
    clinic: ClinicInfo, body: str, phone: str | None, language: str, now: datetime
) -> Simulation:
    """Run one text through the webhook's own code in a transaction that is rolled back."""
    svc = services()
    catalog, matcher = svc.content.for_clinic(clinic)
    intent = matcher.classify(body, awaiting_checkin=True)
    with rolled_back(svc.sessions) as session:
        number = phone or _simulator_number(session, clinic.id)
        if language in LANGUAGES:
            _set_language(session, clinic.id, number, language, now)
        was_opted_out = bool(
            session.scalar(
                select(Patient.opted_out).where(
                    Patient.clinic_id == clinic.id, Patient.phone == number
                )
            )
        )
        text = InboundText(
            sid="SM" + secrets.token_hex(16),
            from_number=number,
            to_number=clinic.sms_number,
            body=body,
        )
        outcome = handle_inbound(
            session.connection(),
            clinic,
            text,
            intent,
            catalog=catalog,
            matcher=matcher,
            now=now,
            public_base_url=current_app.config.get("PUBLIC_BASE_URL"),
        )
        alerts = list(session.scalars(select(Alert.kind).where(Alert.id.in_(outcome.alert_ids))))
        snippet_id = session.scalar(
            select(Message.classification).where(
                Message.reply_to_id == outcome.inbound_id, Message.purpose == Purpose.REPLY
            )
        )
        changes = list(
            session.scalars(
                select(ConsentEvent.change)
                .where(ConsentEvent.message_id == outcome.inbound_id)
                .order_by(ConsentEvent.id)
            )
        )
    return Simulation(
        reply=outcome.reply,
        snippet_id=snippet_id,
        intent=outcome.intent or intent,
        segments=count_segments(outcome.reply) if outcome.reply else None,
        alerts=[KIND_LABELS.get(kind, kind) for kind in alerts],
        pages=len(outcome.page_ids),
        consent_changes=changes,
        as_number=number,
        silence=None
        if outcome.reply
        else _why_silent(clinic, outcome.intent or intent, was_opted_out),
    )


def _why_silent(clinic: ClinicInfo, intent: Intent, was_opted_out: bool) -> str:
    """Say why the bot would not reply."""
    if intent.carrier_keyword and clinic.settings["twilio_handles_opt_out"]:
        return "Twilio itself answers this keyword on the clinic's number"
    if was_opted_out:
        return "this number has opted out: only HELP, START and safety texts are answered"
    return "this number has reached the reply limit for now"


def _set_language(
    session: Session, clinic_id: int, number: str, language: str, now: datetime
) -> None:
    """Give the simulated sender this language, as if the clinic had recorded it."""
    changed = session.execute(
        update(Patient)
        .where(Patient.clinic_id == clinic_id, Patient.phone == number)
        .values(language=language)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount == 0:
        # Not new by the time the text arrives, so the text's own language does not replace it.
        session.add(
            Patient(
                clinic_id=clinic_id,
                phone=number,
                language=language,
                created_at=now - timedelta(seconds=1),
            )
        )
        session.flush()


@bp.route("/simulator", methods=["GET", "POST"])
@require(StaffRole.FRONTDESK)
def simulator() -> ResponseReturnValue:
    """Type as a patient and see the exact reply, without anything being sent or stored."""
    staff: Staff = g.staff
    form = {
        "body": request.form.get("body", ""),
        "who": request.form.get("who", "unknown"),
        "phone": request.form.get("phone", ""),
        "language": request.form.get("language", "auto"),
    }
    errors: list[str] = []
    result: Simulation | None = None
    status = 200
    if request.method == "POST":
        body = form["body"].strip()
        phone: str | None = None
        if not body:
            errors.append("Type the text the patient sends.")
        elif len(body) > MAX_SIMULATED_TEXT:
            errors.append(f"Keep the text under {MAX_SIMULATED_TEXT} characters.")
        if form["who"] == "patient":
            try:
                phone = normalize_phone(form["phone"])
            except InvalidPhoneNumber as exc:
                errors.append(f"Patient number: {exc}.")
        with services().sessions() as session:
            clinic_row = session.get_one(Clinic, staff.clinic_id)
            clinic = ClinicInfo.from_row(clinic_row)
            if phone and not errors:
                known = session.scalar(
                    select(Patient.id).where(
                        Patient.clinic_id == staff.clinic_id, Patient.phone == phone
                    )
                )
                if known is None:
                    errors.append(
                        "No patient of this clinic has that number; choose unknown number."
                    )
        if not errors:
            try:
                result = simulate(clinic, body, phone, form["language"], datetime.now(UTC))
            except ContentError as exc:
                errors.append(f"The clinic's content cannot be used: {exc}")
        if errors:
            status = 422
        audit_now(
            "simulate",
            detail=f"as {'a patient' if form['who'] == 'patient' else 'an unknown'} number, "
            f"language {form['language']}",
        )
    return (
        render_template(
            "admin/simulator.html",
            form=form,
            errors=errors,
            result=result,
            describe_intent=describe_intent,
            languages=LANGUAGES,
            max_text=MAX_SIMULATED_TEXT,
        ),
        status,
    )
