"""Staff care pages: alerts and acknowledgement, a patient's conversation, the phone simulator,
and re-paging the on-call number while a crisis alert waits."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select, update

import test_admin_auth
from bot.admin.auth import add_user
from bot.admin.care_views import ago
from bot.services import Services
from conftest import ONCALL, PATIENT
from schedules.clinics import add_clinic
from schedules.db import transaction
from schedules.dispatch import dispatch_due
from schedules.models import (
    Alert,
    Clinic,
    ConsentEvent,
    Message,
    Patient,
    SnippetVersion,
    StaffAudit,
)
from schedules.repage import repage_unacknowledged
from test_admin_auth import PASSWORD, csrf_from, log_in
from test_webhook import count, reply_of, text_bot

staff = test_admin_auth.staff

CRISIS_WORDS = "I want to end my life tonight"
OTHER_PATIENT = "+17205550177"
STATUS_CALLBACK = "https://bot.example.org/twilio/status"


def client_for(app: Flask, email: str) -> FlaskClient:
    """Return a browser logged in as email through the login form."""
    browser = app.test_client()
    assert log_in(browser, email).status_code == 302
    return browser


def page(browser: FlaskClient, path: str) -> str:
    """GET path and return its HTML, which must be a 200."""
    response = browser.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def alert_of(svc: Services, kind: str) -> Alert:
    """Return the one alert of this kind."""
    with transaction(svc.sessions) as session:
        return session.scalars(select(Alert).where(Alert.kind == kind)).one()


def audits(svc: Services, action: str) -> list[StaffAudit]:
    """Return the audit entries for action."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(StaffAudit).where(StaffAudit.action == action)))


def acknowledge(browser: FlaskClient, alert_id: int, note: str = "", **extra: str) -> Any:
    """Acknowledge an alert through the form on the alerts page."""
    token = csrf_from(page(browser, "/admin/alerts"))
    return browser.post(
        f"/admin/alerts/{alert_id}/ack", data={"csrf_token": token, "note": note, **extra}
    )


@pytest.fixture
def crisis(client, clinic, svc) -> dict[str, int]:
    """A call-back request from one patient, then a crisis text from another; pages sent."""
    reply_of(text_bot(client, "CALL", from_=OTHER_PATIENT))
    reply_of(text_bot(client, CRISIS_WORDS))
    svc.pages.drain()
    return {"crisis": alert_of(svc, "crisis").id, "call_back": alert_of(svc, "call_back").id}


@pytest.fixture
def other_clinic(svc) -> str:
    """Add a second clinic with a clinician; return the clinician's email."""
    with transaction(svc.sessions) as session:
        row = add_clinic(
            session,
            slug="boulder",
            name="Flatirons Clinic",
            sms_number="+13035550200",
            phone="+13035550201",
            timezone="America/Denver",
        )
        add_user(session, row, "doc@boulder.example", "admin", PASSWORD)
    return "doc@boulder.example"


def test_crisis_alert_is_listed_first_with_its_age_and_a_link(app, svc, staff, crisis):
    html = page(client_for(app, staff["clinician"]), "/admin/alerts")
    assert html.index(f'id="alert-{crisis["crisis"]}"') < html.index(
        f'id="alert-{crisis["call_back"]}"'
    )
    assert "Crisis language" in html and "just now" in html
    with transaction(svc.sessions) as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.phone == PATIENT))
    assert f"/admin/patients/{patient_id}/conversation" in html
    assert "***0123" in html and PATIENT not in html
    assert CRISIS_WORDS not in html
    (entry,) = audits(svc, "view_alerts")
    assert entry.actor == staff["clinician"]


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(0, "just now"), (12, "12 min ago"), (61, "1 h ago"), (60 * 50, "2 days ago")],
)
def test_age_is_said_the_way_staff_say_it(minutes, shown):
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(minutes=minutes), now) == shown


