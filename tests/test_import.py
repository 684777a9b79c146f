"""Schedule import: reading and checking CSV rows, upserting them, and the import command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

import schedules.importer as importer
from bot.cli import main
from schedules.db import transaction
from schedules.importer import (
    ScheduleRow,
    apply_schedule,
    apply_schedule_csv,
    check_schedule_csv,
    parse_schedule_csv,
    plan_changes,
    read_schedule_csv,
    validate_rows,
)
from schedules.models import (
    Appointment,
    Base,
    Clinic,
    ConsentEvent,
    Patient,
    Reminder,
    ReminderStatus,
)

DENVER = ZoneInfo("America/Denver")
FIXTURES = Path(__file__).parent / "fixtures"
DEMO_CSV = Path(__file__).parent.parent / "schedules" / "samples" / "demo.csv"
HEADER = "appointment_id,patient_name,phone,start,duration_minutes,status,treatment,language"
DUMPED = ("patients", "appointments", "consent_events", "reminders")


def csv_of(*lines: str, header: str = HEADER) -> str:
    """Return a CSV text with header and lines."""
    return "\n".join([header, *lines]) + "\n"


def local_day(days: int) -> str:
    """Return the Denver date this many days from today, as YYYY-MM-DD."""
    return (datetime.now(DENVER).date() + timedelta(days=days)).isoformat()


def row(external_id: str = "A-1", **values: str) -> str:
    """Return one CSV line for HEADER; a visit 30 days ahead unless told otherwise."""
    fields = {
        "appointment_id": external_id,
        "patient_name": "Jane Doe",
        "phone": "(720) 555-0123",
        "start": f"{local_day(30)} 09:00",
        "duration_minutes": "60",
        "status": "scheduled",
        "treatment": "iv",
        "language": "en",
    }
    fields.update(values)
    return ",".join(fields[name] for name in HEADER.split(","))


def only_row(text: str) -> ScheduleRow:
    """Parse text that must hold exactly one valid row, and return it."""
    rows, problems = parse_schedule_csv(text, DENVER)
    assert problems == []
    (parsed,) = rows
    return parsed


def problems_of(text: str | bytes) -> list[tuple[int, str]]:
    """Parse text and return its problems as (line, message) pairs."""
    return [(p.line, p.message) for p in parse_schedule_csv(text, DENVER)[1]]


# Reading and checking: no database.


@pytest.mark.parametrize(
    "header",
    [
        "appointment_id,phone,start,patient_name",
        "Appointment ID,Phone,Start,Patient Name",
        "APPOINTMENT-ID,PHONE,START,PATIENT-NAME",
        "  appointment__id , Phone , start , patient_name ",
        "id,mobile,start,name",
        "ID,Cell,Start,Name",
        "appt_id,cell,start,name",
        "Appt ID,Mobile,START,Name",
        "appt-id,MOBILE,Start,NAME",
    ],
)
def test_header_names_match_any_case_spacing_and_alias(header):
    parsed = only_row(csv_of("A-1,720-555-0123,2026-12-07 09:00,Jane Doe", header=header))
    assert (parsed.external_id, parsed.phone, parsed.patient_name) == (
        "A-1",
        "+17205550123",
        "Jane Doe",
    )
    assert parsed.starts_at == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "values", "expected_utc"),
    [
        ("start", "2026-12-07 09:15", datetime(2026, 12, 7, 16, 15)),
        ("start", "2026-12-07T09:15", datetime(2026, 12, 7, 16, 15)),
        ("start", "2026-12-07T09:15:00", datetime(2026, 12, 7, 16, 15)),
        ("start", "2026-12-07T09:15:00-07:00", datetime(2026, 12, 7, 16, 15)),
        ("start", "2027-06-07 09:15", datetime(2027, 6, 7, 15, 15)),
        ("start", "2027-06-07T09:15-06:00", datetime(2027, 6, 7, 15, 15)),
        ("start", "12/07/2026 9:15 AM", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "12/07/2026,9:15 AM", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "12/07/2026,09:15", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "12/7/2026,9:15am", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "12/07/26,9:15 a.m.", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "2026-12-07,9:15 PM", datetime(2026, 12, 8, 4, 15)),
        ("date,time", "2026-12-07,21:15", datetime(2026, 12, 8, 4, 15)),
        ("date,time", "2026-12-07,12:00 AM", datetime(2026, 12, 7, 7, 0)),
        ("date,time", "2026-12-07,12:30 PM", datetime(2026, 12, 7, 19, 30)),
        ("date,time", "2026-12-07 00:00:00,9:15", datetime(2026, 12, 7, 16, 15)),
        ("date,time", "2027-06-07,9:15 AM", datetime(2027, 6, 7, 15, 15)),
    ],
)
def test_dates_and_times_are_wall_clock_times_in_the_clinic_zone(header, values, expected_utc):
    parsed = only_row(csv_of(f"A-1,7205550123,{values}", header=f"id,phone,{header}"))
    assert parsed.starts_at == expected_utc.replace(tzinfo=UTC)
    assert parsed.starts_at.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "(720) 555-0123",
        "720-555-0123",
        "720.555.0123",
        "720 555 0123",
        "7205550123",
        "17205550123",
        "+1 720 555 0123",
        "+1 (720) 555-0123",
        '"+1 720-555-0123"',
    ],
)
def test_phones_are_normalised_to_e164(raw):
    assert only_row(csv_of(f"A-1,{raw},2026-12-07 09:00", header="id,phone,start")).phone == (
        "+17205550123"
    )


def test_optional_columns_default_to_a_scheduled_hour_of_iv_with_consent():
    parsed = only_row(csv_of("A-1,7205550123,2026-12-07 09:00", header="id,phone,start"))
    assert (parsed.duration_minutes, parsed.status, parsed.treatment) == (60, "scheduled", "iv")
    assert (parsed.sms_consent, parsed.language, parsed.patient_name) == (True, None, None)


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        ("status", "Cancelled", "cancelled"),
        ("status", "canceled", "cancelled"),
        ("status", "SCHEDULED", "scheduled"),
        ("treatment", "Nasal", "nasal"),
        ("treatment", "IV", "iv"),
        ("language", "ES", "es"),
        ("language", "Spanish", "es"),
        ("sms_consent", "No", False),
        ("sms_consent", "YES", True),
        ("duration_minutes", "90", 90),
        ("duration_minutes", "600", 600),
    ],
)
def test_optional_values_are_read_in_any_case(column, raw, expected):
    parsed = only_row(
        csv_of(f"A-1,7205550123,2026-12-07 09:00,{raw}", header=f"id,phone,start,{column}")
    )
    assert getattr(parsed, column) == expected


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"phone": "555-01"}, "phone '555-01' is not a valid phone number"),
        ({"phone": "(720) 555-012"}, "phone ***5012 is not a valid phone number"),
        ({"phone": ""}, "phone is missing"),
        ({"appointment_id": ""}, "appointment_id is missing"),
        ({"appointment_id": "X" * 65}, "appointment_id is longer than 64 characters"),
        ({"start": ""}, "start is missing"),
        ({"start": "2026-13-01 09:00"}, "is not YYYY-MM-DD HH:MM or an ISO 8601 local time"),
        ({"start": "02/30/2027 09:00"}, "is not YYYY-MM-DD HH:MM or an ISO 8601 local time"),
        ({"start": "tomorrow 9am"}, "is not YYYY-MM-DD HH:MM or an ISO 8601 local time"),
        ({"start": "2026-12-07"}, "start '2026-12-07' has no time of day"),
        ({"start": "2026-12-07 9:75"}, "is not YYYY-MM-DD HH:MM"),
        ({"start": "2026-12-07T09:00Z"}, "has UTC offset +00:00 but America/Denver is at -07:00"),
        ({"start": "2026-12-07T09:00-05:00"}, "give the clinic's local time without an offset"),
        ({"start": "2027-03-14 02:30"}, "does not exist in America/Denver"),
        ({"start": "2026-11-01 01:30"}, "happens twice in America/Denver"),
        ({"status": "done"}, "status 'done' is not scheduled or cancelled"),
        ({"treatment": "oral"}, "treatment 'oral' is not iv or nasal"),
        ({"language": "fr"}, "language 'fr' is not en or es"),
        ({"duration_minutes": "0"}, "duration_minutes '0' is not a whole number of minutes"),
        ({"duration_minutes": "-30"}, "from 1 to 600"),
        ({"duration_minutes": "601"}, "from 1 to 600"),
        ({"duration_minutes": "1.5"}, "from 1 to 600"),
        ({"duration_minutes": "an hour"}, "from 1 to 600"),
        ({"patient_name": "N" * 121}, "patient_name is longer than 120 characters"),
    ],
)
def test_a_bad_row_is_reported_with_its_line_and_reason(values, reason):
    text = csv_of(row("A-1"), row("A-2", **values), row("A-3"))
    rows, problems = parse_schedule_csv(text, DENVER)
    assert [p.line for p in problems] == [3]
    assert reason in problems[0].message
    assert [r.external_id for r in rows] == ["A-1", "A-3"]


@pytest.mark.parametrize(
    ("header", "values", "reason"),
    [
        ("date,time", "03/14/2027,2:30 AM", "03/14/2027 2:30 AM does not exist in America/Denver"),
        ("date,time", "11/01/2026,1:30 AM", "11/01/2026 1:30 AM happens twice in America/Denver"),
        ("date,time", "02/30/2027,9:00 AM", "date '02/30/2027' is not a real date"),
        ("date,time", "30.11.2026,9:00 AM", "date '30.11.2026' is not YYYY-MM-DD or MM/DD/YYYY"),
        ("date,time", "12/07/2026 10:00,9:00", "has a time in it"),
        ("date,time", "12/07/2026,9:75 AM", "time '9:75 AM' is not a real time of day"),
        ("date,time", "12/07/2026,13:00 PM", "with AM/PM the hour is 1 to 12"),
        ("date,time", "12/07/2026,noon", "time 'noon' is not HH:MM or h:mm AM/PM"),
        ("date,time", ",9:00 AM", "date is missing"),
        ("date,time", "12/07/2026,", "time is missing"),
        ("date,time", ",", "date and time are missing"),
    ],
)
def test_date_and_time_columns_report_what_is_wrong(header, values, reason):
    text = csv_of(
        "A-1,7205550123,12/07/2026,9:00 AM",
        f"A-2,7205550123,{values}",
        header=f"id,phone,{header}",
    )
    ((line, message),) = problems_of(text)
    assert line == 3 and reason in message


def test_an_iso_offset_settles_which_fall_back_hour_is_meant():
    text = csv_of(
        "A-1,7205550123,2026-11-01T01:30-06:00",
        "A-2,7205550123,2026-11-01T01:30-07:00",
        header="id,phone,start",
    )
    rows, problems = parse_schedule_csv(text, DENVER)
    assert problems == []
    assert [r.starts_at for r in rows] == [
        datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
    ]


def test_every_problem_on_one_row_is_reported():
    text = csv_of(row("A-1", phone="12", status="done", treatment="oral", start="2026-12-07"))
    assert [message.split(" ")[0] for _, message in problems_of(text)] == [
        "phone",
        "start",
        "status",
        "treatment",
    ]
    assert {line for line, _ in problems_of(text)} == {2}


def test_a_duplicate_appointment_id_makes_both_lines_invalid():
    text = csv_of(row("A-1"), row("A-2"), row("A-1", start=f"{local_day(31)} 09:00"))
    rows, problems = parse_schedule_csv(text, DENVER)
    assert [r.external_id for r in rows] == ["A-2"]
    assert [(p.line, p.message) for p in problems] == [
        (2, "appointment_id 'A-1' is on more than one line (2, 4)"),
        (4, "appointment_id 'A-1' is on more than one line (2, 4)"),
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,start", "missing required column: phone (or mobile, cell)"),
        ("phone,start", "missing required column: appointment_id (or id, appt_id)"),
        ("id,phone", "missing required column: start (or date and time)"),
        ("id,phone,date", "missing required column: time (the date column needs one)"),
        ("id,phone,time", "missing required column: date (the time column needs one)"),
        ("name,notes", "missing required columns: appointment_id (or id, appt_id); phone"),
        ("id,phone,start,date,time", "give either a start column or date and time columns"),
        ("id,appointment_id,phone,start", "columns 'id' and 'appointment_id' both give"),
        ("id,phone,mobile,start", "columns 'phone' and 'mobile' both give phone"),
    ],
)
def test_a_missing_or_doubled_column_is_one_file_level_problem(header, message):
    parsed = read_schedule_csv(csv_of("A-1,7205550123,2026-12-07 09:00", header=header), DENVER)
    assert parsed.rows == [] and not parsed.readable
    (problem,) = parsed.problems
    assert problem.line == 1 and problem.whole_file
    assert message in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", ",,,\n"])
def test_an_empty_file_is_a_file_level_problem(text):
    assert problems_of(text) == [(1, "the file is empty: its first line must name the columns")]


def test_an_excel_export_with_bom_crlf_blank_lines_and_quoted_commas_is_read():
    parsed = read_schedule_csv((FIXTURES / "schedule_excel.csv").read_bytes(), DENVER)
    assert parsed.problems == []
    assert parsed.ignored_columns == ["Notes"]
    # Lines count physically: blank lines and a quoted value spanning two lines included.
    assert [(r.line, r.external_id, r.patient_name, r.phone) for r in parsed.rows] == [
        (3, "X-1", "Doe, Jane", "+17205550151"),
        (6, "X-2", "Smith, John", "+17205550152"),
        (8, "X-3", "Ann Lee", "+17205550153"),
    ]
    assert parsed.rows[1].starts_at == datetime(2026, 12, 8, 21, 45, tzinfo=UTC)


def test_a_bom_in_a_text_source_is_ignored():
    assert only_row("\ufeffid,phone,start\nA-1,7205550123,2026-12-07 09:00\n").external_id == "A-1"


def test_a_value_with_an_unquoted_comma_is_reported_not_misread():
    text = csv_of("A-1,Doe, Jane,7205550123,2026-12-07 09:00", header="id,name,phone,start")
    assert problems_of(text) == [
        (
            2,
            "5 values but the header names 4 columns (a value containing a comma must be in "
            "double quotes)",
        )
    ]


@pytest.mark.parametrize(
    "data",
    [
        (FIXTURES / "schedule_latin1.csv").read_bytes(),
        "id,phone,start\nA-1,7205550123,2026-12-07 09:00\n".encode("utf-16"),
    ],
)
def test_a_file_that_is_not_utf8_is_refused_as_a_whole(data):
    parsed = read_schedule_csv(data, DENVER)
    assert parsed.rows == [] and not parsed.readable
    (problem,) = parsed.problems
    assert "not UTF-8" in problem.message and "CSV UTF-8" in problem.message


def test_a_non_utf8_byte_is_reported_on_its_line():
    assert problems_of((FIXTURES / "schedule_latin1.csv").read_bytes())[0][0] == 2


def test_validate_rows_takes_api_style_values():
    rows, problems = validate_rows(
        [
            (
                1,
                {
                    "appointment_id": "A-1",
                    "phone": "+17205550123",
                    "start": "2026-12-07T09:00",
                    "duration_minutes": 90,
                    "sms_consent": False,
                    "patient_name": None,
                },
            ),
            (2, {"appointment_id": "A-2", "phone": "+17205550123"}),
        ],
        DENVER,
    )
    (parsed,) = rows
    assert (parsed.duration_minutes, parsed.sms_consent, parsed.patient_name) == (90, False, None)
    assert [(p.line, p.message) for p in problems] == [(2, "start is missing")]


def test_validate_rows_uses_the_region_for_national_numbers():
    rows, _ = validate_rows(
        [(1, {"appointment_id": "A-1", "phone": "0612345678", "start": "2026-12-07 09:00"})],
        DENVER,
        region="NL",
    )
    assert rows[0].phone == "+31612345678"


def test_progress_hears_every_row():
    heard: list[int] = []
    text = csv_of(*(row(f"A-{n}") for n in range(1234)))
    read_schedule_csv(text, DENVER, progress=heard.append)
    assert sum(heard) == 1234


# Writing: on the test database, through the import command.


@pytest.fixture
def runner(database_url: str) -> CliRunner:
    """Return a CLI runner on the test database with the console sender."""
    return CliRunner(
        env={"DATABASE_URL": database_url, "SMS_BACKEND": "console", "TWILIO_AUTH_TOKEN": ""}
    )


@pytest.fixture
def load(runner: CliRunner, clinic: dict[str, Any], tmp_path: Path):
    """Return load(text_or_bytes, *flags): run `clinicbot import` on it for the test clinic."""
    counter = iter(range(1_000_000))

    def load(content: str | bytes, *flags: str) -> Result:
        path = tmp_path / f"schedule-{next(counter)}.csv"
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return runner.invoke(main, ["import", str(path), "--clinic", clinic["slug"], *flags])

    return load


def dump(svc: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of the tables an import may touch, in id order."""
    tables = Base.metadata.tables
    with svc.engine.connect() as connection:
        return {
            name: [
                tuple(r)
                for r in connection.execute(select(tables[name]).order_by(tables[name].c.id))
            ]
            for name in DUMPED
        }


