"""Delivery status callbacks: statuses only ever move forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schedules.models import STATUS_RANK, Message, MessageStatus, Reminder, ReminderStatus

# What Twilio may report; our own bookkeeping statuses are not among them.
TWILIO_STATUSES = frozenset(STATUS_RANK) - {MessageStatus.CLAIMED, MessageStatus.UNKNOWN}

# The final Twilio statuses that settle a sent reminder.
REMINDER_OUTCOME = {
    "delivered": ReminderStatus.DELIVERED,
    "read": ReminderStatus.DELIVERED,
    "undelivered": ReminderStatus.FAILED,
    "failed": ReminderStatus.FAILED,
}


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
    return True