def test_acknowledging_records_who_when_and_the_note_and_is_audited(app, svc, staff, crisis):
    browser = client_for(app, staff["clinician"])
    before = datetime.now(UTC)
    response = acknowledge(browser, crisis["crisis"], "Called patient, safe, seeing Dr R today")
    assert response.status_code == 303
    alert = alert_of(svc, "crisis")
    assert alert.acknowledged_by == staff["clinician"]
    assert alert.acknowledged_at is not None and alert.acknowledged_at >= before
    assert alert.note == "Called patient, safe, seeing Dr R today"
    (entry,) = audits(svc, "ack_alert")
    assert entry.target_id == crisis["crisis"] and entry.actor == staff["clinician"]
    html = page(browser, "/admin/alerts")
    acknowledged = html[html.index("Acknowledged in the last") :]
    assert "Called patient, safe" in acknowledged and staff["clinician"] in acknowledged


def test_a_crisis_alert_is_not_acknowledged_without_a_note(app, svc, staff, crisis):
    response = acknowledge(client_for(app, staff["clinician"]), crisis["crisis"], "  ")
    assert response.status_code == 303
    assert alert_of(svc, "crisis").acknowledged_at is None
    assert audits(svc, "ack_alert") == []


def test_acknowledging_twice_keeps_the_first(app, svc, staff, crisis):
    acknowledge(client_for(app, staff["clinician"]), crisis["call_back"], "rang back")
    acknowledge(client_for(app, staff["admin"]), crisis["call_back"], "me too")
    alert = alert_of(svc, "call_back")
    assert alert.acknowledged_by == staff["clinician"] and alert.note == "rang back"


def test_a_crisis_acknowledged_meanwhile_says_by_whom_even_without_a_note(app, svc, staff, crisis):
    acknowledge(client_for(app, staff["clinician"]), crisis["crisis"], "called, safe at home")
    late = client_for(app, staff["admin"])
    assert acknowledge(late, crisis["crisis"], "").status_code == 303
    html = page(late, "/admin/alerts")
    assert f"was already acknowledged by {staff['clinician']}" in html
    assert alert_of(svc, "crisis").note == "called, safe at home"


def test_front_desk_sees_call_backs_but_never_crisis_alerts(app, svc, staff, crisis):
    browser = client_for(app, staff["frontdesk"])
    html = page(browser, "/admin/alerts")
    assert f'id="alert-{crisis["call_back"]}"' in html and "Asked for a call back" in html
    assert f'id="alert-{crisis["crisis"]}"' not in html and "Crisis language" not in html
    assert "/conversation" not in html
    assert acknowledge(browser, crisis["call_back"], "called").status_code == 303
    assert alert_of(svc, "call_back").acknowledged_by == staff["frontdesk"]


def test_front_desk_cannot_open_a_conversation_or_acknowledge_a_crisis(app, svc, staff, crisis):
    browser = client_for(app, staff["frontdesk"])
    with transaction(svc.sessions) as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.phone == PATIENT))
    assert browser.get(f"/admin/patients/{patient_id}/conversation").status_code == 403
    assert acknowledge(browser, crisis["crisis"], "hiding it").status_code == 403
    assert alert_of(svc, "crisis").acknowledged_at is None
    forbidden = audits(svc, "forbidden")
    assert len(forbidden) == 2 and {e.actor for e in forbidden} == {staff["frontdesk"]}
    assert audits(svc, "view_conversation") == []


def test_staff_of_another_clinic_see_nothing(app, svc, staff, crisis, other_clinic):
    browser = client_for(app, other_clinic)
    html = page(browser, "/admin/alerts")
    assert "alert-" not in html and "Nothing open" in html
    with transaction(svc.sessions) as session:
        patient_id = session.scalar(select(Patient.id).where(Patient.phone == PATIENT))
    assert browser.get(f"/admin/patients/{patient_id}/conversation").status_code == 404
    assert acknowledge(browser, crisis["crisis"], "not mine").status_code == 404
    assert alert_of(svc, "crisis").acknowledged_at is None


def test_the_link_in_the_on_call_page_opens_the_conversation(app, svc, staff, crisis):
    with transaction(svc.sessions) as session:
        body = session.scalars(select(Message.body).where(Message.purpose == "page")).one()
    path = re.search(r"https://bot\.example\.org(/admin/\S+)", body)
    assert path is not None
    html = page(client_for(app, staff["clinician"]), path.group(1))
    assert CRISIS_WORDS in html


