"""Dispatch: each reminder sent exactly once, only when still true, never at night, never to an
opted-out number; Twilio's errors handled as TWILIO.md lists; a crash never leads to a resend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.services import Services
from conftest import CLINIC_SMS, PATIENT, post_signed
from schedules.db import transaction
from schedules.dispatch import STALE_AFTER, SendRate, dispatch_due, recover_stale_claims
from schedules.models import (
    Alert,
    Appointment,
    Clinic,
    ConsentEvent,
    Message,
    Patient,
    Reminder,
)
from schedules.reminders import list_reminders, sync_reminders

DENVER = ZoneInfo("America/Denver")


def local(text: str) -> datetime:
    """Return a Denver wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=DENVER).astimezone(UTC)


def book(
    svc: Services,
    clinic_id: int,
    start: str,
    *,
    phone: str = PATIENT,
    treatment: str = "iv",
    external_id: str = "A1",
    consent: bool = True,
    planned_at: datetime | None = None,
) -> int:
    """Book a visit at a Denver wall-clock time and plan its reminders; return the patient id."""
    now = planned_at or local(start) - timedelta(days=7)
    with transaction(svc.sessions) as session:
        patient = session.scalar(select(Patient).where(Patient.phone == phone))
        if patient is None:
            patient = Patient(clinic_id=clinic_id, phone=phone, language="en")
            session.add(patient)
        if consent:
            patient.consent_at, patient.consent_method = now, "clinic"
            patient.consent_number = phone
        session.flush()
        session.add(
            Appointment(
                clinic_id=clinic_id,
                external_id=external_id,
                patient_id=patient.id,
                starts_at=local(start),
                treatment=treatment,
            )
        )
        session.flush()
        sync_reminders(session, session.get_one(Clinic, clinic_id), [patient.id], now)
        return patient.id


def reminders(svc: Services) -> list[Reminder]:
    """Return every reminder, oldest due first."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(Reminder).order_by(Reminder.due_at, Reminder.id)))


def run(svc: Services, now: datetime, **kwargs: Any):
    """Dispatch everything due at now through the app's sender."""
    return dispatch_due(
        svc.sessions, svc.sender, now, "https://bot.example.org/twilio/status", **kwargs
    )


def sent_to(stub: Any, number: str = PATIENT) -> list[dict[str, Any]]:
    """Return the texts the Twilio stub accepted for number."""
    return [r for r in stub.requests if r.get("To") == number]


