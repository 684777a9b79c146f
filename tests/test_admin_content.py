"""Staff content pages: every snippet with its segments and approval; an edit is a draft the bot
does not send until it is approved; a draft that fails the content check is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

import test_admin_auth
from bot.admin.auth import add_user
from bot.services import Services
from conftest import CLINIC_SMS
from messages.catalog import load_catalog
from schedules.clinics import add_clinic
from schedules.content import approve, clinic_catalog, save_draft
from schedules.db import transaction
from schedules.models import Clinic, SnippetVersion, StaffAudit
from schedules.reminders import list_reminders
from test_admin_auth import PASSWORD, csrf_from, log_in
from test_dispatch import book, reminders, run
from test_webhook import count, reply_of, text_bot

staff = test_admin_auth.staff

NEW_FALLBACK = (
    "Sorry, we could not read that. Text MENU for topics, or call {clinic_phone}. "
    "Emergency: call 911."
)
NEW_FALLBACK_SENT = (
    "Sorry, we could not read that. Text MENU for topics, or call (303) 555-0101. "
    "Emergency: call 911."
)
GIBBERISH = "zqxv blorp"


def admin_browser(app: Flask, email: str) -> FlaskClient:
    """Return a browser logged in through the form."""
    browser = app.test_client()
    assert log_in(browser, email).status_code == 302
    return browser


def edit(browser: FlaskClient, snippet_id: str, language: str, text: str, action: str = "save"):
    """Submit the edit form of a snippet."""
    path = f"/admin/content/{snippet_id}/{language}"
    token = csrf_from(browser.get(path).get_data(as_text=True))
    return browser.post(path, data={"csrf_token": token, "text": text, "action": action})


def approve_on_page(browser: FlaskClient, snippet_id: str, language: str, version: int):
    """Press the approve button of a snippet for the version shown."""
    path = f"/admin/content/{snippet_id}/{language}"
    token = csrf_from(browser.get(path).get_data(as_text=True))
    return browser.post(f"{path}/approve", data={"csrf_token": token, "version": str(version)})


def versions(svc: Services) -> list[SnippetVersion]:
    """Return every stored snippet version, oldest first."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(SnippetVersion).order_by(SnippetVersion.id)))


