"""Staff flows in a real browser, clicked through like a person at the clinic would: log in, upload
a schedule with a bad row and fix it, see the planned reminders, try the phone simulator,
acknowledge a crisis alert, edit and approve a snippet, and the role and clinic boundaries.

Pages are found by their labels, roles and accessible names; the database is read only to check
what a page cannot show (nothing stored, who acknowledged).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from browser.conftest import PASSWORD, Site, log_in
from conftest import ONCALL
from schedules.alerts import raise_alert
from schedules.db import transaction
from schedules.models import (
    Alert,
    AlertKind,
    Appointment,
    ConsentEvent,
    Message,
    Patient,
    Reminder,
    SnippetVersion,
)

if not os.environ.get("CI"):
    # On a laptop without the dev extras these tests are skipped; in CI the import fails loudly.
    pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' for Playwright")
from playwright.sync_api import expect

DENVER = ZoneInfo("America/Denver")
PATIENT = "+17205550123"
CRISIS_TEXT = "I want to die"


def count(site: Site, model: type) -> int:
    """Return how many rows of model exist."""
    with transaction(site.live.svc.sessions) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def visit_day() -> date:
    """Return a Tuesday 5 to 11 days ahead: far enough for every reminder to be planned."""
    day = datetime.now(DENVER).date() + timedelta(days=5)
    return day + timedelta(days=(1 - day.weekday()) % 7)


def day_name(day: date) -> str:
    """Return a day the way the pages write it, e.g. Tue Mar 3, 2026."""
    return f"{day:%a %b} {day.day}, {day.year}"


def write_schedule(folder: Path, day: date, *, bad_phone: bool) -> Path:
    """Write a schedule; its line 3 has a phone number that cannot be one when asked."""
    phone = "555-01" if bad_phone else "(720) 555-0124"
    later = day + timedelta(days=1)
    path = folder / ("schedule-bad.csv" if bad_phone else "schedule.csv")
    path.write_text(
        "appointment_id,patient_name,phone,date,time,duration_minutes,treatment,sms_consent\n"
        f"B-1,Jordan Ellis,(720) 555-0123,{day:%m/%d/%Y},9:15 AM,60,iv,yes\n"
        f"B-2,Sam Whitfield,{phone},{day:%m/%d/%Y},1:00 PM,30,nasal,yes\n"
        f"B-3,Riley Chen,(720) 555-0125,{later:%m/%d/%Y},10:00 AM,60,iv,yes\n"
    )
    return path


def crisis_alert(site: Site) -> tuple[int, int]:
    """Text crisis words to the clinic through the signed webhook; return (alert id, patient id)."""
    reply = site.live.post_sms(CRISIS_TEXT, sid="SM" + uuid.uuid4().hex, from_=PATIENT)
    assert "988" in reply
    with transaction(site.live.svc.sessions) as db:
        alert = db.scalars(select(Alert).where(Alert.kind == AlertKind.CRISIS)).one()
        assert alert.patient_id is not None
        return alert.id, alert.patient_id


def test_log_in_and_see_the_landing_page(site, page, snap):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    snap(page, "login-form")

    page.get_by_label("Email").fill(site.staff["clinician"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status")).to_have_text("Email or password is wrong.")
    snap(page, "wrong-password")

    page.get_by_label("Email").fill(site.staff["clinician"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    # A clinician lands on the alerts, the page they need first.
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.get_by_text(f"{site.staff['clinician']} (clinician)")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Alerts")).to_have_attribute("aria-current", "page")
    snap(page, "landing")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    page.goto("/admin/appointments")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_upload_a_schedule_with_a_bad_row_fix_it_and_see_the_reminders(site, page, snap, tmp_path):
    day = visit_day()
    log_in(page, site.staff["frontdesk"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Upload schedule").click()
    page.get_by_label(re.compile("Schedule file")).set_input_files(
        write_schedule(tmp_path, day, bad_phone=True)
    )
    page.get_by_role("button", name="Check the file").click()

    preview = page.get_by_role("heading", name=re.compile("What this file would change"))
    expect(preview).to_be_visible()
    expect(page.get_by_text("Nothing has been saved yet.")).to_be_visible()
    problems = page.get_by_role("table", name="1 line with problems")
    bad_row = problems.get_by_role("row").filter(has=page.get_by_role("rowheader", name="3"))
    expect(bad_row).to_have_count(1)
    expect(bad_row).to_contain_text(re.compile("phone", re.IGNORECASE))
    snap(page, "preview-with-bad-row")
    assert count(site, Appointment) == count(site, Patient) == 0

    # Fix the file and upload it again.
    page.get_by_role("link", name="Cancel").click()
    page.get_by_label(re.compile("Schedule file")).set_input_files(
        write_schedule(tmp_path, day, bad_phone=False)
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Rows with problems")).to_have_count(0)
    expect(page.get_by_role("table", name="New appointments (3)")).to_be_visible()
    snap(page, "preview-fixed")
    assert count(site, Appointment) == 0

    page.get_by_role("button", name="Apply these changes").click()
    expect(page.get_by_role("heading", name=re.compile("^Imported"))).to_be_visible()
    snap(page, "imported")
    assert count(site, Appointment) == 3 and count(site, Reminder) > 0

    page.get_by_role("link", name=f"See the planned reminders from {day.isoformat()}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(day_name(day))
    visits = page.get_by_role("table", name=f"2 appointments on {day_name(day)}")
    jordan = visits.get_by_role("row").filter(has_text="Jordan Ellis")
    expect(jordan.get_by_role("rowheader")).to_have_text("9:15 AM")
    expect(jordan).to_contain_text("pending")
    expect(jordan).not_to_contain_text("not planned")
    sam = visits.get_by_role("row").filter(has_text="Sam Whitfield")
    expect(sam).to_contain_text("Nasal spray, 30 min")
    expect(sam).to_contain_text("pending")
    expect(page.get_by_role("table", name=re.compile(r"1 appointment on"))).to_contain_text(
        "Riley Chen"
    )
    snap(page, "planned-reminders")


def test_simulator_answers_like_the_bot_and_stores_nothing(site, page, snap, twilio_stub):
    log_in(page, site.staff["frontdesk"])
    page.get_by_role("link", name="Phone simulator").click()
    result = page.get_by_role("region", name="The bot would")
    expect(result).to_contain_text("The reply appears here.")

    question = page.get_by_label("The patient texts")
    question.fill("can I eat before?")
    page.get_by_role("button", name="Try it").click()
    expect(result).to_contain_text("no solid food for 6 hours")
    expect(result).to_contain_text("topic: fasting")
    expect(result).to_contain_text("Not sent, not saved.")
    snap(page, "fasting-question")

    question = page.get_by_label("The patient texts")
    expect(question).to_have_value("can I eat before?")
    question.fill(CRISIS_TEXT)
    page.get_by_role("button", name="Try it").click()
    expect(result).to_contain_text("988")
    expect(result).to_contain_text(re.compile("crisis", re.IGNORECASE))
    expect(result).to_contain_text("page the on-call number")
    snap(page, "crisis-text")

    for model in (Message, Alert, Patient, ConsentEvent):
        assert count(site, model) == 0, model.__name__
    assert twilio_stub.requests == []


def test_clinician_acknowledges_a_crisis_alert(site, page, snap, twilio_stub):
    with transaction(site.live.svc.sessions) as db:
        older = raise_alert(
            db,
            clinic_id=site.clinic_id,
            patient_id=None,
            kind=AlertKind.CALL_BACK,
            now=datetime.now(UTC) - timedelta(minutes=20),
        ).id
    alert_id, _ = crisis_alert(site)

    log_in(page, site.staff["clinician"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    open_alerts = page.get_by_role("region", name="Open")
    first = open_alerts.get_by_role("listitem").first
    expect(first).to_contain_text("Crisis language")
    expect(first).to_contain_text(f"#{alert_id}")
    expect(open_alerts.get_by_role("listitem").nth(1)).to_contain_text(f"#{older}")
    snap(page, "crisis-first")

    note = first.get_by_label(re.compile("^Note"))
    note.fill("Called the patient; safe with family, follow-up tomorrow.")
    note.press("Tab")
    expect(first.get_by_role("button", name=f"Acknowledge #{alert_id}")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text(f"Alert #{alert_id} acknowledged.")
    expect(open_alerts).not_to_contain_text(f"#{alert_id}")
    expect(open_alerts).to_contain_text(f"#{older}")
    done = page.get_by_role("region", name=re.compile("^Acknowledged"))
    row = done.get_by_role("row").filter(has_text=f"#{alert_id}")
    expect(row).to_contain_text("Crisis language")
    expect(row).to_contain_text(site.staff["clinician"])
    expect(row).to_contain_text("safe with family")
    snap(page, "acknowledged")

    with transaction(site.live.svc.sessions) as db:
        alert = db.get(Alert, alert_id)
        assert alert is not None
        assert alert.acknowledged_by == site.staff["clinician"] and alert.acknowledged_at
    # The crisis text also paged the on-call number through Twilio.
    site.live.svc.pages.drain()
    assert [r["To"] for r in twilio_stub.requests] == [ONCALL]


def test_admin_edits_and_approves_a_snippet(site, page, snap):
    log_in(page, site.staff["admin"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Content").click()
    expect(page.get_by_role("heading", name="What the bot says")).to_be_visible()
    english = (
        page.get_by_role("row")
        .filter(has=page.get_by_role("link", name="fasting", exact=True))
        .filter(has_text="English")
    )
    expect(english).to_contain_text("not approved")
    snap(page, "content-list")
    english.get_by_role("link", name="fasting", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("fasting")
    text = page.get_by_label("Text", exact=True)
    edited = text.input_value().replace("Not sure if a drink counts?", "Unsure about a drink?")
    assert "Unsure about a drink?" in edited
    text.fill(edited)
    page.get_by_role("button", name="Save as draft").click()
    draft = page.get_by_role("region", name=re.compile("Draft version 1"))
    expect(draft).to_contain_text("Unsure about a drink?")
    expect(draft).to_contain_text(f"By {site.staff['admin']}")
    snap(page, "draft")
    with transaction(site.live.svc.sessions) as db:
        assert db.scalars(select(SnippetVersion)).one().approved_at is None

    draft.get_by_role("button", name="Approve version 1").click()
    expect(page.get_by_role("region", name=re.compile("Draft version"))).to_have_count(0)
    now = page.get_by_role("region", name="Sent now")
    expect(now).to_contain_text("Unsure about a drink?")
    expect(now).to_contain_text("approved")
    versions = page.get_by_role("region", name="Versions")
    expect(versions.get_by_role("row").filter(has_text="Unsure about a drink?")).to_contain_text(
        site.staff["admin"]
    )
    snap(page, "approved")
    with transaction(site.live.svc.sessions) as db:
        version = db.scalars(select(SnippetVersion)).one()
    assert version.approved_by == site.staff["admin"] and version.approved_at is not None

    # Patients now get the approved text.
    page.get_by_role("link", name="Phone simulator").click()
    page.get_by_label("The patient texts").fill("can I eat before?")
    page.get_by_role("button", name="Try it").click()
    expect(page.get_by_role("region", name="The bot would")).to_contain_text(
        "Unsure about a drink?"
    )
    snap(page, "simulator-uses-approved-text")


def test_front_desk_cannot_read_a_crisis_transcript(site, page, snap):
    alert_id, patient_id = crisis_alert(site)
    log_in(page, site.staff["frontdesk"])
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Content")).to_have_count(0)
    nav.get_by_role("link", name="Alerts").click()
    main = page.get_by_role("main")
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(main).not_to_contain_text("Crisis language")
    expect(main).not_to_contain_text(f"#{alert_id}")
    expect(main.get_by_role("link", name="Open conversation")).to_have_count(0)
    snap(page, "frontdesk-alerts")

    response = page.goto(f"/admin/patients/{patient_id}/conversation")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(CRISIS_TEXT)
    snap(page, "frontdesk-transcript-403")


def test_another_clinics_staff_see_nothing_of_this_clinic(site, open_page, snap, tmp_path):
    day = visit_day()
    denver = open_page()
    log_in(denver, site.staff["frontdesk"])
    denver.get_by_role("link", name="Upload schedule").click()
    denver.get_by_label(re.compile("Schedule file")).set_input_files(
        write_schedule(tmp_path, day, bad_phone=False)
    )
    denver.get_by_role("button", name="Check the file").click()
    denver.get_by_role("button", name="Apply these changes").click()
    expect(denver.get_by_role("heading", name=re.compile("^Imported"))).to_be_visible()
    alert_id, patient_id = crisis_alert(site)

    page = open_page()
    log_in(page, site.staff["other"])
    expect(page.get_by_text("ClinicBot · Flatirons Clinic")).to_be_visible()
    page.get_by_role("link", name="Appointments").click()
    page.get_by_label("Go to day").fill(day.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(day_name(day))
    main = page.get_by_role("main")
    expect(main.get_by_text("No appointments.")).to_be_visible()
    expect(main).not_to_contain_text("Jordan Ellis")
    snap(page, "other-clinic-appointments")

    page.get_by_role("link", name="Alerts").click()
    expect(main.get_by_text("Nothing open.")).to_be_visible()
    expect(main).not_to_contain_text(f"#{alert_id}")
    snap(page, "other-clinic-alerts")

    for path in (
        f"/admin/patients/{patient_id}/conversation",
        f"/admin/patients/{patient_id}/trend",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator("body")).not_to_contain_text(CRISIS_TEXT)
    snap(page, "other-clinic-conversation-404")

    # Acknowledging this clinic's alert by its id, with a valid form token of the other clinic.
    page.goto("/admin/alerts")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"/admin/alerts/{alert_id}/ack",
        form={"csrf_token": token, "note": "not mine"},
        max_redirects=0,
    )
    assert answer.status == 404
    with transaction(site.live.svc.sessions) as db:
        alert = db.get(Alert, alert_id)
        assert alert is not None and alert.acknowledged_at is None