def appointments(svc: Any) -> dict[str, Appointment]:
    """Return the stored appointments by the clinic's id."""
    with transaction(svc.sessions) as session:
        return {a.external_id: a for a in session.scalars(select(Appointment))}


def patients(svc: Any) -> dict[str, Patient]:
    """Return the stored patients by phone."""
    with transaction(svc.sessions) as session:
        return {p.phone: p for p in session.scalars(select(Patient))}


def consent_events(svc: Any) -> list[tuple[str, str, str]]:
    """Return (phone, change, source) for each consent event, oldest first."""
    with transaction(svc.sessions) as session:
        return [
            (phone, change, source)
            for phone, change, source in session.execute(
                select(Patient.phone, ConsentEvent.change, ConsentEvent.source)
                .join(Patient, ConsentEvent.patient_id == Patient.id)
                .order_by(ConsentEvent.id)
            )
        ]


def pending_starts(svc: Any, external_id: str) -> set[datetime]:
    """Return the planned starts of an appointment's pending reminders."""
    with transaction(svc.sessions) as session:
        return set(
            session.scalars(
                select(Reminder.planned_start)
                .join(Appointment, Reminder.appointment_id == Appointment.id)
                .where(
                    Appointment.external_id == external_id,
                    Reminder.status == ReminderStatus.PENDING,
                )
            )
        )


