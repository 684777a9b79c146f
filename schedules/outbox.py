"""Outbound texts that are not reminders (pages to the on-call number): claim, send, record.

A text is marked `claimed` in its own committed transaction before it is handed to the sender,
and its outcome is recorded in another. A process that dies in between leaves it `claimed`
with no SID; a sweep later marks it `unknown` for staff instead of sending it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Select, Update, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from schedules.db import transaction
from schedules.models import IS_PAGE, Message, MessageStatus, Purpose
from schedules.phones import mask_phone
from schedules.sender import Sender, SendError

log = logging.getLogger("clinicbot.outbox")

STALE_CLAIM_AFTER = timedelta(minutes=5)
MAX_RETRYABLE_ATTEMPTS = 5


def claim_message(session: Session, message_id: int, now: datetime) -> bool:
    """Mark a pending outbound text as claimed; return whether this caller won it."""
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CLAIMED, attempts=Message.attempts + 1, updated_at=now)
    )
    return result.rowcount == 1


def send_claimed(
    factory: sessionmaker[Session],
    sender: Sender,
    message_id: int,
    now: datetime,
    status_callback: str | None = None,
) -> str:
    """Hand one claimed text to the sender and record what happened; return the new status."""
    with transaction(factory) as session:
        message = session.get(Message, message_id)
        if message is None:
            return "missing"
        to, body, from_number = message.to_number, message.body, message.from_number
        is_page = message.purpose == Purpose.PAGE
    outcome: dict[str, object]
    try:
        result = sender.send(
            to=to, body=body, from_number=from_number, status_callback=status_callback
        )
    except SendError as exc:
        outcome = _failure_outcome(exc, message_id, factory)
    else:
        outcome = {"status": result.status, "twilio_sid": result.sid, "sent_at": now}
    with transaction(factory) as session:
        session.execute(
            update(Message).where(Message.id == message_id).values(updated_at=now, **outcome)
        )
    status = str(outcome["status"])
    extra = {"message_id": message_id, "to": mask_phone(to), "status": status}
    if is_page and status in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
        # On-call may not have heard of a crisis: loud enough for the operator's log alerts.
        log.error(
            "page to on-call %s", status, extra={**extra, "error_code": outcome.get("error_code")}
        )
    else:
        log.info("outbound text %s", status, extra=extra)
    return status


def _failure_outcome(
    exc: SendError, message_id: int, factory: sessionmaker[Session]
) -> dict[str, object]:
    """Return the columns that record a sender error."""
    with transaction(factory) as session:
        attempts = session.scalar(select(Message.attempts).where(Message.id == message_id)) or 0
    if exc.retryable and attempts < MAX_RETRYABLE_ATTEMPTS:
        status = MessageStatus.PENDING
    elif exc.uncertain:
        # It may have gone out: never send it again blindly.
        status = MessageStatus.UNKNOWN
    else:
        status = MessageStatus.FAILED
    return {"status": status, "error_code": exc.code, "error_message": exc.message[:255]}


def send_now(
    factory: sessionmaker[Session],
    sender: Sender,
    message_ids: Iterable[int],
    now: datetime,
    status_callback: str | None = None,
) -> dict[int, str]:
    """Claim and send each pending text; return the status each ended in (skipped if taken)."""
    statuses: dict[int, str] = {}
    for message_id in message_ids:
        with transaction(factory) as session:
            won = claim_message(session, message_id, now)
        statuses[message_id] = (
            send_claimed(factory, sender, message_id, now, status_callback) if won else "skipped"
        )
    return statuses


def stale_page_claims(now: datetime) -> Update:
    """Return the update that marks pages claimed too long ago as unknown.

    A claimed page has no SID yet: the send's outcome replaces the status and sets the SID in
    one statement.
    """
    return (
        update(Message)
        .where(
            IS_PAGE,
            Message.status == MessageStatus.CLAIMED,
            Message.updated_at < now - STALE_CLAIM_AFTER,
        )
        .values(status=MessageStatus.UNKNOWN, updated_at=now)
    )


def due_pages(now: datetime, grace: timedelta) -> Select[tuple[int]]:
    """Return the query for up to 100 pending pages older than grace, oldest first."""
    return (
        select(Message.id)
        .where(
            IS_PAGE,
            Message.status == MessageStatus.PENDING,
            # updated_at moves on each retryable failure, so retries back off too.
            func.coalesce(Message.updated_at, Message.created_at) <= now - grace,
        )
        .order_by(Message.id)
        .limit(100)
    )


def sweep_pages(
    factory: sessionmaker[Session],
    sender: Sender,
    now: datetime,
    grace: timedelta = timedelta(seconds=30),
    status_callback: str | None = None,
) -> dict[int, str]:
    """Send pages the web process did not get to, and mark stale claims as unknown."""
    with transaction(factory) as session:
        session.execute(stale_page_claims(now))
        due = list(session.scalars(due_pages(now, grace)))
    return send_now(factory, sender, due, now, status_callback)