def test_a_due_reminder_is_sent_once_and_recorded(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    report = run(svc, first.due_at)
    again = run(svc, first.due_at + timedelta(minutes=1))
    assert report.reminders["sent"] == 1 and again.reminders["sent"] == 0
    texts = sent_to(twilio_stub)
    assert len(texts) == 1
    stored = reminders(svc)[0]
    assert stored.status == "sent" and stored.twilio_sid == texts[0]["Sid"]
    assert stored.body == texts[0]["Body"] and texts[0]["From"] == CLINIC_SMS
    assert "Mile High Clinic" in stored.body and "STOP" in stored.body
    assert "ketamine" not in stored.body.lower()
    with transaction(svc.sessions) as session:
        audit = session.scalars(select(Message).where(Message.purpose == "reminder")).one()
    assert audit.twilio_sid == stored.twilio_sid and audit.body == stored.body


def test_every_reminder_of_a_visit_goes_out_at_its_time_and_only_then(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    planned = reminders(svc)
    assert {k for r in planned for k in r.kind_list} == {"fasting", "arrival", "checkin"}
    for reminder in planned:
        assert run(svc, reminder.due_at - timedelta(seconds=1)).reminders["sent"] == 0
        assert run(svc, reminder.due_at).reminders["sent"] == 1
    assert len(sent_to(twilio_stub)) == len(planned)


def test_cancelled_visit_gets_no_reminder(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    with transaction(svc.sessions) as session:
        session.execute(update(Appointment).values(status="cancelled"))
    due = reminders(svc)[0].due_at
    assert run(svc, due).reminders["cancelled"] >= 1
    assert sent_to(twilio_stub) == []


def test_moved_visit_never_gets_a_reminder_for_its_old_time(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    old_due = reminders(svc)[0].due_at
    with transaction(svc.sessions) as session:
        session.execute(update(Appointment).values(starts_at=local("2026-12-09T13:00")))
    run(svc, old_due)
    assert sent_to(twilio_stub) == []
    assert reminders(svc)[0].status == "cancelled"


def test_opted_out_patient_gets_nothing(svc, clinic, twilio_stub, client):
    book(svc, clinic["id"], "2026-12-02T13:00")
    params = {
        "MessageSid": "SM" + "e" * 32,
        "From": PATIENT,
        "To": CLINIC_SMS,
        "Body": "STOP",
        "AccountSid": "AC" + "2" * 32,
    }
    assert post_signed(client, "/twilio/sms", params).status_code == 200
    for reminder in reminders(svc):
        run(svc, reminder.due_at)
    assert sent_to(twilio_stub) == []
    assert {r.status for r in reminders(svc)} == {"skipped"}


def test_patient_without_consent_gets_nothing(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00", consent=False)
    run(svc, reminders(svc)[0].due_at)
    assert sent_to(twilio_stub) == []
    assert reminders(svc)[0].status_reason == "no SMS consent on record"


def test_nothing_is_sent_at_night_after_downtime(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    checkin = next(r for r in reminders(svc) if r.kinds == "checkin")
    assert run(svc, local("2026-12-03T23:30")).reminders["sent"] == 0
    assert sent_to(twilio_stub) == []
    morning = local("2026-12-04T09:05")
    assert morning < checkin.expires_at
    assert run(svc, morning).reminders["sent"] == 1
    stored = reminders_by_id(svc, checkin.id)
    assert stored.status == "sent" and morning <= stored.sent_at < morning + timedelta(seconds=30)


def test_text_moved_out_of_quiet_hours_is_due_before_the_window_closes(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T23:00")
    arrival = next(r for r in reminders(svc) if r.kinds == "arrival")
    # 20:00 would be the window's last moment; a worker tick a little late still finds it open.
    assert arrival.due_at == local("2026-12-02T19:50")
    late = local("2026-12-02T19:58")
    assert run(svc, late).reminders["sent"] == 1
    stored = reminders_by_id(svc, arrival.id)
    assert stored.status == "sent" and late <= stored.sent_at < late + timedelta(seconds=30)
    assert [t["Body"] for t in sent_to(twilio_stub)] == [stored.body]


def test_reminder_that_missed_the_window_is_not_sent_in_quiet_hours(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T23:00")
    arrival = next(r for r in reminders(svc) if r.kinds == "arrival")
    # The worker was down from before 19:50 until a few minutes into quiet hours.
    assert run(svc, local("2026-12-02T20:00:01")).reminders["sent"] == 0
    assert run(svc, local("2026-12-02T20:05")).reminders["sent"] == 0
    assert reminders_by_id(svc, arrival.id).status == "pending"
    # Like any text that missed the window: it waits for the window, and the visit comes first.
    run(svc, local("2026-12-02T23:00"))
    stored = reminders_by_id(svc, arrival.id)
    assert stored.status == "expired" and stored.status_reason == "past its latest useful moment"
    assert stored.twilio_sid is None and sent_to(twilio_stub) == []
    assert run(svc, local("2026-12-03T10:00")).reminders["sent"] == 1  # the check-in alone
    assert [r.kinds for r in reminders(svc) if r.status == "sent"] == ["checkin"]


def book_paced(svc: Services, clinic_id: int, start: str, patients: int) -> list[float]:
    """Book one visit at start for each of several patients of a clinic sending one text a
    second; return the fake clock a SendRate(clock=..., sleep=...) from paced_rate moves."""
    for n in range(patients):
        book(svc, clinic_id, start, phone=f"+1720555{n:04d}", external_id=f"W{n}")
    with transaction(svc.sessions) as session:
        row = session.get_one(Clinic, clinic_id)
        row.settings = {**row.settings, "send_rate_per_second": 1}
    return [0.0]


def paced_rate(clock: list[float]) -> SendRate:
    """Return a SendRate whose waits move the fake clock instead of sleeping."""
    return SendRate(
        clock=lambda: clock[0], sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds)
    )


def test_a_paced_batch_stops_at_the_window_end_and_the_rest_waits(svc, clinic, twilio_stub):
    clock = book_paced(svc, clinic["id"], "2026-12-02T23:00", 5)
    rate = paced_rate(clock)
    # Five texts at one a second, starting two seconds before the 20:00 window end.
    report = run(svc, local("2026-12-02T19:59:58"), rate=rate)
    arrivals = [r for r in reminders(svc) if r.kinds == "arrival"]
    # 19:59:58, :59 and 20:00:00 (the window's last moment) go; the other two never leave.
    assert report.reminders["sent"] == 3 and report.reminders["released"] == 2
    assert sorted(r.status for r in arrivals) == ["pending", "pending", "sent", "sent", "sent"]
    assert len(twilio_stub.requests) == 3
    assert (
        clock[0] == 3.0
    )  # the fourth waited its turn and found the window shut; the fifth did not wait
    # Held back like any text that missed the window: not sent in quiet hours, then expired.
    assert run(svc, local("2026-12-02T20:05"), rate=rate).reminders["sent"] == 0
    run(svc, local("2026-12-02T23:00"), rate=rate)
    held = [r for r in reminders(svc) if r.kinds == "arrival" and r.status != "sent"]
    assert [r.status for r in held] == ["expired", "expired"] and len(twilio_stub.requests) == 3


def test_a_paced_batch_sends_nothing_once_the_visit_has_started(svc, clinic, twilio_stub):
    rate = paced_rate(book_paced(svc, clinic["id"], "2026-12-02T13:00", 5))
    # Five arrival texts, useful until the 13:00 start, found two seconds before it.
    started = local("2026-12-02T12:59:58")
    run(svc, started, rate=rate)
    arrivals = [r for r in reminders(svc) if r.kinds == "arrival"]
    # 12:59:58 and :59 go, each stamped with its own time; at 13:00 the rest are too late.
    assert sorted(r.status for r in arrivals) == ["expired", "expired", "expired", "sent", "sent"]
    assert sorted(r.sent_at for r in arrivals if r.status == "sent") == [
        started,
        started + timedelta(seconds=1),
    ]
    assert len(twilio_stub.requests) == 2


def reminders_by_id(svc: Services, reminder_id: int) -> Reminder:
    """Return one reminder."""
    with transaction(svc.sessions) as session:
        return session.get_one(Reminder, reminder_id)


def test_stale_reminder_after_downtime_expires_instead_of_going_out_late(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    run(svc, first.expires_at + timedelta(minutes=1))
    assert reminders_by_id(svc, first.id).status == "expired"
    assert all(r["Sid"] != reminders_by_id(svc, first.id).twilio_sid for r in sent_to(twilio_stub))


def test_twilio_21610_marks_the_patient_opted_out(svc, clinic, twilio_stub):
    patient_id = book(svc, clinic["id"], "2026-12-02T13:00")
    twilio_stub.fail_for(PATIENT, status=400, code=21610)
    first, *rest = reminders(svc)
    assert run(svc, first.due_at).reminders["failed"] == 1
    with transaction(svc.sessions) as session:
        patient = session.get_one(Patient, patient_id)
        event = session.scalars(select(ConsentEvent)).one()
    assert patient.opted_out and event.source == "twilio_21610"
    twilio_stub.clear()
    for reminder in rest:
        run(svc, reminder.due_at)
    assert sent_to(twilio_stub) == []


@pytest.mark.parametrize("code", [21211, 21614, 21635])
def test_unusable_number_is_marked_and_staff_alerted(svc, clinic, twilio_stub, code):
    patient_id = book(svc, clinic["id"], "2026-12-02T13:00")
    twilio_stub.fail_for(PATIENT, status=400, code=code)
    run(svc, reminders(svc)[0].due_at)
    with transaction(svc.sessions) as session:
        patient = session.get_one(Patient, patient_id)
        kinds = list(session.scalars(select(Alert.kind)))
    assert patient.unusable_code == code and kinds == ["unusable_number"]
    assert reminders(svc)[0].status == "failed"


def test_rate_limited_send_is_retried_later_and_sent_once(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    twilio_stub.fail_next(status=429, code=20429)
    run(svc, first.due_at)
    retry = reminders_by_id(svc, first.id)
    assert retry.status == "pending" and retry.due_at > first.due_at
    run(svc, retry.due_at)
    assert reminders_by_id(svc, first.id).status == "sent"
    assert len(sent_to(twilio_stub)) == 1


@pytest.mark.parametrize("failure", ["server_error", "timeout"])
def test_uncertain_send_is_flagged_and_never_resent(svc, clinic, twilio_stub, failure):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    if failure == "server_error":
        twilio_stub.fail_for(PATIENT, status=500)
    else:
        twilio_stub.hang_for(PATIENT, 15.0)
    run(svc, first.due_at)
    twilio_stub.clear()
    run(svc, first.due_at + timedelta(minutes=5))
    assert reminders_by_id(svc, first.id).status == "unknown"
    with transaction(svc.sessions) as session:
        assert list(session.scalars(select(Alert.kind))) == ["send_failed"]
    attempts = [r for r in twilio_stub.attempts if r.get("To") == PATIENT]
    assert len(attempts) == 1


def test_other_client_error_fails_with_an_alert(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    twilio_stub.fail_for(PATIENT, status=400, code=21408)
    run(svc, reminders(svc)[0].due_at)
    assert reminders(svc)[0].status == "failed" and reminders(svc)[0].error_code == 21408


def test_claim_left_by_a_dead_worker_goes_back_to_the_queue(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    with transaction(svc.sessions) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.id == first.id)
            .values(status="claimed", claim_token="dead", updated_at=first.due_at)
        )
    run(svc, first.due_at + STALE_AFTER + timedelta(seconds=1))
    assert reminders_by_id(svc, first.id).status == "sent"
    assert len(sent_to(twilio_stub)) == 1


def test_text_in_flight_when_a_worker_died_is_flagged_not_resent(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    with transaction(svc.sessions) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.id == first.id)
            .values(status="sending", claim_token="dead", updated_at=first.due_at)
        )
    run(svc, first.due_at + STALE_AFTER + timedelta(seconds=1))
    assert reminders_by_id(svc, first.id).status == "unknown"
    assert sent_to(twilio_stub) == []
    with transaction(svc.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_status_callback_moves_a_reminder_to_delivered(svc, clinic, twilio_stub, client):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    run(svc, first.due_at)
    sid = reminders_by_id(svc, first.id).twilio_sid
    params = {"MessageSid": sid, "MessageStatus": "delivered"}
    assert post_signed(client, "/twilio/status", params).status_code == 204
    assert reminders_by_id(svc, first.id).status == "delivered"
    late = {"MessageSid": sid, "MessageStatus": "sent"}
    post_signed(client, "/twilio/status", late)
    assert reminders_by_id(svc, first.id).status == "delivered"


def test_a_landline_reported_by_the_callback_gets_no_more_reminders(
    svc, clinic, twilio_stub, client
):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first, *rest = reminders(svc)
    run(svc, first.due_at)
    sid = reminders_by_id(svc, first.id).twilio_sid
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert post_signed(client, "/twilio/status", params).status_code == 204
    post_signed(client, "/twilio/status", {**params, "MessageStatus": "failed"})
    stored = reminders_by_id(svc, first.id)
    assert (stored.status, stored.error_code) == ("failed", 30006)
    with transaction(svc.sessions) as session:
        assert session.scalars(select(Alert.kind)).all() == ["unusable_number"]
        assert session.get_one(Patient, first.patient_id).unusable_code == 30006
    for reminder in rest:
        run(svc, reminder.due_at)
    assert [reminders_by_id(svc, r.id).status for r in rest] == ["skipped"] * len(rest)
    assert len(sent_to(twilio_stub)) == 1


def test_status_callback_failure_records_the_error(svc, clinic, twilio_stub, client):
    book(svc, clinic["id"], "2026-12-02T13:00")
    first = reminders(svc)[0]
    run(svc, first.due_at)
    sid = reminders_by_id(svc, first.id).twilio_sid
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post_signed(client, "/twilio/status", params)
    stored = reminders_by_id(svc, first.id)
    assert stored.status == "failed" and stored.error_code == 30003


def test_send_rate_spaces_texts_per_sender():
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    rate = SendRate(clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        rate.wait("+13035550100", 2.0)
    rate.wait("+13035550111", 2.0)
    assert slept == [0.5, 0.5]


def test_reminders_listing_matches_the_interface(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    run(svc, reminders(svc)[0].due_at)
    with transaction(svc.sessions) as session:
        listed = list_reminders(session, session.get_one(Clinic, clinic["id"]))
    assert listed[0]["status"] == "sent" and listed[-1]["status"] == "pending"
    for item in listed:
        assert item["appointment_id"] == "A1"
        assert set(item["kinds"]) <= {"fasting", "arrival", "checkin"}
        assert item["due_at"].endswith("Z") and item["body"]


class WatchingSender:
    """Passes texts on to a sender, calling look() just before each one leaves."""

    def __init__(self, sender: Any, look: Any) -> None:
        self.sender = sender
        self.look = look
        self.handed_over = 0

    def send(self, **kwargs: Any) -> Any:
        """Look at the database, then send."""
        self.look(self.handed_over)
        self.handed_over += 1
        return self.sender.send(**kwargs)


def statuses(svc: Services) -> list[str]:
    """Return every reminder's status, in id order."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(Reminder.status).order_by(Reminder.id)))


def test_another_workers_tick_leaves_a_long_paced_batch_alone(svc, clinic, twilio_stub):
    clock = book_paced(svc, clinic["id"], "2026-12-02T13:00", 130)  # a long code's pace
    rate = paced_rate(clock)
    due = min(r.due_at for r in reminders(svc))  # the fasting texts, all due together

    def other_worker_ticks(handed_over: int) -> None:
        # Another worker's tick, past STALE_AFTER into this batch, while a text is with Twilio.
        if handed_over == 125:
            assert clock[0] > STALE_AFTER.total_seconds()
            recover_stale_claims(svc.sessions, due + timedelta(seconds=clock[0]))

    report = dispatch_due(
        svc.sessions, WatchingSender(svc.sender, other_worker_ticks), due, rate=rate
    )
    assert report.reminders["sent"] == 130 and report.reminders["lost_claim"] == 0
    with transaction(svc.sessions) as session:
        assert session.scalars(select(Alert.kind)).all() == []
    assert len(twilio_stub.requests) == 130


def book_three_due_together(svc: Services, clinic_id: int) -> datetime:
    """Book three patients' visits at the same time; return when their first texts are due."""
    for n in range(3):
        book(svc, clinic_id, "2026-12-02T13:00", phone=f"+1720555020{n}", external_id=f"T{n}")
    return min(r.due_at for r in reminders(svc))


def test_with_a_rate_limit_at_most_one_text_is_ever_in_flight_unrecorded(svc, clinic, twilio_stub):
    due = book_three_due_together(svc, clinic["id"])
    seen: list[list[str]] = []
    watching = WatchingSender(svc.sender, lambda _n: seen.append(statuses(svc)))
    report = dispatch_due(svc.sessions, watching, due)
    assert report.reminders["sent"] == 3
    # As each text leaves, it alone is `sending` (committed with its audit row) and every text
    # before it is already recorded as sent.
    for position, snapshot in enumerate(seen):
        assert snapshot.count("sending") == 1
        assert snapshot.count("sent") == position
    assert statuses(svc).count("sent") == 3
    with transaction(svc.sessions) as session:
        audit = list(session.scalars(select(Message).where(Message.purpose == "reminder")))
    assert len(audit) == 3 and all(m.status != "claimed" and m.twilio_sid for m in audit)
    sids = {m.id: m.twilio_sid for m in audit}
    sent = [r for r in reminders(svc) if r.status == "sent"]
    assert sorted(r.message_id for r in sent) == sorted(sids)
    assert all(sids[r.message_id] == r.twilio_sid for r in sent)


def test_without_a_rate_limit_each_text_leaves_marked_and_at_most_two_are_sending(
    svc, clinic, twilio_stub
):
    due = book_three_due_together(svc, clinic["id"])
    with transaction(svc.sessions) as session:
        row = session.get_one(Clinic, clinic["id"])
        row.settings = {**row.settings, "send_rate_per_second": 0}
    seen: list[tuple[str | None, list[str]]] = []

    class Watching:
        """Notes the leaving text's stored status and every status, then sends."""

        def send(self, **kwargs: Any) -> Any:
            with transaction(svc.sessions) as session:
                leaving = session.scalar(
                    select(Reminder.status)
                    .join(Patient, Patient.id == Reminder.patient_id)
                    .where(Patient.phone == kwargs["to"], Reminder.due_at == due)
                )
            seen.append((leaving, statuses(svc)))
            return svc.sender.send(**kwargs)

    report = dispatch_due(svc.sessions, Watching(), due)
    assert report.reminders["sent"] == 3 and len(seen) == 3
    for position, (leaving, snapshot) in enumerate(seen):
        assert leaving == "sending"  # committed before it left
        # Besides it, at most the next one (marked ahead) and the one before (recorded with
        # the mark after next) are not settled: never more than two `sending` at once.
        assert 1 <= snapshot.count("sending") <= 2
        assert snapshot.count("sent") >= position - 1
    assert statuses(svc).count("sent") == 3 and len(twilio_stub.requests) == 3


def test_the_last_outcome_is_recorded_before_the_send_rate_waits(svc, clinic, twilio_stub):
    due = book_three_due_together(svc, clinic["id"])
    with transaction(svc.sessions) as session:
        row = session.get_one(Clinic, clinic["id"])
        row.settings = {**row.settings, "send_rate_per_second": 1}
    at_each_wait: list[list[str]] = []
    rate = SendRate(sleep=lambda _seconds: at_each_wait.append(statuses(svc)))
    dispatch_due(svc.sessions, svc.sender, due, rate=rate)
    assert len(at_each_wait) == 2  # before the second and the third text
    assert [snapshot.count("sending") for snapshot in at_each_wait] == [0, 0]
    assert statuses(svc).count("sent") == 3


@pytest.mark.parametrize(
    ("change", "status"),
    [("opt_out", "skipped"), ("cancel", "cancelled"), ("move", "cancelled")],
)
def test_a_change_mid_batch_stops_the_next_text_right_before_it_is_sent(
    svc, clinic, twilio_stub, change, status
):
    due = book_three_due_together(svc, clinic["id"])
    second = "+17205550201"

    def change_the_second(handed_over: int) -> None:
        if handed_over != 0:
            return
        with transaction(svc.sessions) as session:
            patient = session.scalars(select(Patient).where(Patient.phone == second)).one()
            visit = session.scalars(
                select(Appointment).where(Appointment.patient_id == patient.id)
            ).one()
            if change == "opt_out":
                patient.opted_out = True
            elif change == "cancel":
                visit.status = "cancelled"
            else:
                visit.starts_at += timedelta(days=1)

    report = dispatch_due(svc.sessions, WatchingSender(svc.sender, change_the_second), due)
    assert report.reminders["sent"] == 2 and report.reminders[status] == 1
    assert second not in {r["To"] for r in twilio_stub.requests}
    assert statuses(svc).count(status) == 1
    with transaction(svc.sessions) as session:
        audit = session.scalar(
            select(func.count()).select_from(Message).where(Message.purpose == "reminder")
        )
    assert audit == 2


def test_a_claim_taken_back_mid_batch_is_not_sent_and_the_text_before_stays_recorded(
    svc, clinic, twilio_stub
):
    due = book_three_due_together(svc, clinic["id"])

    def sweep_takes_back_the_next(handed_over: int) -> None:
        if handed_over == 0:
            with transaction(svc.sessions) as session:
                second = session.scalars(
                    select(Reminder).where(Reminder.status == "claimed").order_by(Reminder.id)
                ).first()
                second.status, second.claim_token = "pending", None

    watching = WatchingSender(svc.sender, sweep_takes_back_the_next)
    report = dispatch_due(svc.sessions, watching, due)
    assert report.reminders["lost_claim"] == 1 and report.reminders["sent"] == 2
    assert statuses(svc).count("sent") == 2
    assert len(twilio_stub.requests) == 2
    assert run(svc, due).reminders["sent"] == 1  # the one taken back goes out on the next run
    with transaction(svc.sessions) as session:
        audit = session.scalar(
            select(func.count()).select_from(Message).where(Message.purpose == "reminder")
        )
    assert audit == 3  # one audit row each: none was left by the text that did not leave
