"""Staff schedule pages: the day's appointments, CSV upload, delivery counts, the check-in trend."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import event, select

import test_admin_auth
from bot.admin.auth import add_user
from bot.admin.schedule_views import day_start
from bot.services import Services
from conftest import PATIENT, post_signed
from schedules.clinics import add_clinic
from schedules.db import transaction
from schedules.dispatch import SendRate
from schedules.importer import apply_schedule, read_schedule_csv
from schedules.models import (
    Appointment,
    Base,
    Clinic,
    Direction,
    Message,
    Patient,
    Purpose,
    Reminder,
    StaffAudit,
)
from test_admin_auth import PASSWORD, csrf_from, log_in
from test_dispatch import book, run

DENVER = ZoneInfo("America/Denver")
FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "appointment_id,patient_name,phone,start,status,treatment"
DAY = "2030-03-05"
OTHER_PATIENT = "+17205550177"

# One login per role in the test clinic, made through the CLI.
staff = test_admin_auth.staff


def csv_of(*lines: str) -> str:
    """Return a schedule CSV with HEADER and lines."""
    return "\n".join([HEADER, *lines]) + "\n"


SCHEDULE = csv_of(
    f"V-1,Avery Stone,(720) 555-0123,{DAY} 09:00,scheduled,iv",
    f"V-2,Blake Rivera,(720) 555-0124,{DAY} 13:30,scheduled,nasal",
    f"V-3,Casey Moreno,(720) 555-0125,{DAY} 15:00,cancelled,iv",
    "V-4,Drew Next,(720) 555-0126,2030-03-06 10:00,scheduled,iv",
)


def load(svc: Services, clinic_id: int, text: str) -> None:
    """Import a schedule CSV through the importer, as the CLI does."""
    parsed = read_schedule_csv(text, DENVER)
    assert parsed.problems == []
    with transaction(svc.sessions) as session:
        apply_schedule(session, session.get_one(Clinic, clinic_id), parsed.rows, datetime.now(UTC))


def dump(svc: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row an import may touch, in id order."""
    tables = Base.metadata.tables
    with svc.engine.connect() as connection:
        return {
            name: [tuple(r) for r in connection.execute(select(tables[name]).order_by("id"))]
            for name in ("patients", "appointments", "consent_events", "reminders")
        }


