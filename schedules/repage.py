"""Paging the on-call number again while a crisis or emergency alert waits for someone.

Each dispatch run looks for crisis and emergency alerts nobody has acknowledged within the
clinic's `crisis_repage_minutes` (since the alert, or since its last re-page) and pages again.
An alert is claimed with one guarded UPDATE of `repaged_at`, so with any number of workers it is
re-paged once per interval; the page row is committed with the claim and then sent like the
first page (a send that fails is retried by the page sweep).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from messages.staff import render_page
from schedules.db import transaction
from schedules.models import Alert, AlertKind, Clinic, Direction, Message, MessageStatus, Purpose
from schedules.outbox import send_now
from schedules.sender import Sender
from schedules.settings import SETTINGS, effective_settings

log = logging.getLogger("clinicbot.repage")

REPAGE_KINDS: tuple[str, ...] = (AlertKind.CRISIS.value, AlertKind.EMERGENCY.value)
# No clinic may re-page more often than this, so older alerts are all the query has to read.
SHORTEST_INTERVAL = timedelta(minutes=float(SETTINGS["crisis_repage_minutes"].minimum or 1))


def repage_unacknowledged(
    factory: sessionmaker[Session],
    sender: Sender,
    now: datetime,
    status_callback: str | None = None,
    public_base_url: str | None = None,
) -> dict[int, str]:
    """Page again for each crisis or emergency alert left unacknowledged for the clinic's
    interval; return the status each new page ended in."""
    with transaction(factory) as session:
        page_ids = claim_repages(session, now, public_base_url)
    if not page_ids:
        return {}
    return send_now(factory, sender, page_ids, now, status_callback)


def claim_repages(session: Session, now: datetime, public_base_url: str | None = None) -> list[int]:
    """Claim the alerts due a re-page and add their pending page rows; return the pages' ids.

    public_base_url makes the link of a page written afresh (no first page to repeat) whole."""
    rows = session.execute(
        select(Alert, Clinic)
        .join(Clinic, Clinic.id == Alert.clinic_id)
        .where(
            Alert.kind.in_(REPAGE_KINDS),
            Alert.acknowledged_at.is_(None),
            Clinic.oncall_number.is_not(None),
            func.coalesce(Alert.repaged_at, Alert.created_at) <= now - SHORTEST_INTERVAL,
        )
        .order_by(Alert.id)
    ).all()
    due: list[tuple[Alert, Clinic]] = []
    for alert, clinic in rows:
        minutes = int(effective_settings(clinic.settings)["crisis_repage_minutes"])
        cutoff = now - timedelta(minutes=minutes)
        if (alert.repaged_at or alert.created_at) > cutoff:
            continue
        claimed = session.execute(
            update(Alert)
            .where(
                Alert.id == alert.id,
                Alert.acknowledged_at.is_(None),
                or_(
                    and_(Alert.repaged_at.is_(None), Alert.created_at <= cutoff),
                    Alert.repaged_at <= cutoff,
                ),
            )
            .values(repaged_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            due.append((alert, clinic))
    if not due:
        return []
    first_pages = _first_pages(session, [a.message_id for a, _ in due if a.message_id])
    pages = []
    for alert, clinic in due:
        original = first_pages.get(alert.message_id) if alert.message_id else None
        if original is None:
            # No first page to repeat (the clinic had no on-call number then): the same words.
            path = (
                f"/admin/patients/{alert.patient_id}/conversation"
                if alert.patient_id
                else "/admin/alerts"
            )
            link = f"{public_base_url or ''}{path}"
            original = render_page(
                alert.kind, clinic_name=clinic.name, alert_id=alert.id, link=link
            )
        waited = max(int((now - alert.created_at).total_seconds() // 60), 1)
        page = Message(
            clinic_id=clinic.id,
            direction=Direction.OUTBOUND,
            purpose=Purpose.PAGE,
            from_number=clinic.sms_number,
            to_number=clinic.oncall_number,
            body=f"REMINDER, not acknowledged after {waited} min: {original}",
            classification=f"repage:{alert.kind}",
            status=MessageStatus.PENDING,
            reply_to_id=alert.message_id,
            created_at=now,
        )
        session.add(page)
        pages.append((alert, page))
    session.flush()
    for alert, page in pages:
        log.warning(
            "unacknowledged alert paged again",
            extra={"alert_id": alert.id, "kind": alert.kind, "page_id": page.id},
        )
    return [page.id for _, page in pages]


def _first_pages(session: Session, inbound_ids: list[int]) -> dict[int, str]:
    """Return inbound text id -> the body of the first page sent about it."""
    if not inbound_ids:
        return {}
    bodies: dict[int, str] = {}
    for reply_to_id, body in session.execute(
        select(Message.reply_to_id, Message.body)
        .where(
            Message.reply_to_id.in_(inbound_ids),
            Message.purpose == Purpose.PAGE,
            Message.classification.like("page:%"),
        )
        .order_by(Message.id)
    ):
        bodies.setdefault(reply_to_id, body)
    return bodies