def audited(svc: Services, action: str) -> list[StaffAudit]:
    """Return the audit entries for action."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(StaffAudit).where(StaffAudit.action == action)))


def test_content_page_lists_every_snippet_with_segments_and_approval(app, staff):
    html = admin_browser(app, staff["admin"]).get("/admin/content").get_data(as_text=True)
    for snippet in load_catalog().snippets():
        assert f'id="{snippet.id}-{snippet.language}"' in html
    assert "shipped default, not approved" in html
    assert " of 2" in html and "GSM-7" in html
    assert "0</strong> problems" in html


@pytest.mark.parametrize("role", ["frontdesk", "clinician"])
def test_only_admins_reach_the_content_pages(app, staff, role):
    browser = admin_browser(app, staff[role])
    assert browser.get("/admin/content").status_code == 403
    assert browser.get("/admin/content/fallback/en").status_code == 403


@pytest.mark.parametrize("path", ["/admin/content/nope/en", "/admin/content/fallback/fr"])
def test_unknown_snippet_or_language_is_not_found(app, staff, path):
    assert admin_browser(app, staff["admin"]).get(path).status_code == 404


def test_an_edit_is_a_draft_the_bot_does_not_send_until_approved(app, client, svc, clinic, staff):
    shipped = reply_of(text_bot(client, GIBBERISH))
    browser = admin_browser(app, staff["admin"])

    response = edit(browser, "fallback", "en", NEW_FALLBACK)
    assert response.status_code == 303
    (draft,) = versions(svc)
    assert (draft.version, draft.text, draft.created_by) == (1, NEW_FALLBACK, staff["admin"])
    assert draft.approved_at is None
    assert reply_of(text_bot(client, GIBBERISH)) == shipped
    page = browser.get("/admin/content/fallback/en").get_data(as_text=True)
    assert "Draft version 1, not yet sent" in page and "Approve version 1" in page

    assert approve_on_page(browser, "fallback", "en", 1).status_code == 303
    (approved,) = versions(svc)
    assert approved.approved_by == staff["admin"] and approved.approved_at is not None
    assert reply_of(text_bot(client, GIBBERISH)) == NEW_FALLBACK_SENT
    (entry,) = audited(svc, "approve_snippet")
    assert entry.actor == staff["admin"] and "fallback/en version 1" in (entry.detail or "")
    assert len(audited(svc, "edit_snippet")) == 1
    with transaction(svc.sessions) as session:
        assert session.get_one(Clinic, clinic["id"]).content_version == 1
    listing = browser.get("/admin/content").get_data(as_text=True)
    assert str(escape(NEW_FALLBACK)) in listing


def test_a_newer_draft_does_not_replace_the_approved_text(app, client, svc, clinic, staff):
    browser = admin_browser(app, staff["admin"])
    edit(browser, "fallback", "en", NEW_FALLBACK)
    approve_on_page(browser, "fallback", "en", 1)
    edit(browser, "fallback", "en", NEW_FALLBACK.replace("Sorry", "Oops"))
    assert [v.version for v in versions(svc)] == [1, 2]
    assert reply_of(text_bot(client, GIBBERISH)) == NEW_FALLBACK_SENT


def test_a_draft_over_its_segment_budget_is_refused_with_the_reason(app, svc, clinic, staff):
    long_text = NEW_FALLBACK + " We are here to help you with your care." * 8
    response = edit(admin_browser(app, staff["admin"]), "fallback", "en", long_text)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Not saved" in html and "over budget" in html and "budget is 2" in html
    assert versions(svc) == []


@pytest.mark.parametrize(
    ("snippet_id", "text", "reason"),
    [
        ("fallback", "Sorry, call {clinic_phone}.", "must contain &#39;911&#39;"),
        ("crisis", "Please call 911 if you are in danger.", "must contain &#39;988&#39;"),
        ("opt_in", "You are back on the list.", "must contain &#39;STOP&#39;"),
        ("no_appointment", "No visit booked. Emergency: 911.", "{clinic_phone}"),
        ("fallback", "Call {clinic_fax} or 911.", "unknown placeholder"),
        ("fallback", "   ", "the text is empty"),
    ],
)
def test_a_draft_missing_required_words_is_refused(
    app, svc, clinic, staff, snippet_id, text, reason
):
    response = edit(admin_browser(app, staff["admin"]), snippet_id, "en", text)
    assert response.status_code == 422
    assert reason in response.get_data(as_text=True)
    assert versions(svc) == []


def test_check_shows_the_segments_without_saving(app, svc, clinic, staff):
    response = edit(admin_browser(app, staff["admin"]), "fallback", "en", NEW_FALLBACK, "check")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "passes the content check" in html and "1 segment of a budget of 2" in html
    assert versions(svc) == []


def test_the_shipped_text_can_be_approved_as_it_is(app, client, svc, clinic, staff):
    shipped = reply_of(text_bot(client, GIBBERISH))
    browser = admin_browser(app, staff["admin"])
    assert approve_on_page(browser, "fallback", "en", 0).status_code == 303
    (version,) = versions(svc)
    assert version.text == load_catalog().snippet("fallback", "en").text
    assert version.approved_by == staff["admin"] and version.created_by == staff["admin"]
    assert reply_of(text_bot(client, GIBBERISH)) == shipped
    html = browser.get("/admin/content").get_data(as_text=True)
    row = html[html.index('id="fallback-en"') :]
    assert staff["admin"] in row[: row.index("</tr>")]


def test_approving_a_version_other_than_the_one_reviewed_is_refused(app, svc, clinic, staff):
    browser = admin_browser(app, staff["admin"])
    edit(browser, "fallback", "en", NEW_FALLBACK)
    edit(browser, "fallback", "en", NEW_FALLBACK.replace("Sorry", "Oops"))
    approve_on_page(browser, "fallback", "en", 1)
    assert all(v.approved_at is None for v in versions(svc))
    assert "was saved after the one you reviewed" in browser.get(
        "/admin/content/fallback/en"
    ).get_data(as_text=True)
    approve_on_page(browser, "fallback", "en", 0)
    assert len(versions(svc)) == 2 and all(v.approved_at is None for v in versions(svc))


def test_another_clinics_approved_text_is_never_sent_here(app, client, svc, clinic, staff):
    with transaction(svc.sessions) as session:
        other = add_clinic(
            session,
            slug="boulder",
            name="Flatirons Clinic",
            sms_number="+13035550200",
            phone="+13035550201",
            timezone="America/Denver",
        )
        add_user(session, other, "admin@boulder.example", "admin", PASSWORD)
    browser = admin_browser(app, "admin@boulder.example")
    edit(browser, "fallback", "en", NEW_FALLBACK)
    approve_on_page(browser, "fallback", "en", 1)
    assert reply_of(text_bot(client, GIBBERISH)) != NEW_FALLBACK_SENT
    assert "Draft version" not in admin_browser(app, staff["admin"]).get(
        "/admin/content/fallback/en"
    ).get_data(as_text=True)


def approved_version(svc: Services, clinic_id: int, snippet_id: str, text: str) -> None:
    """Store and approve a clinic's own text for an English snippet."""
    now = datetime.now(UTC)
    with transaction(svc.sessions) as session:
        version = save_draft(session, clinic_id, snippet_id, "en", text, "md@clinic.example", now)
        approve(
            session,
            clinic_id,
            snippet_id,
            "en",
            seen_version=version.version,
            default_text="",
            approver="md@clinic.example",
            now=now,
        )