def test_conversation_shows_the_thread_consent_history_and_is_audited(
    app, client, svc, staff, clinic
):
    reply = reply_of(text_bot(client, "stop texting me " + CRISIS_WORDS))
    svc.pages.drain()
    with transaction(svc.sessions) as session:
        patient = session.scalars(select(Patient).where(Patient.phone == PATIENT)).one()
        inbound = session.scalars(select(Message).where(Message.direction == "in")).one()
    html = page(client_for(app, staff["clinician"]), f"/admin/patients/{patient.id}/conversation")
    assert (
        "stop texting me " + CRISIS_WORDS in html
        and reply is not None
        and reply.split(".")[0] in html
    )
    assert "Opted out" in html and "opt out" in html and "sms words with crisis" in html
    assert "crisis" in html and "On-call number paged" in html
    local = inbound.created_at.astimezone(ZoneInfo("America/Denver"))
    assert local.strftime("%I:%M %p").lstrip("0") in html
    (entry,) = audits(svc, "view_conversation")
    assert entry.target_type == "patient" and entry.target_id == patient.id
    assert entry.actor == staff["clinician"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/alerts/1/ack",
        "/admin/simulator",
        "/admin/content/fallback/en",
        "/admin/content/fallback/en/approve",
    ],
)
def test_every_post_without_the_csrf_token_is_refused(app, svc, staff, crisis, path):
    browser = client_for(app, staff["admin"])
    response = browser.post(path, data={"note": "x", "body": "HELP", "text": "x", "version": "0"})
    assert response.status_code == 400
    assert alert_of(svc, "crisis").acknowledged_at is None
    assert count(svc, SnippetVersion) == 0


def state(svc: Services, stub: Any) -> dict[str, Any]:
    """Return everything a simulated text must leave as it was."""
    with transaction(svc.sessions) as session:
        rows = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Message, Alert, ConsentEvent, Patient, SnippetVersion)
        }
        patients = session.execute(
            select(Patient.opted_out, Patient.language, Patient.texts_in_window).order_by(
                Patient.id
            )
        ).all()
    return {**rows, "patients": [tuple(p) for p in patients], "sent": len(stub.requests)}


def simulate(browser: FlaskClient, body: str, **fields: str) -> Any:
    """Type body into the phone simulator."""
    token = csrf_from(page(browser, "/admin/simulator"))
    return browser.post("/admin/simulator", data={"csrf_token": token, "body": body, **fields})


def shown_reply(html: str) -> str:
    """Return the reply the simulator shows."""
    match = re.search(r'id="reply"><span class="meta">Bot</span>(.*?)</p>', html, re.S)
    assert match, html
    return match.group(1)


def test_simulator_answers_a_crisis_but_sends_and_stores_nothing(
    app, client, svc, staff, clinic, twilio_stub
):
    reply_of(text_bot(client, "HELP"))
    before = state(svc, twilio_stub)
    response = simulate(client_for(app, staff["frontdesk"]), "stop texting me " + CRISIS_WORDS)
    svc.pages.drain()
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "988" in shown_reply(html) and 'id="intent">crisis' in html
    assert "alert staff: Crisis language" in html and "page the on-call number" in html
    assert "record consent change: opt out" in html
    assert state(svc, twilio_stub) == before
    (entry,) = audits(svc, "simulate")
    assert entry.actor == staff["frontdesk"] and "stop" not in (entry.detail or "")
    assert "life" not in (entry.detail or "")


def test_simulator_gives_the_same_reply_as_the_webhook(app, client, svc, staff, clinic):
    browser = client_for(app, staff["frontdesk"])
    html = simulate(browser, "can I eat before?").get_data(as_text=True)
    assert 'id="intent">topic: fasting' in html
    real = reply_of(text_bot(client, "can I eat before?"))
    assert real is not None
    assert shown_reply(html) == str(escape(real))


def test_simulator_as_a_known_patient_leaves_their_consent_alone(
    app, client, svc, staff, clinic, twilio_stub
):
    reply_of(text_bot(client, "START"))
    before = state(svc, twilio_stub)
    html = simulate(
        client_for(app, staff["clinician"]), "STOP", who="patient", phone="(720) 555-0123"
    ).get_data(as_text=True)
    assert "record consent change: opt out" in html
    assert state(svc, twilio_stub) == before