# Every problem in fixtures/schedule_bad.csv, in the order printed: line and words of the reason.
BAD_SAMPLE_PROBLEMS = [
    (3, "phone '555-01' is not a valid phone number"),
    (4, "date '02/30/2027' is not a real date"),
    (5, "time '9:75 AM' is not a real time of day"),
    (6, "status 'done' is not scheduled or cancelled"),
    (7, "treatment 'oral' is not iv or nasal"),
    (8, "language 'fr' is not en or es"),
    (9, "sms_consent 'maybe' is not yes or no"),
    (10, "duration_minutes '0' is not a whole number of minutes from 1 to 600"),
    (11, "appointment_id 'B-10' is on more than one line (11, 12)"),
    (12, "appointment_id 'B-10' is on more than one line (11, 12)"),
    (13, "phone is missing"),
    (14, "03/14/2027 2:30 AM does not exist in America/Denver"),
    (15, "11/01/2026 1:30 AM happens twice in America/Denver"),
    (16, "phone '12' is not a valid phone number"),
    (16, "status 'postponed' is not scheduled or cancelled"),
]

SERIES = csv_of(
    row("A-1"),
    row("A-2", start=f"{local_day(32)} 09:00"),
    row("A-3", start=f"{local_day(34)} 09:00"),
    row("B-1", patient_name="María López", phone="303.555.0142", language="es", treatment="nasal"),
)


