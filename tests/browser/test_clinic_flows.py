"""The staff journeys of the issue, clicked through in Chromium: upload a schedule with a bad row
and fix it, see the planned reminders, use the simulator, acknowledge a crisis alert, approve a
snippet, and the role and clinic boundaries."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import func, select

from browser.conftest import log_in
from schedules.db import transaction
from schedules.models import Alert, Appointment, Message, Reminder, SnippetVersion

DENVER = ZoneInfo("America/Denver")
PATIENT = "+17205550123"


def schedule_csv(tmp_path, *, bad_phone: bool) -> tuple[str, str]:
    """Write a three-row schedule for next week; row 3 (line 3) has a bad phone if asked."""
    day = (datetime.now(DENVER) + timedelta(days=7)).date()
    phone = "555-01" if bad_phone else "(720) 555-0124"
    text = (
        "appointment_id,patient_name,phone,date,time,treatment\n"
        f"B-1,Jordan Ellis,(720) 555-0123,{day:%m/%d/%Y},9:15 AM,iv\n"
        f"B-2,Sam Whitfield,{phone},{day:%m/%d/%Y},1:00 PM,nasal\n"
    )
    path = tmp_path / ("bad.csv" if bad_phone else "good.csv")
    path.write_text(text)
    return str(path), day.isoformat()


def count(site, model) -> int:
    """Return how many rows of model exist."""
    with transaction(site.live.svc.sessions) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_upload_a_schedule_with_a_bad_row_fix_it_and_see_the_reminders(site, page, snap, tmp_path):
    log_in(page, site.staff["frontdesk"])
    page.get_by_role("link", name="Upload schedule").click()
    bad, _ = schedule_csv(tmp_path, bad_phone=True)
    page.get_by_label(re.compile("Schedule file")).set_input_files(bad)
    page.get_by_role("button", name="Check the file").click()
    problems = page.locator("section", has=page.get_by_role("heading", name="Rows with problems"))
    expect(problems).to_contain_text("3")
    expect(problems).to_contain_text(re.compile("phone", re.IGNORECASE))
    snap(page, "preview-with-bad-row")
    assert count(site, Appointment) == 0

    good, day = schedule_csv(tmp_path, bad_phone=False)
    page.get_by_role("link", name="Upload schedule").click()
    page.get_by_label(re.compile("Schedule file")).set_input_files(good)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="What this file would change")).to_be_visible()
    snap(page, "preview-clean")
    page.get_by_role("button", name="Apply these changes").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    snap(page, "imported")
    assert count(site, Appointment) == 2 and count(site, Reminder) > 0

    page.goto(f"/admin/appointments?day={day}")
    visits = page.locator("table.visits")
    expect(visits).to_contain_text("Jordan Ellis")
    expect(visits).to_contain_text("9:15 AM")
    expect(visits).to_contain_text("pending")
    snap(page, "appointments-with-reminders")


def test_simulator_answers_like_the_bot_and_stores_nothing(site, page, snap):
    log_in(page, site.staff["frontdesk"])
    page.get_by_role("link", name="Phone simulator").click()
    before = count(site, Message), count(site, Alert)
    page.get_by_label("The patient texts").fill("can I eat before?")
    page.get_by_role("button", name="Try it").click()
    expect(page.locator("#reply")).to_contain_text("food")
    snap(page, "fasting-question")
    page.get_by_label("The patient texts").fill("I want to die")
    page.get_by_role("button", name="Try it").click()
    expect(page.locator("#reply")).to_contain_text("988")
    expect(page.locator("#intent")).to_contain_text(re.compile("crisis", re.IGNORECASE))
    snap(page, "crisis-text")
    assert (count(site, Message), count(site, Alert)) == before


def test_clinician_acknowledges_a_crisis_alert(site, page, snap):
    site.live.post_sms("I want to end my life", sid="SM" + uuid.uuid4().hex, from_=PATIENT)
    log_in(page, site.staff["clinician"])
    page.get_by_role("link", name="Alerts").click()
    first = page.locator("ol.alerts > li").first
    expect(first).to_contain_text(re.compile("crisis", re.IGNORECASE))
    snap(page, "crisis-on-top")
    first.get_by_label(re.compile("Note")).fill("Called the patient; safe with family.")
    first.get_by_role("button", name=re.compile("Acknowledge")).click()
    done = page.locator("section", has=page.get_by_role("heading", name=re.compile("Acknowledged")))
    expect(done).to_contain_text(site.staff["clinician"])
    expect(done).to_contain_text("safe with family")
    snap(page, "acknowledged")
    with transaction(site.live.svc.sessions) as db:
        alert = db.scalars(select(Alert)).one()
    assert alert.acknowledged_by == site.staff["clinician"] and alert.acknowledged_at


def test_admin_edits_and_approves_a_snippet(site, page, snap):
    log_in(page, site.staff["admin"])
    page.get_by_role("link", name="Content", exact=True).click()
    snap(page, "content-list")
    page.goto("/admin/content/fallback/en")
    text = page.get_by_label("Text", exact=True)
    text.fill(
        "{clinic_name}: this line is automated and could not read that. Text MENU for topics "
        "or call {clinic_phone}. Emergency: 911. Crisis: call or text 988. STOP to opt out."
    )
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name=re.compile("Draft version 1"))).to_be_visible()
    snap(page, "draft")
    page.get_by_role("button", name="Approve version 1").click()
    expect(page.get_by_text(site.staff["admin"]).first).to_be_visible()
    snap(page, "approved")
    with transaction(site.live.svc.sessions) as db:
        version = db.scalars(select(SnippetVersion)).one()
    assert version.approved_by == site.staff["admin"] and version.approved_at is not None


def test_front_desk_cannot_read_a_crisis_transcript(site, open_page, snap):
    site.live.post_sms("I want to die", sid="SM" + uuid.uuid4().hex, from_=PATIENT)
    with transaction(site.live.svc.sessions) as db:
        patient_id = db.scalars(select(Alert.patient_id)).one()
    page = open_page()
    log_in(page, site.staff["frontdesk"])
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("main")).not_to_contain_text(re.compile("crisis", re.IGNORECASE))
    snap(page, "frontdesk-alerts")
    response = page.goto(f"/admin/patients/{patient_id}/conversation")
    assert response is not None and response.status == 403
    expect(page.locator("body")).not_to_contain_text("I want to die")
    snap(page, "frontdesk-transcript-refused")


def test_another_clinics_staff_see_nothing_of_this_clinic(site, open_page, snap, tmp_path):
    site.live.post_sms("I want to die", sid="SM" + uuid.uuid4().hex, from_=PATIENT)
    with transaction(site.live.svc.sessions) as db:
        alert = db.scalars(select(Alert)).one()
    page = open_page()
    log_in(page, site.staff["other"])
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("main")).not_to_contain_text(f"#{alert.id}")
    response = page.goto(f"/admin/patients/{alert.patient_id}/conversation")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text("I want to die")
    snap(page, "other-clinic-404")