def test_simulator_in_spanish(app, svc, staff, clinic):
    html = simulate(client_for(app, staff["frontdesk"]), "HELP", language="es").get_data(
        as_text=True
    )
    assert "automatizada" in shown_reply(html)


def test_simulator_refuses_a_number_that_is_not_a_patient(app, svc, staff, clinic):
    response = simulate(
        client_for(app, staff["frontdesk"]), "HELP", who="patient", phone="+17205550999"
    )
    assert response.status_code == 422
    assert "No patient of this clinic has that number" in response.get_data(as_text=True)


def pages_to_oncall(stub: Any) -> list[dict[str, Any]]:
    """Return the texts the Twilio stub accepted for the on-call number."""
    return [r for r in stub.requests if r.get("To") == ONCALL]


def test_unacknowledged_crisis_pages_again_once_per_interval(svc, crisis, twilio_stub):
    created = alert_of(svc, "crisis").created_at
    assert len(pages_to_oncall(twilio_stub)) == 1

    def run(minutes: float) -> None:
        dispatch_due(
            svc.sessions, svc.sender, created + timedelta(minutes=minutes), STATUS_CALLBACK
        )

    run(9.9)
    assert len(pages_to_oncall(twilio_stub)) == 1
    run(10)
    run(10.5)
    run(19)
    pages = pages_to_oncall(twilio_stub)
    assert len(pages) == 2
    assert pages[1]["Body"].startswith("REMINDER")
    assert f"#{crisis['crisis']}" in pages[1]["Body"] and CRISIS_WORDS not in pages[1]["Body"]
    assert "/admin/patients/" in pages[1]["Body"]
    run(20)
    assert len(pages_to_oncall(twilio_stub)) == 3
    with transaction(svc.sessions) as session:
        repages = session.scalars(
            select(Message).where(Message.classification == "repage:crisis")
        ).all()
    assert len(repages) == 2 and all(m.status == "queued" and m.twilio_sid for m in repages)


def test_acknowledged_crisis_is_not_paged_again(app, svc, staff, crisis, twilio_stub):
    acknowledge(client_for(app, staff["clinician"]), crisis["crisis"], "spoke to them")
    created = alert_of(svc, "crisis").created_at
    dispatch_due(svc.sessions, svc.sender, created + timedelta(minutes=30), STATUS_CALLBACK)
    assert len(pages_to_oncall(twilio_stub)) == 1


def test_repage_interval_is_the_clinic_setting(svc, clinic, crisis, twilio_stub):
    with transaction(svc.sessions) as session:
        session.execute(
            update(Clinic)
            .where(Clinic.id == clinic["id"])
            .values(settings={"crisis_repage_minutes": 3})
        )
    created = alert_of(svc, "crisis").created_at
    repage_unacknowledged(svc.sessions, svc.sender, created + timedelta(minutes=3))
    assert len(pages_to_oncall(twilio_stub)) == 2


def test_several_workers_page_again_only_once(svc, crisis, twilio_stub):
    at = alert_of(svc, "crisis").created_at + timedelta(minutes=11)
    start = threading.Barrier(4)
    results: list[dict[int, str]] = []

    def worker() -> None:
        start.wait()
        results.append(repage_unacknowledged(svc.sessions, svc.sender, at, STATUS_CALLBACK))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r) for r in results) == 1
    assert len(pages_to_oncall(twilio_stub)) == 2


def test_a_crisis_without_a_first_page_is_still_paged_again(client, svc, clinic, twilio_stub):
    with transaction(svc.sessions) as session:
        session.execute(update(Clinic).values(oncall_number=None))
    reply_of(text_bot(client, CRISIS_WORDS))
    svc.clinics.forget()
    with transaction(svc.sessions) as session:
        session.execute(update(Clinic).values(oncall_number=ONCALL))
    alert = alert_of(svc, "crisis")
    repage_unacknowledged(
        svc.sessions,
        svc.sender,
        alert.created_at + timedelta(minutes=10),
        public_base_url="https://bot.example.org",
    )
    (sent,) = pages_to_oncall(twilio_stub)
    assert sent["Body"].startswith("REMINDER") and f"ALERT #{alert.id}" in sent["Body"]
    # A link on-call can open from the text, not a path alone.
    link = f"https://bot.example.org/admin/patients/{alert.patient_id}/conversation"
    assert link in sent["Body"]