def test_import_adds_patients_appointments_and_clinic_consent(load, svc):
    result = load(SERIES)
    assert result.exit_code == 0, result.output
    assert "imported 4 rows into denver: 4 new, 0 moved" in result.stdout
    stored = patients(svc)
    assert set(stored) == {"+17205550123", "+13035550142"}
    maria = stored["+13035550142"]
    assert (maria.name, maria.language, maria.opted_out) == ("María López", "es", False)
    assert (maria.consent_method, maria.consent_number) == ("clinic", "+13035550142")
    assert maria.consent_at is not None
    stored_appointments = appointments(svc)
    assert stored_appointments["B-1"].treatment == "nasal"
    expected = datetime.fromisoformat(f"{local_day(30)} 09:00").replace(tzinfo=DENVER)
    assert stored_appointments["A-1"].starts_at == expected.astimezone(UTC)
    assert consent_events(svc) == [
        ("+17205550123", "consent", "clinic_import"),
        ("+13035550142", "consent", "clinic_import"),
    ]
    assert pending_starts(svc, "A-1") == {expected.astimezone(UTC)}


def test_loading_the_same_file_twice_changes_nothing(load, svc):
    assert load(SERIES).exit_code == 0
    before = dump(svc)
    again = load(SERIES)
    assert again.exit_code == 0, again.output
    assert dump(svc) == before
    assert "0 new, 0 moved, 0 cancelled, 0 updated, 4 unchanged, 0 invalid" in again.stdout
    assert "patients: 0 new, 0 updated; consent: 0 recorded, 0 withdrawn" in again.stdout


def test_applying_the_same_rows_twice_in_one_session_writes_nothing(svc, clinic):
    rows, _ = parse_schedule_csv(SERIES, DENVER)
    now = datetime.now(UTC)
    with transaction(svc.sessions) as session:
        apply_schedule(session, session.get(Clinic, clinic["id"]), rows, now)
    before = dump(svc)
    with transaction(svc.sessions) as session:
        report = apply_schedule(session, session.get(Clinic, clinic["id"]), rows, now)
        assert not session.dirty and not session.new
    assert dump(svc) == before
    assert report.counts["unchanged"] == 4 and not report.changed


def test_a_new_time_moves_the_appointment_and_its_reminders(load, svc):
    assert load(SERIES).exit_code == 0
    old = appointments(svc)["A-2"].starts_at
    moved = SERIES.replace(f"{local_day(32)} 09:00", f"{local_day(33)} 14:30")
    result = load(moved)
    assert result.exit_code == 0, result.output
    assert "0 new, 1 moved, 0 cancelled, 0 updated, 3 unchanged" in result.stdout
    new_start = datetime.fromisoformat(f"{local_day(33)} 14:30").replace(tzinfo=DENVER)
    assert appointments(svc)["A-2"].starts_at == new_start.astimezone(UTC) != old
    assert pending_starts(svc, "A-2") == {new_start.astimezone(UTC)}


def test_status_cancelled_cancels_the_appointment_and_its_reminders(load, svc):
    assert load(SERIES).exit_code == 0
    assert pending_starts(svc, "A-3")
    cancelled = csv_of(
        row("A-1"),
        row("A-2", start=f"{local_day(32)} 09:00"),
        row("A-3", start=f"{local_day(34)} 09:00", status="canceled"),
        row(
            "B-1",
            patient_name="María López",
            phone="303.555.0142",
            language="es",
            treatment="nasal",
        ),
    )
    result = load(cancelled)
    assert result.exit_code == 0, result.output
    assert "0 new, 0 moved, 1 cancelled, 0 updated, 3 unchanged" in result.stdout
    assert appointments(svc)["A-3"].status == "cancelled"
    assert pending_starts(svc, "A-3") == set()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"duration_minutes": "90"}, "duration 60 -> 90 min"),
        ({"treatment": "nasal"}, "treatment iv -> nasal"),
        ({"phone": "720-555-0199"}, "phone ***0123 -> ***0199"),
    ],
)
def test_other_changes_are_reported_as_updated(svc, clinic, change, detail):
    first, _ = parse_schedule_csv(csv_of(row("A-1")), DENVER)
    second, _ = parse_schedule_csv(csv_of(row("A-1", **change)), DENVER)
    with transaction(svc.sessions) as session:
        found = session.get(Clinic, clinic["id"])
        apply_schedule(session, found, first, datetime.now(UTC))
        plan = plan_changes(session, found, second)
        report = apply_schedule(session, found, second, datetime.now(UTC))
    assert plan.counts == report.counts
    (updated,) = report.updated
    assert updated.details == (detail,) and report.moved == []


def test_a_changed_phone_moves_the_appointment_to_the_other_patient(load, svc):
    assert load(csv_of(row("A-1"), row("A-2"))).exit_code == 0
    assert load(csv_of(row("A-1"), row("A-2", phone="720-555-0199"))).exit_code == 0
    stored = patients(svc)
    by_id = {p.id: p.phone for p in stored.values()}
    assert {k: by_id[a.patient_id] for k, a in appointments(svc).items()} == {
        "A-1": "+17205550123",
        "A-2": "+17205550199",
    }


