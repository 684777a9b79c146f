"""What patients' answers do: NEXT, C, R, RIDE, CALL, check-in scores, opt-out before a visit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from conftest import PATIENT
from schedules.db import transaction
from schedules.models import Alert, Appointment, Reminder
from test_dispatch import DENVER, book
from test_webhook import reply_of, text_bot

OTHER = "+17205550999"


def visit_in(days: int, hour: int = 13) -> str:
    """Return a Denver wall-clock time some days from now, as book() takes it."""
    day = datetime.now(DENVER) + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()[:16]


def booked(svc, clinic, days: int = 3, **kwargs) -> Appointment:
    """Book a visit days from now for the test patient and return it."""
    book(svc, clinic["id"], visit_in(days), planned_at=datetime.now(UTC), **kwargs)
    with transaction(svc.sessions) as session:
        return session.scalars(select(Appointment).order_by(Appointment.id.desc())).first()


def alerts(svc) -> list[str]:
    """Return the kinds of every alert."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(Alert.kind).order_by(Alert.id)))


def appointment(svc, appointment_id: int) -> Appointment:
    """Return one appointment as stored now."""
    with transaction(svc.sessions) as session:
        return session.get_one(Appointment, appointment_id)


def test_next_names_the_patients_own_next_visit_in_local_time(client, clinic, svc):
    visit = booked(svc, clinic)
    reply = reply_of(text_bot(client, "NEXT"))
    local = visit.starts_at.astimezone(DENVER)
    assert reply is not None and "1:00 PM" in reply
    assert local.strftime("%b") in reply and str(local.day) in reply


def test_next_from_another_number_never_reveals_the_visit(client, clinic, svc):
    booked(svc, clinic)
    reply = reply_of(text_bot(client, "when is my next appointment?", from_=OTHER))
    assert reply is not None and "1:00 PM" not in reply


def test_c_confirms_the_next_visit_and_says_when(client, clinic, svc):
    visit = booked(svc, clinic)
    reply = reply_of(text_bot(client, "C"))
    assert reply is not None and "1:00 PM" in reply
    assert appointment(svc, visit.id).confirmed_at is not None


def test_ride_confirms_the_driver(client, clinic, svc):
    visit = booked(svc, clinic)
    assert reply_of(text_bot(client, "RIDE")) is not None
    assert appointment(svc, visit.id).driver_confirmed_at is not None


def test_r_asks_staff_to_reschedule(client, clinic, svc):
    booked(svc, clinic)
    assert reply_of(text_bot(client, "R")) is not None
    assert alerts(svc) == ["reschedule"]


def send_checkin(svc, visit: Appointment) -> None:
    """Mark the visit's check-in as sent just now."""
    with transaction(svc.sessions) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.appointment_id == visit.id, Reminder.kinds.contains("checkin"))
            .values(status="sent", sent_at=datetime.now(UTC), twilio_sid="SM" + "c" * 32)
        )


def test_low_checkin_score_is_recorded_and_alerts_staff(client, clinic, svc):
    visit = booked(svc, clinic, days=-1)
    send_checkin(svc, visit)
    reply = reply_of(text_bot(client, "2"))
    assert reply is not None
    stored = appointment(svc, visit.id)
    assert stored.checkin_score == 2 and stored.checkin_at is not None
    assert alerts(svc) == ["low_checkin"]


def test_good_checkin_score_is_recorded_without_an_alert(client, clinic, svc):
    visit = booked(svc, clinic, days=-1)
    send_checkin(svc, visit)
    low = reply_of(text_bot(client, "5 feeling great"))
    assert appointment(svc, visit.id).checkin_score == 5 and alerts(svc) == []
    assert low is not None and "988" not in low


def test_a_number_without_an_awaited_checkin_is_not_a_score(client, clinic, svc):
    visit = booked(svc, clinic, days=-1)
    reply_of(text_bot(client, "2"))
    assert appointment(svc, visit.id).checkin_score is None and alerts(svc) == []


def test_only_the_first_score_counts_for_a_checkin(client, clinic, svc):
    visit = booked(svc, clinic, days=-1)
    send_checkin(svc, visit)
    text_bot(client, "4")
    text_bot(client, "1")
    assert appointment(svc, visit.id).checkin_score == 4 and alerts(svc) == []


def test_opting_out_with_a_visit_coming_alerts_staff(client, clinic, svc):
    booked(svc, clinic, days=2)
    assert reply_of(text_bot(client, "STOP")) is None
    assert alerts(svc) == ["opted_out_with_visit"]


def test_opting_out_with_no_visit_coming_raises_no_alert(client, clinic, svc):
    booked(svc, clinic, days=20)
    text_bot(client, "please stop texting me")
    assert alerts(svc) == []


def test_a_safety_text_that_also_asks_to_reschedule_alerts_staff_of_both(client, clinic, svc):
    booked(svc, clinic)
    reply = reply_of(text_bot(client, "my dad had a stroke, can i reschedule"))
    assert reply is not None and "911" in reply
    assert sorted(alerts(svc)) == ["emergency", "reschedule"]
    svc.pages.drain()


def test_a_safety_text_alone_raises_only_the_safety_alert(client, clinic, svc):
    booked(svc, clinic)
    text_bot(client, "i want to die")
    assert alerts(svc) == ["crisis"]
    svc.pages.drain()


def test_spanish_patient_gets_the_visit_in_spanish(client, clinic, svc):
    booked(svc, clinic)
    with transaction(svc.sessions) as session:
        from schedules.models import Patient

        session.execute(update(Patient).where(Patient.phone == PATIENT).values(language="es"))
    # The Spanish menu teaches NEXT, RIDE and CALL: they keep the patient's language.
    assert (reply_of(text_bot(client, "NEXT")) or "").startswith("Su proxima cita en ")
    assert (reply_of(text_bot(client, "RIDE")) or "").startswith("Gracias, anotamos que un adulto")
    assert (reply_of(text_bot(client, "CALL")) or "").startswith("Gracias. El personal le llamara")
    # Words clearly in English still get English.
    assert (reply_of(text_bot(client, "when is my next appointment?")) or "").startswith(
        "Your next visit at "
    )


def test_a_screened_crisis_that_confirms_gets_the_crisis_reply_and_the_visit_confirmed(
    client, clinic, svc
):
    visit = booked(svc, clinic)
    reply = reply_of(text_bot(client, "C. i'll be there, it's the last one"))
    assert reply is not None and "988" in reply
    assert appointment(svc, visit.id).confirmed_at is not None
    assert alerts(svc) == ["crisis"]


def test_a_screened_crisis_that_answers_a_checkin_records_the_score(client, clinic, svc):
    visit = booked(svc, clinic, days=-1)
    send_checkin(svc, visit)
    reply = reply_of(text_bot(client, "2. honestly i dont see the point of any of it anymore"))
    assert reply is not None and "988" in reply
    assert appointment(svc, visit.id).checkin_score == 2
    assert alerts(svc) == ["crisis", "low_checkin"]
