"""Raising alerts for staff."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedules.models import Alert, AlertKind, Appointment, AppointmentStatus, Patient, Reminder

log = logging.getLogger("clinicbot.alerts")

# Days ahead in which a visit is at risk when its patient can no longer be texted.
VISIT_AT_RISK_DAYS = 7
# Alerts about a patient's safety: acknowledged only with a note saying what was done.
SAFETY_KINDS: tuple[str, ...] = (AlertKind.CRISIS, AlertKind.EMERGENCY)


def mark_number_unusable(
    session: Session, reminder: Reminder, patient: Patient, code: int, now: datetime
) -> None:
    """Record that a reminder's number cannot take texts (Twilio's code), telling staff once."""
    reminder.status_reason = f"number cannot take texts ({code})"
    if patient.unusable_at is not None:
        return
    patient.unusable_code, patient.unusable_at = code, now
    raise_alert(
        session,
        clinic_id=reminder.clinic_id,
        patient_id=patient.id,
        kind=AlertKind.UNUSABLE_NUMBER,
        now=now,
        message_id=reminder.message_id,
    )


def raise_alert(
    session: Session,
    *,
    clinic_id: int,
    patient_id: int | None,
    kind: AlertKind,
    now: datetime,
    message_id: int | None = None,
) -> Alert:
    """Add an alert for staff and return it with its id."""
    alert = Alert(
        clinic_id=clinic_id, patient_id=patient_id, kind=kind, message_id=message_id, created_at=now
    )
    session.add(alert)
    session.flush()
    log.info("alert raised", extra={"alert_id": alert.id, "kind": str(kind), "clinic": clinic_id})
    return alert


def alert_if_visit_at_risk(
    session: Session,
    *,
    clinic_id: int,
    patient_id: int,
    kind: AlertKind,
    now: datetime,
    message_id: int | None = None,
) -> Alert | None:
    """Alert staff when a patient who can no longer be texted has a visit in the coming days."""
    upcoming = session.scalar(
        select(Appointment.id)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.starts_at > now,
            Appointment.starts_at <= now + timedelta(days=VISIT_AT_RISK_DAYS),
        )
        .limit(1)
    )
    if upcoming is None:
        return None
    return raise_alert(
        session,
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        now=now,
        message_id=message_id,
    )
