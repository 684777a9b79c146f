"""Delivery status callbacks: statuses only ever move forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schedules.alerts import mark_number_unusable
from schedules.models import (
    STATUS_RANK,
    Message,
    MessageStatus,
    Patient,
    Reminder,
    ReminderStatus,
)

# What Twilio may report; our own bookkeeping statuses are not among them.
TWILIO_STATUSES = frozenset(STATUS_RANK) - {MessageStatus.CLAIMED, MessageStatus.UNKNOWN}

# The final Twilio statuses that settle a sent reminder.
REMINDER_OUTCOME = {
    "delivered": ReminderStatus.DELIVERED,
    "read": ReminderStatus.DELIVERED,
    "undelivered": ReminderStatus.FAILED,
    "failed": ReminderStatus.FAILED,
}
# Delivery errors that say the number will never take a text (30006: a landline or a carrier
# that cannot be reached; 30003, a phone switched off, passes): its later texts are skipped.
UNUSABLE_NUMBER_DELIVERY_CODES = frozenset({30006})


def record_delivery_status(
    session: Session, sid: str, status: str, error_code: int | None, now: datetime
) -> bool:
    """Move the text with this SID forward to status; return whether the SID is known."""
    current = session.scalar(select(Message.status).where(Message.twilio_sid == sid))
    if current is None:
        return False
    if STATUS_RANK[status] > STATUS_RANK.get(current, -1):
        values: dict[str, object] = {"status": status, "updated_at": now}
        if error_code is not None:
            values["error_code"] = error_code
        session.execute(update(Message).where(Message.twilio_sid == sid).values(**values))
    outcome = REMINDER_OUTCOME.get(status)
    if outcome is not None:
        session.execute(
            update(Reminder)
            .where(Reminder.twilio_sid == sid, Reminder.status == ReminderStatus.SENT)
            .values(status=outcome, error_code=error_code, updated_at=now)
        )
    if outcome is ReminderStatus.FAILED and error_code in UNUSABLE_NUMBER_DELIVERY_CODES:
        _mark_number_unusable(session, sid, error_code, now)
    return True


def _mark_number_unusable(session: Session, sid: str, error_code: int, now: datetime) -> None:
    """Record that the patient the reminder with this SID went to cannot take texts."""
    reminder = session.scalar(select(Reminder).where(Reminder.twilio_sid == sid))
    if reminder is not None:
        patient = session.get_one(Patient, reminder.patient_id)
        mark_number_unusable(session, reminder, patient, error_code, now)