CHECKIN = (
    "{clinic_name}: how did your visit on {visit_day} go? Reply a number from 1 (very poor) "
    "to 5 (very well), CALL for a call back, or call {clinic_phone}. Crisis: 988. "
    "Emergency: 911. Reply STOP to opt out."
)


def test_reminders_use_the_approved_text(svc, clinic):
    book(svc, clinic["id"], "2026-12-02T13:00")
    approved_version(svc, clinic["id"], "reminder_checkin", CHECKIN)
    with transaction(svc.sessions) as session:
        listed = list_reminders(session, session.get_one(Clinic, clinic["id"]))
    checkin = next(r for r in listed if r["kinds"] == ["checkin"])
    assert checkin["body"].startswith("Mile High Clinic: how did your visit on")


def test_dispatch_sends_the_approved_text(svc, clinic, twilio_stub):
    book(svc, clinic["id"], "2026-12-02T13:00")
    approved_version(svc, clinic["id"], "reminder_checkin", CHECKIN)
    checkin = next(r for r in reminders(svc) if r.kind_list == ["checkin"])
    run(svc, checkin.due_at)
    sent = [r["Body"] for r in twilio_stub.requests if "how did your visit" in r.get("Body", "")]
    assert len(sent) == 1


def test_clinic_catalog_lays_only_approved_versions_over_the_shipped_text(svc, clinic):
    now = datetime.now(UTC)
    with transaction(svc.sessions) as session:
        save_draft(session, clinic["id"], "fallback", "en", NEW_FALLBACK, "a@x.example", now)
        catalog = clinic_catalog(session, clinic["id"], None)
    assert catalog.snippet("fallback", "en") == load_catalog().snippet("fallback", "en")
    approved_version(svc, clinic["id"], "fallback", NEW_FALLBACK.replace("Sorry", "Oops"))
    with transaction(svc.sessions) as session:
        snippet = clinic_catalog(session, clinic["id"], None).snippet("fallback", "en")
    assert snippet.text.startswith("Oops") and snippet.approved
    assert snippet.approved_by == "md@clinic.example"
    assert count(svc, SnippetVersion) == 2


def test_approval_reaches_the_webhook_of_this_process_at_once(app, client, svc, clinic, staff):
    # Warm the clinic cache first: the approval must not wait for it to expire.
    reply_of(text_bot(client, GIBBERISH))
    assert svc.clinics.by_sms_number(CLINIC_SMS) is not None
    browser = admin_browser(app, staff["admin"])
    edit(browser, "fallback", "en", NEW_FALLBACK)
    approve_on_page(browser, "fallback", "en", 1)
    assert reply_of(text_bot(client, GIBBERISH)) == NEW_FALLBACK_SENT


def test_a_spanish_edit_leaves_english_alone(app, client, svc, clinic, staff):
    browser = admin_browser(app, staff["admin"])
    es = "Perdon, no entendimos. Escriba MENU o llame al {clinic_phone}. Emergencia: 911."
    assert edit(browser, "fallback", "es", es).status_code == 303
    assert approve_on_page(browser, "fallback", "es", 1).status_code == 303
    assert reply_of(text_bot(client, GIBBERISH)) == reply_of(text_bot(client, GIBBERISH + "x"))
    with transaction(svc.sessions) as session:
        catalog = clinic_catalog(session, clinic["id"], None)
    assert catalog.snippet("fallback", "es").text == es
    assert catalog.snippet("fallback", "en") == load_catalog().snippet("fallback", "en")
