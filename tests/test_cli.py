"""The clinicbot command: database, clinics, content check, chat, dispatch."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from schedules.db import make_engine, make_session_factory, transaction
from schedules.models import Alert, Clinic, Message, Patient

GOOD = [
    "clinic",
    "add",
    "--slug",
    "boulder",
    "--name",
    "Boulder Clinic",
    "--sms-number",
    "+13035550110",
    "--phone",
    "+13035550111",
    "--timezone",
    "America/Denver",
    "--oncall",
    "+13035550112",
]


@pytest.fixture
def runner(database_url: str) -> CliRunner:
    """Return a CLI runner on the test database with the console sender."""
    return CliRunner(
        env={"DATABASE_URL": database_url, "SMS_BACKEND": "console", "TWILIO_AUTH_TOKEN": ""}
    )


def clinics(database_url: str) -> list[Clinic]:
    """Return every clinic row."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return list(session.scalars(select(Clinic)))
    finally:
        engine.dispose()


def test_db_upgrade_is_repeatable(runner):
    first = runner.invoke(main, ["db", "upgrade"])
    second = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output


def test_clinic_add_stores_a_valid_clinic(runner, database_url):
    result = runner.invoke(main, GOOD)
    assert result.exit_code == 0, result.output
    (row,) = clinics(database_url)
    assert (row.slug, row.sms_number, row.timezone) == ("boulder", "+13035550110", "America/Denver")
    assert row.oncall_number == "+13035550112"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--sms-number", "303-555-0110", "E.164"),
        ("--phone", "+1555", "not a valid phone number"),
        ("--timezone", "Mountain Time", "IANA"),
        ("--timezone", "EST5EDT", "IANA"),
        ("--slug", "Bad Slug!", "slug"),
        ("--oncall", "+1999", "oncall"),
    ],
)
def test_clinic_add_rejects_bad_input_with_a_clear_error(
    runner, database_url, flag, value, message
):
    args = list(GOOD)
    args[args.index(flag) + 1] = value
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert message in result.output
    assert clinics(database_url) == []


def test_clinic_add_refuses_a_duplicate_slug_or_sms_number(runner, database_url):
    assert runner.invoke(main, GOOD).exit_code == 0
    again = runner.invoke(main, GOOD)
    assert again.exit_code == 1
    assert "a clinic with slug 'boulder' already exists" in again.output
    other_slug = list(GOOD)
    other_slug[other_slug.index("--slug") + 1] = "boulder-two"
    clash = runner.invoke(main, other_slug)
    assert clash.exit_code == 1 and "another clinic" in clash.output
    assert len(clinics(database_url)) == 1


def test_clinic_add_without_oncall_warns(runner):
    args = GOOD[: GOOD.index("--oncall")]
    result = runner.invoke(main, args)
    assert result.exit_code == 0
    assert "crisis alerts will not page anyone" in result.output


def test_demo_adds_the_demo_clinic_and_its_schedule_once(runner, database_url):
    first = runner.invoke(main, ["demo"])
    assert first.exit_code == 0, first.output
    assert "sample schedule: 21 new" in first.output
    again = runner.invoke(main, ["demo"])
    assert again.exit_code == 0 and "21 unchanged" in again.output, again.output
    assert [c.slug for c in clinics(database_url)] == ["demo"]
    listed = runner.invoke(main, ["reminders", "--clinic", "demo", "--json"])
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)
    assert items and {"appointment_id", "kinds", "due_at", "status", "body"} <= set(items[0])
    assert {i["status"] for i in items} <= {"pending", "skipped"}
    assert any(i["status"] == "pending" for i in items)


def test_demo_schedule_starts_on_the_monday_after_today():
    from datetime import date

    from bot.cli import demo_schedule

    text = demo_schedule(date(2027, 3, 10))
    assert "03/15/2027" in text and "11/30/2026" not in text
    assert demo_schedule(date(2026, 11, 29)).count("11/30/2026") == 2


def test_reminders_for_an_unknown_clinic_fail_clearly(runner):
    result = runner.invoke(main, ["reminders", "--clinic", "nope", "--json"])
    assert result.exit_code == 2 and "no clinic" in result.output


def test_chat_goes_through_the_webhook_logic_with_state_changes(runner, database_url):
    runner.invoke(main, ["demo"])
    result = runner.invoke(
        main,
        ["chat", "--clinic", "demo", "--from", "(720) 555-0123"],
        input="side effects\nCALL\nI want to die\nstop texting me\n",
    )
    assert result.exit_code == 0, result.output
    replies = [line for line in result.output.splitlines() if line.startswith("bot> ")]
    assert len(replies) == 4
    assert "988" in replies[2]
    # The console sender printed the page to the on-call number.
    assert "+13035550199" in result.output
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        patient = session.scalars(select(Patient).where(Patient.phone == "+17205550123")).one()
        kinds = sorted(session.scalars(select(Alert.kind)))
        pages = session.scalars(select(Message).where(Message.purpose == "page")).all()
    engine.dispose()
    assert patient.phone == "+17205550123" and patient.opted_out
    assert {"call_back", "crisis"} <= set(kinds)
    assert len(pages) == 1 and pages[0].status == "sent"