def test_every_invalid_row_is_reported_and_nothing_is_imported(load, svc):
    before = dump(svc)
    result = load((FIXTURES / "schedule_bad.csv").read_bytes())
    assert result.exit_code == 1
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(reported) == len(BAD_SAMPLE_PROBLEMS)
    for printed, (line, words) in zip(reported, BAD_SAMPLE_PROBLEMS, strict=True):
        assert printed.startswith(f"line {line}: ") and words in printed, printed
    assert "14 invalid rows; nothing was imported" in result.stderr
    assert dump(svc) == before


def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest(load, svc):
    result = load((FIXTURES / "schedule_bad.csv").read_bytes(), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "line 3: phone" in result.stderr
    assert "imported 2 rows into denver (invalid rows skipped): 2 new" in result.stdout
    assert "14 invalid" in result.stdout
    assert set(appointments(svc)) == {"B-1", "B-16"}
    # sms_consent=no: the patient is stored without consent.
    assert patients(svc)["+17205550146"].consent_at is None


def test_dry_run_prints_the_table_and_writes_nothing(load, svc):
    assert load(SERIES).exit_code == 0
    before = dump(svc)
    changed = csv_of(
        row("A-1"),
        row("A-2", start=f"{local_day(33)} 09:00"),
        row("A-3", start=f"{local_day(34)} 09:00", status="cancelled"),
        row("B-1", patient_name="María López", phone="303.555.0142", language="es", treatment="iv"),
        row("C-1", phone="720-555-0177"),
        row("C-2", phone="12"),
    )
    result = load(changed, "--dry-run")
    assert result.exit_code == 1  # an invalid row, and no --skip-invalid
    assert dump(svc) == before
    table = result.stdout
    for outcome, count in [
        ("new", 1),
        ("moved", 1),
        ("cancelled", 1),
        ("updated", 1),
        ("unchanged", 1),
        ("invalid", 1),
    ]:
        assert any(line.split() == [outcome, str(count)] for line in table.splitlines()), outcome
    assert "C-1" in table and "A-2" in table and "treatment nasal -> iv" in table
    assert "invalid" in table and "phone '12' is not a valid phone number" in table
    assert "dry run, nothing written" in table
    assert load(changed, "--dry-run", "--skip-invalid").exit_code == 0
    assert dump(svc) == before


def test_a_file_that_is_not_utf8_imports_nothing_even_with_skip_invalid(load, svc):
    before = dump(svc)
    result = load((FIXTURES / "schedule_latin1.csv").read_bytes(), "--skip-invalid")
    assert result.exit_code == 1
    assert "line 2: the file is not UTF-8 text" in result.stderr
    assert "nothing was imported" in result.stderr
    assert dump(svc) == before


def test_a_missing_column_imports_nothing_even_with_skip_invalid(load, svc):
    result = load("id,start\nA-1,2026-12-07 09:00\n", "--skip-invalid")
    assert result.exit_code == 1
    assert "line 1: missing required column: phone" in result.stderr
    assert appointments(svc) == {}


def test_unknown_columns_are_named_once_as_a_warning(load):
    header = HEADER + ",notes,Room"
    result = load(csv_of(row("A-1") + ",call first,3", row("A-2") + ",,", header=header))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: ignoring unknown columns: notes, Room") == 1


def test_an_unknown_clinic_is_a_usage_error(runner, database_url, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(csv_of(row("A-1")))
    result = runner.invoke(main, ["import", str(path), "--clinic", "nowhere"])
    assert result.exit_code == 2
    assert "no clinic 'nowhere'" in result.output


@pytest.mark.parametrize("consented_before", [True, False])
def test_an_opted_out_patient_stays_opted_out_after_an_import_with_consent(
    load, svc, clinic, consented_before
):
    stopped = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with transaction(svc.sessions) as session:
        session.add(
            Patient(
                clinic_id=clinic["id"],
                phone="+17205550123",
                consent_at=stopped - timedelta(days=30) if consented_before else None,
                consent_method="intake_form" if consented_before else None,
                opted_out=True,
                opted_out_at=stopped,
            )
        )
    result = load(csv_of(row("A-1") + ",yes", header=HEADER + ",sms_consent"))
    assert result.exit_code == 0, result.output
    patient = patients(svc)["+17205550123"]
    assert patient.opted_out and patient.opted_out_at == stopped
    assert not patient.may_receive_scheduled_texts
    assert (patient.consent_method == "intake_form") is consented_before
    events = consent_events(svc)
    assert events == ([] if consented_before else [("+17205550123", "consent", "clinic_import")])


def test_consent_no_withdraws_and_yes_records_it_again_once(load, svc):
    header = HEADER + ",sms_consent"
    yes = csv_of(row("A-1") + ",yes", header=header)
    no = csv_of(row("A-1") + ",no", header=header)
    assert load(yes).exit_code == 0
    withdrawn = load(no)
    assert "consent: 0 recorded, 1 withdrawn" in withdrawn.stdout
    assert patients(svc)["+17205550123"].consent_at is None
    assert load(no).exit_code == 0
    assert load(yes).exit_code == 0
    assert load(yes).exit_code == 0
    assert [change for _, change, _ in consent_events(svc)] == ["consent", "withdrawn", "consent"]
    assert patients(svc)["+17205550123"].consent_method == "clinic"


def test_a_blank_name_or_language_keeps_what_is_stored(load, svc):
    assert load(csv_of(row("A-1", language="es"))).exit_code == 0
    header = "appointment_id,phone,start"
    result = load(csv_of(f"A-1,720-555-0123,{local_day(30)} 09:00", header=header))
    assert "1 unchanged" in result.stdout and "patients: 0 new, 0 updated" in result.stdout
    patient = patients(svc)["+17205550123"]
    assert (patient.name, patient.language) == ("Jane Doe", "es")


def test_the_demo_sample_schedule_loads_cleanly(load, svc):
    result = load(DEMO_CSV.read_bytes())
    assert result.exit_code == 0, result.output
    assert "21 new" in result.stdout and "patients: 8 new" in result.stdout
    stored = patients(svc)
    assert {p.language for p in stored.values()} == {"en", "es"}
    assert sum(p.consent_at is None for p in stored.values()) == 1
    stored_appointments = appointments(svc)
    assert {a.treatment for a in stored_appointments.values()} == {"iv", "nasal"}
    assert [k for k, a in stored_appointments.items() if a.status == "cancelled"] == ["DKC-1041"]
    series = sorted(a.starts_at for k, a in stored_appointments.items() if k <= "DKC-1006")
    assert [s.astimezone(DENVER).strftime("%a %H:%M") for s in series] == [
        "Mon 09:00",
        "Wed 09:00",
        "Fri 09:00",
    ] * 2


def test_a_long_file_shows_progress_on_stderr(load, svc):
    text = csv_of(*(row(f"A-{n}", phone=f"720-555-{n % 100:04d}") for n in range(2_100)))
    result = load(text)
    assert result.exit_code == 0, result.output
    assert "checking rows" in result.stderr
    assert "2100 new" in result.stdout
    assert len(appointments(svc)) == 2_100
    assert len(patients(svc)) == 100


def test_an_import_reads_and_writes_in_bulk_not_row_by_row(svc, clinic):
    rows, _ = parse_schedule_csv(
        csv_of(*(row(f"A-{n}", phone=f"720-555-{n % 50:04d}") for n in range(500))), DENVER
    )
    statements: list[str] = []
    engine = svc.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with transaction(svc.sessions) as session:
            apply_schedule(session, session.get(Clinic, clinic["id"]), rows, datetime.now(UTC))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Reminder writes are counted by the planner's own tests; it reads appointments once.
    # Patients are read twice: to compare with the file, then the new ones' ids.
    ours = [s for s in statements if "reminders" not in s]
    assert sum("FROM patients" in s for s in ours) == 2
    assert sum("FROM appointments" in s for s in ours) == 2
    assert len(ours) < 12


# A file import read and written a chunk at a time loads what the list-of-rows path loads.

CHUNK_NOW = datetime.now(UTC).replace(microsecond=0)
CHUNK_HEADER = (
    "appointment_id,patient_name,phone,start,duration_minutes,status,treatment,language,sms_consent"
)


def chunk_line(external_id: str, patient: int, day: int, **values: str) -> str:
    """Return one line for HEADER: patient's phone and name, a visit day days ahead."""
    fields = {
        "appointment_id": external_id,
        "patient_name": f"Patient {patient}",
        "phone": f"(720) 555-{patient:04d}",
        "start": f"{local_day(day)} {9 + patient % 8:02d}:30",
        "duration_minutes": "60",
        "status": "scheduled",
        "treatment": "iv" if patient % 3 else "nasal",
        "language": "es" if patient % 4 == 0 else "en",
        "sms_consent": "yes",
    }
    fields.update(values)
    return ",".join(fields[name] for name in CHUNK_HEADER.split(","))


def first_file() -> str:
    """Return 60 rows for 12 patients, each patient's rows spread over several chunks."""
    return csv_of(
        *(chunk_line(f"A-{n}", n % 12, 20 + n // 12 * 2) for n in range(60)), header=CHUNK_HEADER
    )


def second_file() -> str:
    """Return the first file with moves, cancellations, a phone change, consent and names."""
    lines = []
    for n in range(60):
        values: dict[str, str] = {}
        if n % 7 == 0:
            values["start"] = f"{local_day(21 + n // 12 * 2)} 08:00"  # moved
        if n % 11 == 0:
            values["status"] = "cancelled"
        if n == 59:
            values["sms_consent"] = "no"  # the patient's last row, far from the first
        if n == 13:
            values["patient_name"] = "Renamed"
        if n == 17:
            values["duration_minutes"] = "90"  # updated
        patient = 12 if n == 30 else n % 12  # moved to a new patient
        lines.append(chunk_line(f"A-{n}", patient, 20 + n // 12 * 2, **values))
    lines += [chunk_line(f"B-{n}", 20 + n % 5, 40 + n) for n in range(15)]
    return csv_of(*lines, header=CHUNK_HEADER)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Return the imported tables without surrogate ids, which differ between attempts."""
    phones = dict(session.execute(select(Patient.id, Patient.phone)).all())
    externals = dict(session.execute(select(Appointment.id, Appointment.external_id)).all())
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name in DUMPED:
        table = Base.metadata.tables[name]
        rows = []
        for values in session.execute(select(table).order_by(table.c.id)).mappings():
            named = dict(values)
            named.pop("id")
            if "patient_id" in named:
                named["patient_id"] = phones[named["patient_id"]]
            if "appointment_id" in named:
                named["appointment_id"] = externals[named["appointment_id"]]
            rows.append(tuple(sorted(named.items(), key=lambda item: item[0])))
        found[name] = rows
    return found


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every file of these tests span several read, lookup and write chunks."""
    monkeypatch.setattr(importer, "IMPORT_CHUNK", 7)
    monkeypatch.setattr(importer, "WRITE_CHUNK", 5)


def both_ways(svc: Any, clinic_id: int, text: str) -> tuple[Any, Any]:
    """Load text by rows and by file, each in a transaction rolled back; return both snapshots."""
    snapshots = []
    for by_file in (False, True):
        with svc.sessions() as session:
            clinic = session.get_one(Clinic, clinic_id)
            if by_file:
                check = check_schedule_csv(text.encode(), DENVER)
                assert check.problems == []
                report = apply_schedule_csv(session, clinic, text.encode(), check, CHUNK_NOW)
            else:
                rows, problems = parse_schedule_csv(text, DENVER)
                assert problems == []
                report = apply_schedule(session, clinic, rows, CHUNK_NOW)
            snapshots.append((report.counts, report.summary(), snapshot(session)))
            session.rollback()
    return snapshots[0], snapshots[1]


def test_a_chunked_file_import_writes_what_the_rows_path_writes(svc, clinic, small_chunks):
    by_rows, by_file = both_ways(svc, clinic["id"], first_file())
    assert by_rows[2]["reminders"] and by_rows[2]["consent_events"]
    assert by_file == by_rows

    # With the first file stored: moves, cancellations, a new patient and consent withdrawn.
    with transaction(svc.sessions) as session:
        rows, _ = parse_schedule_csv(first_file(), DENVER)
        apply_schedule(session, session.get_one(Clinic, clinic["id"]), rows, CHUNK_NOW)
    by_rows, by_file = both_ways(svc, clinic["id"], second_file())
    counts = by_rows[0]
    assert counts["moved"] and counts["cancelled"] and counts["updated"] and counts["new"]
    assert any(("status", "cancelled") in r for r in by_rows[2]["reminders"])
    assert by_file == by_rows

    # Loading the same file again changes nothing.
    _, again = both_ways(svc, clinic["id"], first_file())
    assert again[0]["unchanged"] == 60 and "0 new" in again[1]


def test_a_bad_row_in_the_last_chunk_imports_nothing(load, svc, small_chunks):
    before = dump(svc)
    text = first_file() + chunk_line("Z-1", 3, 30, start="2027-03-14 02:30") + "\n"
    result = load(text)
    assert result.exit_code == 1
    assert "line 62: 2027-03-14 02:30 does not exist in America/Denver" in result.stderr
    assert dump(svc) == before


def test_a_failure_while_writing_a_late_chunk_rolls_back_every_chunk(
    load, svc, small_chunks, monkeypatch
):
    before = dump(svc)
    real = importer._new_appointments
    calls = iter(range(100))

    def failing(*args: Any) -> Any:
        # Raised from inside the rows being written (a COPY under way on PostgreSQL).
        if next(calls) == 6:
            yield next(real(*args))
            raise RuntimeError("the database went away")
        yield from real(*args)

    monkeypatch.setattr(importer, "_new_appointments", failing)
    result = load(first_file())
    assert isinstance(result.exception, RuntimeError)
    assert dump(svc) == before


def test_skip_invalid_leaves_out_an_id_repeated_in_a_later_chunk(load, svc, small_chunks):
    text = first_file() + chunk_line("A-2", 30, 50, sms_consent="no") + "\n"
    result = load(text, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "line 4: appointment_id 'A-2' is on more than one line (4, 62)" in result.stderr
    with transaction(svc.sessions) as session:
        stored = set(session.scalars(select(Appointment.external_id)))
        phones = set(session.scalars(select(Patient.phone)))
    assert "A-2" not in stored and len(stored) == 59
    # The repeated row's patient is not created: its only row was left out.
    assert "+17205550030" not in phones


def test_a_check_counts_valid_rows_and_phones_without_keeping_rows():
    text = csv_of(*(row(f"A-{n}", phone=f"720-555-{n % 50:04d}") for n in range(500)))
    check = check_schedule_csv(text, DENVER)
    assert check.valid_rows == 500 and len(check.wishes) == 50


def test_a_bulk_insert_stores_what_converting_each_value_stores(svc):
    """Bulk rows (COPY on PostgreSQL) are converted by their types, remembered conversions
    included, and get their columns' Python-side defaults; a naive time is refused."""
    from sqlalchemy import Column, Integer, MetaData, String, Table

    from schedules.driver_sql import CHUNK, BulkInsert
    from schedules.models import UTCDateTime

    table = Table(
        "bulk_insert_times",
        MetaData(),
        Column("n", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime()),
        Column("kind", String(8), default="planned"),
    )
    bulk = BulkInsert(table, ("n", "at"))
    moment = datetime(2027, 3, 14, 9, 30, tzinfo=UTC)
    values = [moment, moment.astimezone(DENVER), moment + timedelta(minutes=1), moment]
    # More rows than one executemany takes, given as a generator.
    many = CHUNK + 5
    rows = ({"n": n, "at": values[n % 4]} for n in range(many))
    table.create(svc.engine)
    try:
        remembered: dict[str, dict[Any, Any]] = {"at": {}}
        with svc.engine.begin() as connection:
            bulk.write(connection, rows, remembered)
            bulk.write(connection, iter(()), remembered)
            stored = connection.execute(
                select(table.c.at, table.c.kind).where(table.c.n < 4).order_by(table.c.n)
            ).all()
            count = connection.scalar(select(func.count()).select_from(table))
        with svc.engine.begin() as connection, pytest.raises(ValueError, match="naive"):
            bulk.write(connection, [{"n": many, "at": datetime(2027, 3, 14)}], remembered)
        with svc.engine.connect() as connection:
            after_refused = connection.scalar(select(func.count()).select_from(table))
    finally:
        table.drop(svc.engine)
    assert stored == [
        (moment, "planned"),
        (moment, "planned"),
        (moment + timedelta(minutes=1), "planned"),
        (moment, "planned"),
    ]
    assert count == many and after_refused == many
    assert len(remembered["at"]) == 2


# A file import reads the file from its path, a piece at a time.


def test_a_path_loads_what_its_bytes_load(svc, clinic, small_chunks, tmp_path):
    path = tmp_path / "schedule.csv"
    path.write_text(first_file(), encoding="utf-8")
    snapshots = []
    for source in (path.read_bytes(), path):
        with svc.sessions() as session:
            check = check_schedule_csv(source, DENVER)
            assert check.problems == [] and check.valid_rows == 60
            report = apply_schedule_csv(
                session, session.get_one(Clinic, clinic["id"]), source, check, CHUNK_NOW
            )
            snapshots.append((report.summary(), snapshot(session)))
            session.rollback()
    assert snapshots[0] == snapshots[1]


@pytest.mark.parametrize("piece", [1, 3, 7, 1 << 20])
def test_a_path_that_is_not_utf8_is_refused_with_the_line_of_the_bad_byte(
    monkeypatch, tmp_path, piece
):
    """However the file is cut into pieces, even inside a character, the line is the same."""
    monkeypatch.setattr(importer, "UTF8_CHECK_BYTES", piece)
    data = (
        "\ufeffid,phone,start\nA-1,7205550123,2026-12-07 09:00\nA-2,7205550124,2026-12-07 10:00\n"
    ).encode() + "A-3 Peña,7205550125,2026-12-07 11:00\n".encode("latin-1")
    path = tmp_path / "schedule.csv"
    path.write_bytes(data)
    check = check_schedule_csv(path, DENVER)
    (problem,) = check.problems
    assert not check.readable and problem.line == 4
    assert "byte 0xf1" in problem.message and "CSV UTF-8" in problem.message
    assert problem == check_schedule_csv(data, DENVER).problems[0]
    # A character cut between two pieces is not a problem.
    path.write_bytes(data.replace("Peña".encode("latin-1"), "Peña".encode()))
    assert check_schedule_csv(path, DENVER).problems == []


def test_a_file_changed_after_its_check_writes_nothing(svc, clinic, small_chunks, tmp_path):
    path = tmp_path / "schedule.csv"
    path.write_text(first_file(), encoding="utf-8")
    check = check_schedule_csv(path, DENVER)
    before = dump(svc)
    # A valid file still, but not the one checked: its rows were never checked.
    path.write_text(first_file().replace("A-5,", "A-7,"), encoding="utf-8")
    with pytest.raises(importer.FileChanged), transaction(svc.sessions) as session:
        apply_schedule_csv(session, session.get_one(Clinic, clinic["id"]), path, check, CHUNK_NOW)
    assert dump(svc) == before
    # Changed while its rows are read again: refused after the last row, before any commit.
    with pytest.raises(importer.FileChanged):
        list(importer._rows_to_load(path, check))


def test_import_reads_standard_input(runner, clinic, svc):
    result = runner.invoke(main, ["import", "-", "--clinic", clinic["slug"]], input=SERIES.encode())
    assert result.exit_code == 0, result.output
    assert "imported" in result.stdout and len(appointments(svc)) > 0


def test_ids_whose_hashes_collide_are_not_reported_as_repeated(monkeypatch):
    """The check keeps each id's hash only; ids that just hash alike are read again."""
    monkeypatch.setattr(importer, "hash", lambda text: len(text), raising=False)
    text = csv_of(row("A-1"), row("A-2"), row("A-3"), row("B-10"), row("A-2"))
    check = check_schedule_csv(text, DENVER)
    assert [(p.line, p.message) for p in check.problems] == [
        (3, "appointment_id 'A-2' is on more than one line (3, 6)"),
        (6, "appointment_id 'A-2' is on more than one line (3, 6)"),
    ]
    assert check.valid_rows == 3 and check.duplicated == {"A-2"}


@pytest.mark.sqlite
def test_an_import_gives_sqlite_back_its_page_cache(svc, clinic):
    check = check_schedule_csv(first_file(), DENVER)
    with svc.sessions() as session:
        before = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
        seen: list[int] = []
        real = importer._replan

        def replan(*args: Any) -> None:
            seen.append(session.connection().exec_driver_sql("PRAGMA cache_size").scalar())
            real(*args)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(importer, "_replan", replan)
            apply_schedule_csv(
                session, session.get_one(Clinic, clinic["id"]), first_file(), check, CHUNK_NOW
            )
        after = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
        session.rollback()
    assert seen == [-importer.IMPORT_CACHE_KIB] and after == before


def reminder_kinds(svc: Any, external_id: str) -> list[str]:
    """Return the kinds an appointment's reminders carry (merged ones apart), sorted."""
    with transaction(svc.sessions) as session:
        stored = session.scalars(
            select(Reminder.kinds)
            .join(Appointment, Reminder.appointment_id == Appointment.id)
            .where(Appointment.external_id == external_id)
        )
        return sorted(kind for kinds in stored for kind in kinds.split(","))


@pytest.mark.parametrize("keeps_first", [True, False], ids=["whole-file", "new-rows-only"])
def test_a_returning_patients_new_visit_gets_its_reminders(load, svc, keeps_first):
    assert load(csv_of(row("A-1"))).exit_code == 0
    assert reminder_kinds(svc, "A-1") == ["arrival", "checkin", "fasting"]
    booster = row("A-2", start=f"{local_day(44)} 09:00")
    result = load(csv_of(row("A-1"), booster) if keeps_first else csv_of(booster))
    assert result.exit_code == 0, result.output
    assert reminder_kinds(svc, "A-2") == ["arrival", "checkin", "fasting"]
    assert reminder_kinds(svc, "A-1") == ["arrival", "checkin", "fasting"]


def test_a_returning_patients_new_visit_gets_its_reminders_through_the_api_path(svc, clinic):
    for lines in ([row("A-1")], [row("A-1"), row("A-2", start=f"{local_day(44)} 09:00")]):
        rows, problems = parse_schedule_csv(csv_of(*lines), DENVER)
        assert problems == []
        with transaction(svc.sessions) as session:
            apply_schedule(session, session.get_one(Clinic, clinic["id"]), rows, datetime.now(UTC))
    assert reminder_kinds(svc, "A-2") == ["arrival", "checkin", "fasting"]


def checkins(svc: Any, external_id: str) -> list[tuple[str, str | None]]:
    """Return (status, reason) of an appointment's check-in reminders."""
    with transaction(svc.sessions) as session:
        return list(
            session.execute(
                select(Reminder.status, Reminder.status_reason)
                .join(Appointment, Reminder.appointment_id == Appointment.id)
                .where(Appointment.external_id == external_id, Reminder.kinds == "checkin")
            )
        )


def pending_on(svc: Any, day: str) -> list[str]:
    """Return the kinds of the reminders pending on one local day, sorted."""
    with transaction(svc.sessions) as session:
        stored = session.scalars(select(Reminder).where(Reminder.status == ReminderStatus.PENDING))
        return sorted(
            r.kinds for r in stored if r.due_at.astimezone(DENVER).date().isoformat() == day
        )


THREE_DAYS = [row(f"A-{n}", start=f"{local_day(10 + n)} 14:00") for n in (1, 2, 3)]


def test_a_text_the_daily_cap_skipped_goes_once_a_cancellation_makes_room(load, svc):
    assert load(csv_of(*THREE_DAYS)).exit_code == 0
    # A-1's check-in falls on A-2's day with A-2's fasting and arrival texts: one too many.
    assert checkins(svc, "A-1") == [("skipped", "daily cap")]
    cancelled = row("A-2", start=f"{local_day(12)} 14:00", status="cancelled")
    assert load(csv_of(THREE_DAYS[0], cancelled, THREE_DAYS[2])).exit_code == 0
    assert checkins(svc, "A-1") == [("pending", None)]


def test_a_visit_moved_next_to_others_makes_the_daily_cap_skip_a_stored_text(load, svc):
    far = row("A-3", start=f"{local_day(40)} 14:00")
    assert load(csv_of(THREE_DAYS[0], THREE_DAYS[1], far)).exit_code == 0
    # A-1's check-in shares its day with A-2's arrival: two texts, within the cap.
    assert checkins(svc, "A-1") == [("pending", None)]
    # A-3 moves next to them: its fasting text makes that day's third.
    assert load(csv_of(*THREE_DAYS)).exit_code == 0
    assert checkins(svc, "A-1") == [("skipped", "daily cap")]
    assert pending_on(svc, local_day(12)) == ["arrival", "fasting"]
