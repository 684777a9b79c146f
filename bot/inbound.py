"""One inbound text end to end: find the clinic, act in one transaction, then send pages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.conversation import (
    InboundText,
    Outcome,
    RepeatedMessageSid,
    handle_inbound,
    intent_label,
    stored_answer,
)
from bot.services import Services
from schedules.db import connection_transaction
from schedules.phones import mask_phone

log = logging.getLogger("clinicbot.inbound")


class UnknownClinicNumber(LookupError):
    """The text went to a number no clinic uses."""


def receive_text(
    svc: Services,
    text: InboundText,
    public_base_url: str | None,
    now: datetime | None = None,
) -> Outcome:
    """Handle one inbound text for the webhook and the chat command alike."""
    now = now or datetime.now(UTC)
    clinic = svc.clinics.by_sms_number(text.to_number)
    if clinic is None:
        log.warning("text to a number no clinic uses", extra={"to": mask_phone(text.to_number)})
        raise UnknownClinicNumber(text.to_number)
    catalog, matcher = svc.content.for_clinic(clinic)
    # Classifying is pure: done before the transaction, it never holds a database lock.
    intent = matcher.classify(text.body, awaiting_checkin=True)
    try:
        with connection_transaction(svc.engine) as connection:
            outcome = handle_inbound(
                connection,
                clinic,
                text,
                intent,
                catalog=catalog,
                matcher=matcher,
                now=now,
                public_base_url=public_base_url,
            )
    except RepeatedMessageSid:
        # A concurrent request stored this SID first; its transaction has committed by now.
        with connection_transaction(svc.engine) as connection:
            repeat = stored_answer(connection, text.sid)
        if repeat is None:
            raise
        return repeat
    # Only after the commit: the page rows exist for the worker's sweep if this process dies.
    svc.pages.submit(outcome.page_ids)
    log.info(
        "inbound text handled",
        extra={
            "clinic": clinic.slug,
            "from": mask_phone(text.from_number),
            "sid": text.sid,
            "intent": intent_label(outcome.intent or intent),
            "replied": outcome.reply is not None,
            "alerts": len(outcome.alert_ids),
        },
    )
    return outcome