def test_chat_with_unknown_clinic_fails_clearly(runner):
    result = runner.invoke(main, ["chat", "--clinic", "nope", "--from", "+17205550123"])
    assert result.exit_code == 2 and "no clinic" in result.output


def test_content_check_passes_on_shipped_content(runner):
    result = runner.invoke(main, ["content", "check"])
    assert result.exit_code == 0, result.output
    assert "content check passed" in result.output


def test_content_check_strict_fails_on_unapproved_defaults(runner):
    result = runner.invoke(main, ["content", "check", "--strict"])
    assert result.exit_code == 1
    assert "UNAPPROVED" in result.output


def test_content_check_strict_for_a_clinic_counts_what_staff_approved(runner, svc, clinic):
    from datetime import UTC, datetime

    from messages.catalog import load_catalog
    from schedules.content import approve

    strict = ["content", "check", "--strict", "--clinic", "denver"]
    before = runner.invoke(main, strict)
    assert before.exit_code == 1 and "UNAPPROVED" in before.output
    shipped = load_catalog()
    with transaction(svc.sessions) as session:
        for snippet in shipped.snippets():
            approve(
                session,
                clinic["id"],
                snippet.id,
                snippet.language,
                seen_version=0,
                default_text=snippet.text,
                approver="Dr. Rivera",
                now=datetime.now(UTC),
            )
    after = runner.invoke(main, strict)
    assert after.exit_code == 0, after.output
    assert "UNAPPROVED" not in after.output and "content check passed" in after.output
    # The shipped files alone are still unapproved defaults.
    assert runner.invoke(main, ["content", "check", "--strict"]).exit_code == 1


def test_content_check_for_an_unknown_clinic_fails_clearly(runner):
    result = runner.invoke(main, ["content", "check", "--clinic", "nope"])
    assert result.exit_code == 2 and "no clinic" in result.output


def test_dispatch_once_sends_a_page_the_web_process_left_behind(runner, database_url):
    runner.invoke(main, ["demo"])
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        demo = session.scalars(select(Clinic)).one()
        session.add(
            Message(
                clinic_id=demo.id,
                direction="out",
                purpose="page",
                from_number=demo.sms_number,
                to_number=demo.oncall_number,
                body="Demo ALERT #1: review now",
                status="pending",
            )
        )
    later = "2099-01-01T00:00:00+00:00"
    result = runner.invoke(main, ["dispatch", "--once", "--now", later])
    assert result.exit_code == 0, result.output
    assert '"sent": 1' in result.output
    again = runner.invoke(main, ["dispatch", "--once", "--now", later])
    assert '"sent": 0' in again.output
    with transaction(factory) as session:
        page = session.scalars(select(Message)).one()
    engine.dispose()
    assert page.status == "sent" and page.twilio_sid and page.twilio_sid.startswith("CS")


def test_dispatch_rejects_a_time_without_offset(runner):
    result = runner.invoke(main, ["dispatch", "--once", "--now", "2026-01-01T10:00"])
    assert result.exit_code == 2 and "offset" in result.output


def test_clinic_set_validates_and_stores_settings(runner, database_url):
    runner.invoke(main, GOOD)
    ok = runner.invoke(
        main, ["clinic", "set", "boulder", "twilio_handles_opt_out=false", "reply_cap_count=3"]
    )
    assert ok.exit_code == 0, ok.output
    (row,) = clinics(database_url)
    assert row.settings == {"twilio_handles_opt_out": False, "reply_cap_count": 3}


@pytest.mark.parametrize(
    "assignment", ["reply_cap_count=lots", "reply_cap_count=0", "colour=blue", "novalue"]
)
def test_clinic_set_rejects_bad_settings_and_changes_nothing(runner, database_url, assignment):
    runner.invoke(main, GOOD)
    result = runner.invoke(main, ["clinic", "set", "boulder", "reply_cap_count=3", assignment])
    assert result.exit_code == 1 and "error:" in result.output
    (row,) = clinics(database_url)
    assert row.settings == {}


def test_clinic_set_timing_replans_pending_reminders(runner, database_url):
    runner.invoke(main, ["demo"])
    before = json.loads(runner.invoke(main, ["reminders", "--clinic", "demo", "--json"]).output)
    result = runner.invoke(main, ["clinic", "set", "demo", "day_before_time=17:00"])
    assert result.exit_code == 0 and "re-planned" in result.output, result.output
    after = json.loads(runner.invoke(main, ["reminders", "--clinic", "demo", "--json"]).output)
    moved = {(i["appointment_id"], tuple(i["kinds"])) for i in after if i["status"] == "pending"}
    assert moved and before != after
    cancelled = [i for i in after if i["status"] == "cancelled"]
    assert cancelled and all(i["reason"] == "re-planned" for i in cancelled)


@pytest.mark.parametrize(
    "assignment",
    ["window_start=21:00", "liquids_hours_iv=8", "day_before_time=25:00", "fasting_hours_iv=-1"],
)
def test_clinic_set_rejects_timing_that_cannot_work(runner, database_url, assignment):
    runner.invoke(main, GOOD)
    result = runner.invoke(main, ["clinic", "set", "boulder", assignment])
    assert result.exit_code == 1 and "error:" in result.output
    (row,) = clinics(database_url)
    assert row.settings == {}


def test_readme_documents_every_clinic_setting():
    from pathlib import Path

    from schedules.settings import setting_names

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert missing == []