def page(client: Any, path: str, status: int = 200) -> str:
    """GET path and return its HTML, checking the status."""
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def upload(client: Any, content: bytes | str, name: str = "schedule.csv") -> Any:
    """Post a file to the upload form like a browser."""
    token = csrf_from(page(client, "/admin/upload"))
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/admin/upload",
        data={"csrf_token": token, "schedule": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def apply(client: Any, preview_html: str, skip_invalid: bool = False) -> Any:
    """Submit the Apply form of an upload preview."""
    form = preview_html[preview_html.index('action="/admin/upload/apply"') :]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    if skip_invalid:
        fields["skip_invalid"] = "yes"
    return client.post("/admin/upload/apply", data=fields)


def audits(svc: Services, action: str) -> list[StaffAudit]:
    """Return the audit entries for action."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(StaffAudit).where(StaffAudit.action == action)))


@pytest.fixture
def other_clinic(svc: Services, clinic: dict[str, Any]) -> dict[str, Any]:
    """Add a second clinic with a clinician login and one patient with a visit on DAY."""
    with transaction(svc.sessions) as session:
        row = add_clinic(
            session,
            slug="boulder",
            name="Flatirons Clinic",
            sms_number="+13035550200",
            phone="+13035550201",
            timezone="America/Denver",
        )
        add_user(session, row, "nurse@flatirons.example", "clinician", PASSWORD)
        clinic_id = row.id
    load(svc, clinic_id, csv_of(f"F-1,Emery Flatiron,(720) 555-0190,{DAY} 11:00,scheduled,iv"))
    return {"id": clinic_id, "email": "nurse@flatirons.example"}


# -- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/admin/appointments", "/admin/upload", "/admin/delivery", "/admin/patients/1/trend"],
)
def test_pages_without_login_redirect_to_the_login_page(client, clinic, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("path", ["/admin/upload", "/admin/upload/apply"])
def test_post_without_csrf_token_is_refused_and_changes_nothing(client, svc, staff, path):
    log_in(client, staff["frontdesk"])
    before = dump(svc)
    response = client.post(path, data={"schedule": "x"})
    assert response.status_code == 400
    assert dump(svc) == before


def test_frontdesk_gets_403_on_the_trend_page(client, svc, clinic, staff):
    load(svc, clinic["id"], SCHEDULE)
    log_in(client, staff["frontdesk"])
    with transaction(svc.sessions) as session:
        patient_id = session.scalars(select(Patient.id)).first()
    assert client.get(f"/admin/patients/{patient_id}/trend").status_code == 403


def test_other_clinics_staff_get_404_and_see_none_of_its_appointments(
    client, svc, clinic, staff, other_clinic
):
    load(svc, clinic["id"], SCHEDULE)
    with transaction(svc.sessions) as session:
        ours = session.scalar(select(Patient.id).where(Patient.clinic_id == clinic["id"]))
        theirs = session.scalar(select(Patient.id).where(Patient.clinic_id == other_clinic["id"]))
    log_in(client, other_clinic["email"])
    assert client.get(f"/admin/patients/{ours}/trend").status_code == 404
    assert client.get(f"/admin/patients/{theirs}/trend").status_code == 200
    html = page(client, f"/admin/appointments?day={DAY}&days=2")
    assert "Emery Flatiron" in html
    for name in ("Avery Stone", "Blake Rivera", "Casey Moreno", "Drew Next", "555-0123"):
        assert name not in html


# -- appointments ------------------------------------------------------------------------------


def test_appointments_page_shows_the_days_visits_in_local_time_with_reminder_statuses(
    client, svc, clinic, staff
):
    load(svc, clinic["id"], SCHEDULE)
    with transaction(svc.sessions) as session:
        avery = session.scalar(select(Appointment).where(Appointment.external_id == "V-1"))
        avery.confirmed_at = avery.starts_at - timedelta(hours=20)
        fasting = session.scalars(
            select(Reminder)
            .where(Reminder.appointment_id == avery.id, Reminder.kinds.contains("fasting"))
            .order_by(Reminder.due_at)
        ).first()
        fasting.status, fasting.status_reason = "failed", "refused by the provider"
        fasting.error_code = 21408
        blake = session.scalar(select(Patient).where(Patient.name == "Blake Rivera"))
        blake.opted_out = True
    log_in(client, staff["frontdesk"])
    html = page(client, f"/admin/appointments?day={DAY}")
    # 09:00 and 13:30 Denver wall clock, in that order; the cancelled visit is listed as such.
    assert html.index("9:00 AM") < html.index("Avery Stone") < html.index("1:30 PM")
    assert html.index("1:30 PM") < html.index("Blake Rivera") < html.index("Casey Moreno")
    assert 'datetime="2030-03-05T09:00-07:00"' in html
    assert '<a href="tel:+17205550123">(720) 555-0123</a>' in html
    assert "Drew Next" not in html
    assert ">cancelled</span>" in html
    assert 'title="refused by the provider (error 21408)"' in html
    assert ">refused by the provider (error 21408)</span>" in html
    assert ">pending</span>" in html and "due " in html
    assert "opted out" in html
    counts = dict(
        (label, int(n)) for n, label in re.findall(r"<strong>(\d+)</strong> ([a-z ]+?)[<\n]", html)
    )
    assert counts["visits"] == 2 and counts["confirmed"] == 1 and counts["cancelled"] == 1
    assert counts["drivers confirmed"] == 0 and counts["failed reminder"] == 1
    assert counts["patient not reachable by text"] == 1
    assert [e.detail for e in audits(svc, "view_appointments")] == [f"{DAY} +1d"]


def test_appointments_page_queries_do_not_grow_with_the_number_of_visits(
    client, svc, clinic, staff
):
    load(svc, clinic["id"], SCHEDULE)
    log_in(client, staff["frontdesk"])
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(svc.engine, "before_cursor_execute", count)
    try:
        page(client, "/admin/appointments?day=2030-03-06")  # one visit
        one = len(statements)
        statements.clear()
        page(client, f"/admin/appointments?day={DAY}&days=2")  # four visits
    finally:
        event.remove(svc.engine, "before_cursor_execute", count)
    assert len(statements) == one
    assert sum("FROM reminders" in s for s in statements) == 1


def test_day_filter_and_the_seven_day_view(client, svc, clinic, staff):
    load(svc, clinic["id"], SCHEDULE)
    log_in(client, staff["frontdesk"])
    next_day = page(client, "/admin/appointments?day=2030-03-06")
    assert "Drew Next" in next_day and "Avery Stone" not in next_day
    assert 'href="/admin/appointments?day=2030-03-05"' in next_day
    assert 'href="/admin/appointments?day=2030-03-07"' in next_day
    week = page(client, f"/admin/appointments?day={DAY}&days=7")
    assert "Avery Stone" in week and "Drew Next" in week
    assert week.count("<h2 ") == 7
    empty = page(client, "/admin/appointments?day=2030-03-04")
    assert "No appointments." in empty
    page(client, "/admin/appointments?day=tomorrow", 400)
    page(client, "/admin/appointments?days=99", 400)
    page(client, "/admin/appointments?days=%E2%9D%B6", 400)  # "❶", a digit int() refuses
    page(client, "/admin/appointments?day=0001-01-01", 400)
    today = datetime.now(DENVER).date().isoformat()
    assert f'value="{today}"' in page(client, "/admin/appointments")


def test_check_in_score_links_to_the_trend_for_clinicians_only(client, svc, clinic, staff):
    load(svc, clinic["id"], SCHEDULE)
    with transaction(svc.sessions) as session:
        visit = session.scalar(select(Appointment).where(Appointment.external_id == "V-1"))
        visit.checkin_score = 4
        patient_id = visit.patient_id
    log_in(client, staff["frontdesk"])
    html = page(client, f"/admin/appointments?day={DAY}")
    assert "4/5" in html and "/trend" not in html
    client.post("/admin/logout", data={"csrf_token": csrf_from(html)})
    log_in(client, staff["clinician"])
    assert f'href="/admin/patients/{patient_id}/trend"' in page(
        client, f"/admin/appointments?day={DAY}"
    )


def test_a_daylight_saving_day_lists_visits_at_their_wall_clock_time(client, svc, clinic, staff):
    # Clocks fall back at 02:00 on 2030-11-03 in Denver: a 25-hour day.
    load(
        svc,
        clinic["id"],
        csv_of(
            "N-1,Early Bird,(720) 555-0131,2030-11-03 00:30,scheduled,iv",
            "N-2,Late Owl,(720) 555-0132,2030-11-03 23:30,scheduled,iv",
            "N-3,Next Morning,(720) 555-0133,2030-11-04 00:15,scheduled,iv",
        ),
    )
    log_in(client, staff["frontdesk"])
    html = page(client, "/admin/appointments?day=2030-11-03")
    assert "Early Bird" in html and "Late Owl" in html and "Next Morning" not in html
    assert 'datetime="2030-11-03T00:30-06:00"' in html
    assert 'datetime="2030-11-03T23:30-07:00"' in html


@pytest.mark.parametrize(
    ("zone", "day", "starts"),
    [
        ("America/Denver", "2030-03-10", "2030-03-10T07:00+00:00"),  # spring forward at 02:00
        ("America/Denver", "2030-11-03", "2030-11-03T06:00+00:00"),  # fall back at 02:00
        ("America/Santiago", "2026-09-06", "2026-09-06T04:00+00:00"),  # no 00:00 that day
    ],
)
def test_a_local_day_starts_at_its_first_wall_clock_moment(zone, day, starts):
    begins = day_start(date.fromisoformat(day), ZoneInfo(zone))
    assert begins == datetime.fromisoformat(starts)
    before = begins - timedelta(seconds=1)
    assert before.astimezone(ZoneInfo(zone)).date() < date.fromisoformat(day)


# -- upload ------------------------------------------------------------------------------------


def test_upload_preview_lists_every_bad_row_by_line_and_writes_nothing(client, svc, staff):
    log_in(client, staff["frontdesk"])
    before = dump(svc)
    response = upload(client, (FIXTURES / "schedule_bad.csv").read_bytes())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    parsed = read_schedule_csv((FIXTURES / "schedule_bad.csv").read_bytes(), DENVER)
    assert len({p.line for p in parsed.problems}) == 14
    for problem in parsed.problems:
        row = re.search(rf'<th scope="row">{problem.line}</th><td>(.*?)</td>', html)
        assert row, problem
        assert str(escape(problem.message)) in row.group(1)
    assert "Nothing has been saved yet." in html
    assert "<strong>2</strong> new" in html and "<strong>14</strong> invalid" in html
    assert 'name="skip_invalid"' in html
    assert dump(svc) == before


def test_apply_imports_the_file_and_shows_the_result(client, svc, clinic, staff):
    log_in(client, staff["frontdesk"])
    preview = upload(client, SCHEDULE).get_data(as_text=True)
    assert "<strong>4</strong> new" in preview and "Avery Stone" in preview
    assert dump(svc)["appointments"] == []
    result = apply(client, preview)
    html = result.get_data(as_text=True)
    assert result.status_code == 200 and "Imported" in html
    assert "<strong>4</strong> new" in html
    assert f'href="/admin/appointments?day={DAY}&amp;days=7"' in html
    with transaction(svc.sessions) as session:
        stored = set(session.scalars(select(Appointment.external_id)))
        reminders = session.scalar(select(Reminder.id).limit(1))
    assert stored == {"V-1", "V-2", "V-3", "V-4"} and reminders is not None
    (entry,) = audits(svc, "upload_schedule")
    assert entry.detail == (
        "new=4 moved=0 cancelled=0 updated=0 unchanged=0 invalid=0 skip_invalid=no"
    )
    assert entry.actor == staff["frontdesk"] and entry.target_id == clinic["id"]


def test_uploading_the_same_file_again_changes_nothing(client, svc, clinic, staff):
    load(svc, clinic["id"], SCHEDULE)
    log_in(client, staff["frontdesk"])
    before = dump(svc)
    preview = upload(client, SCHEDULE).get_data(as_text=True)
    assert "<strong>0</strong> new" in preview and "<strong>4</strong> unchanged" in preview
    html = apply(client, preview).get_data(as_text=True)
    assert "Nothing changed." in html and "<strong>4</strong> unchanged" in html
    assert dump(svc) == before


def test_preview_of_a_moved_visit_shows_its_old_and_new_local_time(client, svc, clinic, staff):
    load(svc, clinic["id"], SCHEDULE)
    log_in(client, staff["frontdesk"])
    moved = SCHEDULE.replace(f"{DAY} 09:00", f"{DAY} 11:15")
    html = upload(client, moved).get_data(as_text=True)
    assert "Moved appointments (1)" in html
    row = re.search(r"<th scope=\"row\">V-1</th>.*?</tr>", html, re.S)
    assert row and "Tue Mar 5, 9:00 AM" in row.group(0) and "Tue Mar 5, 11:15 AM" in row.group(0)


def test_invalid_rows_block_the_import_unless_skipping_is_ticked(client, svc, staff):
    log_in(client, staff["frontdesk"])
    before = dump(svc)
    preview = upload(client, (FIXTURES / "schedule_bad.csv").read_bytes()).get_data(as_text=True)
    refused = apply(client, preview)
    assert refused.status_code == 400
    assert "14 invalid rows: nothing was imported" in refused.get_data(as_text=True)
    assert dump(svc) == before and audits(svc, "upload_schedule") == []
    done = apply(client, preview, skip_invalid=True)
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "Imported" in html and "(skipped)" in html
    with transaction(svc.sessions) as session:
        assert set(session.scalars(select(Appointment.external_id))) == {"B-1", "B-16"}
    (entry,) = audits(svc, "upload_schedule")
    assert "new=2" in entry.detail and "invalid=14" in entry.detail
    assert entry.detail.endswith("skip_invalid=yes")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((FIXTURES / "schedule_latin1.csv").read_bytes(), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"just some notes\nnothing else\n", "missing required column"),
        (b"", "the file is empty"),
    ],
)
def test_a_file_that_is_not_a_utf8_csv_is_refused_and_changes_nothing(
    client, svc, staff, content, message
):
    log_in(client, staff["frontdesk"])
    before = dump(svc)
    response = upload(client, content)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert "cannot be read" in html and "/admin/upload/apply" not in html
    assert dump(svc) == before


def test_oversized_or_missing_file_gets_a_clear_error(client, svc, staff):
    log_in(client, staff["frontdesk"])
    big = upload(client, b"a" * (2 * 1024 * 1024 + 1))
    assert big.status_code == 400 and "larger than 2 MB" in big.get_data(as_text=True)
    token = csrf_from(page(client, "/admin/upload"))
    missing = client.post("/admin/upload", data={"csrf_token": token})
    assert missing.status_code == 400 and "Choose a CSV file" in missing.get_data(as_text=True)


def test_a_damaged_apply_form_is_refused(client, svc, staff):
    log_in(client, staff["frontdesk"])
    token = csrf_from(page(client, "/admin/upload"))
    response = client.post(
        "/admin/upload/apply", data={"csrf_token": token, "schedule": "not base64!"}
    )
    assert response.status_code == 400 and "damaged" in response.get_data(as_text=True)
    # A big schedule fits in the form that carries it back (past Werkzeug's 500 kB default).
    big = client.post("/admin/upload/apply", data={"csrf_token": token, "schedule": "A" * 700_000})
    assert big.status_code == 400 and "damaged" in big.get_data(as_text=True)


# -- delivery ----------------------------------------------------------------------------------


def delivery_row(html: str, day: date) -> list[int]:
    """Return a day's numbers on the delivery page: sent, delivered, failed, waiting, ..."""
    row = re.search(rf'<time datetime="{day.isoformat()}">.*?</tr>', html, re.S)
    assert row, day
    return [int(n) for n in re.findall(r'<td class="num[^"]*">(\d+)', row.group(0))]


def test_delivery_counts_texts_per_clinic_day(client, svc, clinic, staff, twilio_stub):
    today = datetime.now(DENVER).date()
    visit = today - timedelta(days=4)
    book(svc, clinic["id"], f"{visit.isoformat()}T13:00", external_id="D-1")
    book(svc, clinic["id"], f"{visit.isoformat()}T14:00", phone=OTHER_PATIENT, external_id="D-2")
    twilio_stub.fail_for(OTHER_PATIENT, status=400, code=21408)
    with transaction(svc.sessions) as session:
        due = sorted(set(session.scalars(select(Reminder.due_at))))
    for moment in due:
        run(svc, moment, rate=SendRate(sleep=lambda _seconds: None))
    with transaction(svc.sessions) as session:
        accepted = list(
            session.scalars(
                select(Message.twilio_sid)
                .where(Message.to_number == PATIENT, Message.twilio_sid.is_not(None))
                .order_by(Message.id)
            )
        )
    delivered, undelivered = accepted[0], accepted[1]
    post_signed(client, "/twilio/status", {"MessageSid": delivered, "MessageStatus": "delivered"})
    post_signed(
        client,
        "/twilio/status",
        {"MessageSid": undelivered, "MessageStatus": "undelivered", "ErrorCode": "30003"},
    )
    late_evening = datetime.combine(visit, time(23, 30), DENVER).astimezone(UTC)
    with transaction(svc.sessions) as session:
        session.add(outbound(clinic["id"], late_evening, "replied", purpose=Purpose.REPLY))
        texts = list(session.scalars(select(Message).where(Message.purpose == Purpose.REMINDER)))
    expected: dict[date, list[int]] = {}
    for text in texts:
        counts = expected.setdefault(text.created_at.astimezone(DENVER).date(), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += text.status == "delivered"
        counts[2] += text.status in ("failed", "undelivered")
        counts[3] += text.status not in ("delivered", "failed", "undelivered")
    failed_to_other = sum(t.to_number == OTHER_PATIENT for t in texts)
    assert len(expected) >= 2 and failed_to_other >= 2

    log_in(client, staff["frontdesk"])
    html = page(client, "/admin/delivery")
    for day, counts in expected.items():
        assert delivery_row(html, day)[:4] == counts, day
    assert sum(delivery_row(html, d)[1] for d in expected) == 1
    assert sum(delivery_row(html, d)[2] for d in expected) == failed_to_other + 1
    assert delivery_row(html, visit)[5] == 1  # the reply, on the clinic's day it was sent
    assert delivery_row(html, today - timedelta(days=13)) == [0, 0, 0, 0, 0, 0]
    totals = dict(re.findall(r">(\d{5})</a></th><td>[^<]*</td><td class=\"num\">(\d+)<", html))
    assert totals == {"21408": str(failed_to_other), "30003": "1"}
    assert "30003 × 1" in html
    assert 'title="phone unreachable (may be temporary)"' in html


def outbound(
    clinic_id: int, at: datetime, status: str, *, purpose: str = Purpose.REMINDER
) -> Message:
    """Return an outbound text for the audit log, created at at."""
    return Message(
        clinic_id=clinic_id,
        direction=Direction.OUTBOUND,
        purpose=purpose,
        from_number="+13035550100",
        to_number=PATIENT,
        body="x",
        status=status,
        created_at=at,
    )


def test_delivery_groups_by_clinic_day_not_utc_day(client, svc, clinic, staff):
    day = datetime.now(DENVER).date() - timedelta(days=2)
    midnight = datetime.combine(day + timedelta(days=1), time(0), DENVER).astimezone(UTC)
    with transaction(svc.sessions) as session:
        # 23:30 in Denver is already the next day in UTC.
        session.add(outbound(clinic["id"], midnight - timedelta(minutes=30), "delivered"))
        session.add(outbound(clinic["id"], midnight + timedelta(minutes=30), "sent"))
        session.add(outbound(clinic["id"], midnight - timedelta(days=30), "delivered"))
    log_in(client, staff["frontdesk"])
    html = page(client, "/admin/delivery")
    assert delivery_row(html, day)[:4] == [1, 1, 0, 0]
    assert delivery_row(html, day + timedelta(days=1))[:4] == [1, 0, 0, 1]
    assert html.count("<time datetime=") == 14


# -- trend -------------------------------------------------------------------------------------


def test_trend_page_shows_the_scores_as_a_chart_and_a_table(client, svc, clinic, staff):
    now = datetime.now(UTC)
    with transaction(svc.sessions) as session:
        patient = Patient(clinic_id=clinic["id"], phone=PATIENT, name="Avery Stone")
        session.add(patient)
        session.flush()
        for n, score in enumerate([2, None, 3, 5]):
            start = now - timedelta(days=20 - 3 * n)
            session.add(
                Appointment(
                    clinic_id=clinic["id"],
                    external_id=f"T-{n}",
                    patient_id=patient.id,
                    starts_at=start,
                    checkin_score=score,
                    checkin_at=start + timedelta(days=1) if score else None,
                )
            )
        session.add(
            Appointment(
                clinic_id=clinic["id"],
                external_id="T-next",
                patient_id=patient.id,
                starts_at=now + timedelta(days=3),
            )
        )
        patient_id = patient.id
    log_in(client, staff["clinician"])
    html = page(client, f"/admin/patients/{patient_id}/trend")
    assert 'role="img"' in html and 'aria-labelledby="trend-title trend-desc"' in html
    assert html.count("<circle ") == 3 and "<polyline " in html
    assert "3 check-in scores from" in html
    assert html.count("no answer") >= 2 and "1 upcoming visit not shown" in html
    scores = re.findall(r"<td><strong>(\d)</strong>", html)
    assert scores == ["2", "3", "5"]
    (entry,) = audits(svc, "view_trend")
    assert entry.target_type == "patient" and entry.target_id == patient_id
    page(client, "/admin/patients/999999/trend", 404)
