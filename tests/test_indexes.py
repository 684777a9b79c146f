"""The message and reminder indexes are few and partial; the queries that need them use them.

Every inbound text writes each index on messages, so the migration keeps only what a query
needs, some of them partial. A partial index is only used when the planner can prove the query
asks for a subset of its rows: these tests ask each database's own planner.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select

from schedules.db import make_engine
from schedules.dispatch import overdue_expiry
from schedules.models import Message, Purpose, Reminder
from schedules.outbox import due_pages, stale_page_claims

NOW = datetime(2027, 1, 4, 17, 0, tzinfo=UTC)


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    """Yield a connection in a transaction that is rolled back, sequential scans discouraged."""
    engine: Engine = make_engine(database_url)
    with engine.connect() as connection, connection.begin() as outer:
        if connection.dialect.name == "postgresql":
            # The test tables are tiny; without this PostgreSQL rightly prefers a scan.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        yield connection
        outer.rollback()
    engine.dispose()


def query_plan(connection: Connection, statement: Any) -> str:
    """Return the database's plan for statement, as one string."""
    prefix = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "

    def explain(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> tuple[str, Any]:
        return prefix + sql, parameters

    # Through SQLAlchemy's own execution, so that IN lists and bind types are what they are.
    event.listen(connection, "before_cursor_execute", explain, retval=True)
    try:
        rows = connection.execute(statement).all()
    finally:
        event.remove(connection, "before_cursor_execute", explain)
    return "\n".join(str(row[-1]) for row in rows)


def test_page_sweep_uses_the_partial_page_index(connection: Connection) -> None:
    """Both statements of the page sweep read ix_messages_page_status, not the whole log."""
    for statement in (due_pages(NOW, timedelta(seconds=30)), stale_page_claims(NOW)):
        assert "ix_messages_page_status" in query_plan(connection, statement)


def test_the_reply_to_a_text_is_found_through_the_partial_reply_index(
    connection: Connection,
) -> None:
    """An equality on reply_to_id implies it is not NULL: the partial index serves it."""
    statement = select(Message.body).where(
        Message.reply_to_id == 7, Message.purpose == Purpose.REPLY
    )
    assert "ix_messages_reply_to_id" in query_plan(connection, statement)


def test_the_pages_of_many_texts_come_from_a_partial_index(connection: Connection) -> None:
    """Pages raised by a list of inbound texts (conversation page, re-paging) read either
    partial index, both far smaller than the log; which one is the planner's choice."""
    statement = select(Message.reply_to_id, Message.body).where(
        Message.purpose == Purpose.PAGE, Message.reply_to_id.in_([3, 5, 8])
    )
    plan = query_plan(connection, statement)
    assert "ix_messages_reply_to_id" in plan or "ix_messages_page_status" in plan


def test_a_patients_conversation_reads_the_patient_index(connection: Connection) -> None:
    """A patient's texts, newest first, come from ix_messages_patient_created."""
    statement = (
        select(Message.id)
        .where(Message.patient_id == 42, Message.clinic_id == 1)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(50)
    )
    assert "ix_messages_patient_created" in query_plan(connection, statement)


def test_the_expiry_sweep_reads_the_due_index(connection: Connection) -> None:
    """Pending reminders past their latest useful moment are found through
    ix_reminders_status_due: there is no index on expires_at to write on every import."""
    assert "ix_reminders_status_due" in query_plan(connection, overdue_expiry(NOW))


def test_a_status_callback_finds_its_reminder_through_the_partial_sid_index(
    connection: Connection,
) -> None:
    """An equality on twilio_sid implies it is not NULL: the index of sent reminders serves it."""
    statement = select(Reminder.id).where(Reminder.twilio_sid == "SM" + "0" * 32)
    assert "uq_reminders_twilio_sid" in query_plan(connection, statement)
