"""Several processes writing at once: no "database is locked", no lost or doubled texts."""

from __future__ import annotations

import multiprocessing
import uuid

from sqlalchemy import func, select

from bot import create_app
from bot.conversation import InboundText
from bot.inbound import receive_text
from bot.services import services
from conftest import CLINIC_SMS
from schedules.db import transaction
from schedules.models import Message, Patient

PROCESSES = 3
TEXTS_EACH = 40


def _text_from_process(database_url: str, worker: int, shared_sids: list[str]) -> None:
    """Send TEXTS_EACH texts, some from numbers and with SIDs the other processes also use."""
    app = create_app({"DATABASE_URL": database_url, "SMS_BACKEND": "console", "LOG_LEVEL": "ERROR"})
    svc = services(app)
    for i in range(TEXTS_EACH):
        # Every process texts from the same five new numbers and repeats the shared SIDs, so
        # patient creation and MessageSid de-duplication race for real.
        sid = shared_sids[i] if i < len(shared_sids) else "SM" + uuid.uuid4().hex
        text = InboundText(
            sid=sid,
            from_number=f"+1720555{1000 + i % 5:04d}",
            to_number=CLINIC_SMS,
            body="what are the side effects?" if i % 2 else "can I eat before?",
        )
        receive_text(svc, text, None)
    svc.engine.dispose()


def test_three_processes_write_at_once_without_errors_or_duplicates(database_url, svc, clinic):
    shared = ["SM" + uuid.uuid4().hex for _ in range(10)]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_text_from_process, args=(database_url, n, shared))
        for n in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * PROCESSES
    expected_inbound = len(shared) + PROCESSES * (TEXTS_EACH - len(shared))
    with transaction(svc.sessions) as session:
        inbound = session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
        replies = session.scalar(
            select(func.count()).select_from(Message).where(Message.purpose == "reply")
        )
        patients = session.scalar(select(func.count()).select_from(Patient))
    assert inbound == expected_inbound
    assert patients == 5
    # Each number is capped at 8 replies + 1 notice per window.
    assert replies == 5 * 9
