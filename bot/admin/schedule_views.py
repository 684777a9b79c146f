"""Staff pages for the schedule: a day's appointments, CSV upload, delivery counts, check-in trend.

Every query filters by the logged-in staff member's clinic; times are shown on the clinic's wall
clock. The upload page runs the same importer as `clinicbot import`: the preview writes nothing,
and the CSV travels back with the Apply form (compressed in a hidden field) so no upload is kept
on the server between the two steps.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from flask import abort, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.admin import audit, bp, require
from bot.admin.auth import Staff
from bot.services import services
from schedules.db import transaction
from schedules.importer import (
    Change,
    ImportReport,
    ScheduleFile,
    ScheduleRow,
    apply_schedule,
    plan_changes,
    read_schedule_csv,
)
from schedules.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Direction,
    Message,
    MessageStatus,
    Patient,
    Purpose,
    Reminder,
    ReminderKind,
    ReminderStatus,
    StaffRole,
)
from schedules.phones import DEFAULT_REGION
from schedules.reminders import LISTED_STATUS

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# The whole upload request; a file between the two limits still gets a friendly answer.
MAX_UPLOAD_REQUEST = 4 * MAX_UPLOAD_BYTES
MAX_DAYS = 14
DELIVERY_DAYS = 14
KINDS: tuple[str, ...] = tuple(k.value for k in ReminderKind)
KIND_LABELS = {"fasting": "Fasting", "arrival": "Arrival", "checkin": "Check-in"}
FAILED_REMINDER = frozenset({ReminderStatus.FAILED.value, ReminderStatus.UNKNOWN.value})
NOTIFYING = (Purpose.REMINDER.value, Purpose.PAGE.value)
DELIVERED = frozenset({MessageStatus.DELIVERED.value, MessageStatus.READ.value})
UNDELIVERED = frozenset(
    {MessageStatus.FAILED.value, MessageStatus.UNDELIVERED.value, MessageStatus.CANCELED.value}
)
NOT_HANDED_OVER = frozenset({MessageStatus.PENDING.value, MessageStatus.CLAIMED.value})
ERROR_MEANINGS = {
    20429: "too many requests (retried)",
    21211: "invalid phone number",
    21408: "sending to this region is not enabled",
    21608: "trial account: number not verified",
    21610: "patient replied STOP (opted out)",
    21614: "not a mobile number",
    21635: "landline",
    30001: "sender queue overflow",
    30003: "phone unreachable (may be temporary)",
    30005: "unknown or inactive number",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier",
    30008: "unknown carrier error",
}


@bp.before_app_request
def _room_for_schedules() -> None:
    """Let the upload pages take a 2 MB schedule before the CSRF check reads the form."""
    if request.endpoint in ("admin.upload", "admin.upload_apply"):
        request.max_content_length = MAX_UPLOAD_REQUEST
        request.max_form_memory_size = MAX_UPLOAD_REQUEST


def _staff() -> Staff:
    """Return the logged-in staff member (require() has checked there is one)."""
    staff: Staff = g.staff
    return staff


def _zone() -> ZoneInfo:
    """Return the staff member's clinic time zone."""
    return ZoneInfo(_staff().clinic_timezone)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Return the UTC instant a local day begins (after a daylight-saving gap if one is there)."""
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def clock(moment: datetime, zone: ZoneInfo) -> str:
    """Return a moment as the clinic's wall-clock time, e.g. 9:05 AM."""
    local = moment.astimezone(zone)
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def day_name(day: date) -> str:
    """Return a date as e.g. Tue Mar 3, 2026."""
    return f"{day:%a %b} {day.day}, {day.year}"


def when(moment: datetime, zone: ZoneInfo) -> str:
    """Return a moment as the clinic's local day and time, e.g. Tue Mar 3, 9:05 AM."""
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {clock(moment, zone)}"


def iso(moment: datetime, zone: ZoneInfo) -> str:
    """Return a moment as ISO 8601 with the clinic's offset, for <time datetime>."""
    return moment.astimezone(zone).isoformat(timespec="minutes")


def phone_display(number: str) -> str:
    """Return an E.164 number as people dial it: (720) 555-0123 at home, +44 20 ... abroad."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    home = phonenumbers.region_code_for_number(parsed) == DEFAULT_REGION
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)


# ---------------------------------------------------------------------------------------------
# Appointments


@dataclass(frozen=True)
class KindStatus:
    """What happened to one kind of reminder for one visit."""

    status: str
    reason: str | None
    note: str
    together_with: tuple[str, ...]


@dataclass
class VisitRow:
    """One appointment as the appointments page shows it."""

    appointment: Appointment
    patient: Patient
    local_start: datetime
    reach: str | None
    kinds: dict[str, KindStatus | None]


@dataclass
class DaySummary:
    """The counts at the top of the appointments page."""

    visits: int = 0
    cancelled: int = 0
    confirmed: int = 0
    drivers: int = 0
    failed_reminders: int = 0
    unreachable: int = 0


def reach(patient: Patient) -> str | None:
    """Return why scheduled texts cannot reach this patient, or None when they can."""
    if patient.opted_out:
        return "opted out"
    if patient.unusable_at is not None:
        code = f" ({patient.unusable_code})" if patient.unusable_code else ""
        return f"number can't take texts{code}"
    if patient.consent_at is None:
        return "no text consent"
    return None


def kind_status(
    kind: str, appointment: Appointment, reminders: list[Reminder], zone: ZoneInfo
) -> KindStatus | None:
    """Return the status of the reminder that covers kind for this visit's current time."""
    covering = [r for r in reminders if kind in r.kind_list]
    if not covering:
        return None
    # Prefer the text planned for the visit's current time, then a live one, then the newest.
    best = max(
        covering,
        key=lambda r: (
            r.planned_start == appointment.starts_at,
            r.status != ReminderStatus.CANCELLED,
            r.id,
        ),
    )
    status = LISTED_STATUS[best.status]
    if best.sent_at is not None and status in ("sent", "delivered", "failed"):
        note = f"sent {when(best.sent_at, zone)}"
    elif status == "pending":
        note = f"due {when(best.due_at, zone)}"
    else:
        note = ""
    reason = best.status_reason
    if best.error_code is not None:
        reason = f"{reason or 'error'} (error {best.error_code})"
    together = tuple(k for k in best.kind_list if k != kind)
    return KindStatus(str(status), reason, note, together)


def parse_day(text: str | None, zone: ZoneInfo) -> date:
    """Return the day asked for in a query string, today in the clinic when none."""
    if not text:
        return datetime.now(zone).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(400, description="The day must be a date written YYYY-MM-DD.")
    # Far from date.min and date.max, so the previous and next links can always be built.
    if not 1900 <= day.year <= 2999:
        abort(400, description="The day must be between 1900 and 2999.")
    return day


def parse_days(text: str | None) -> int:
    """Return how many days the appointments page covers (1 to MAX_DAYS)."""
    if not text:
        return 1
    # isdecimal, not isdigit: "❶" and "²" pass isdigit() and int() refuses them.
    if not text.isdecimal() or not 1 <= int(text) <= MAX_DAYS:
        abort(400, description=f"days must be a whole number from 1 to {MAX_DAYS}.")
    return int(text)


@bp.get("/appointments")
@require()
def today() -> ResponseReturnValue:
    """Show a local day's (or several days') appointments with their reminders' statuses."""
    staff = _staff()
    zone = _zone()
    first = parse_day(request.args.get("day"), zone)
    days = parse_days(request.args.get("days"))
    start, end = day_start(first, zone), day_start(first + timedelta(days=days), zone)
    in_range = (
        Appointment.clinic_id == staff.clinic_id,
        Appointment.starts_at >= start,
        Appointment.starts_at < end,
    )
    with transaction(services().sessions) as db:
        pairs = db.execute(
            select(Appointment, Patient)
            .join(Patient, Patient.id == Appointment.patient_id)
            .where(*in_range, Patient.clinic_id == staff.clinic_id)
            .order_by(Appointment.starts_at, Appointment.id)
        ).all()
        by_visit: dict[int, list[Reminder]] = defaultdict(list)
        for reminder in db.scalars(
            select(Reminder)
            .join(Appointment, Appointment.id == Reminder.appointment_id)
            .where(*in_range, Reminder.clinic_id == staff.clinic_id)
        ):
            by_visit[reminder.appointment_id].append(reminder)
        audit(db, "view_appointments", detail=f"{first.isoformat()} +{days}d")

    summary = DaySummary()
    unreachable: set[int] = set()
    grouped: dict[date, list[VisitRow]] = {first + timedelta(days=n): [] for n in range(days)}
    for appointment, patient in pairs:
        reminders = by_visit.get(appointment.id, [])
        row = VisitRow(
            appointment=appointment,
            patient=patient,
            local_start=appointment.starts_at.astimezone(zone),
            reach=reach(patient),
            kinds={k: kind_status(k, appointment, reminders, zone) for k in KINDS},
        )
        grouped.setdefault(row.local_start.date(), []).append(row)
        summary.failed_reminders += sum(r.status in FAILED_REMINDER for r in reminders)
        if appointment.status == AppointmentStatus.CANCELLED:
            summary.cancelled += 1
            continue
        summary.visits += 1
        summary.confirmed += appointment.confirmed_at is not None
        summary.drivers += appointment.driver_confirmed_at is not None
        if row.reach is not None:
            unreachable.add(patient.id)
    summary.unreachable = len(unreachable)
    today_local = datetime.now(zone).date()
    step = timedelta(days=days)
    return render_template(
        "admin/today.html",
        first=first,
        days=days,
        grouped=grouped,
        summary=summary,
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        today=today_local,
        previous=url_for("admin.today", day=(first - step).isoformat(), **_days_arg(days)),
        following=url_for("admin.today", day=(first + step).isoformat(), **_days_arg(days)),
        day_name=day_name,
        when=lambda moment: when(moment, zone),
        clock=lambda moment: clock(moment, zone),
        iso=lambda moment: iso(moment, zone),
        can_see_trend=staff.can(StaffRole.CLINICIAN),
        phone_display=phone_display,
    )


def _days_arg(days: int) -> dict[str, int]:
    """Return the days query argument, left out for the one-day view."""
    return {"days": days} if days != 1 else {}


# ---------------------------------------------------------------------------------------------
# Upload


def pack(data: bytes) -> str:
    """Return an uploaded file as the text the Apply form carries back."""
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def unpack(text: str) -> bytes | None:
    """Return the file an Apply form carried back, or None if it is damaged or too big."""
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(text, validate=True), MAX_UPLOAD_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        return None
    if not inflater.eof or len(data) > MAX_UPLOAD_BYTES:
        return None
    return data


@dataclass
class UploadPage:
    """What the upload template shows at each step."""

    stage: str  # choose, preview or result
    filename: str = ""
    error: str | None = None
    parsed: ScheduleFile | None = None
    report: ImportReport | None = None
    payload: str = ""
    skip_invalid: bool = False
    first_day: date | None = None
    rows_by_line: dict[int, ScheduleRow] = field(default_factory=dict)

    @property
    def invalid_rows(self) -> int:
        """Return how many lines have a problem."""
        return len({p.line for p in self.parsed.problems}) if self.parsed else 0


def _render_upload(page: UploadPage, status: int = 200) -> ResponseReturnValue:
    """Render the upload template for page."""
    zone = _zone()
    problems = page.parsed.problems if page.parsed else []
    problems_by_line: dict[int, list[str]] = defaultdict(list)
    for problem in problems:
        problems_by_line[problem.line].append(problem.message)
    return (
        render_template(
            "admin/upload.html",
            page=page,
            problems_by_line=dict(problems_by_line),
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
            when=lambda moment: when(moment, zone),
            iso=lambda moment: iso(moment, zone),
        ),
        status,
    )


def _checked(data: bytes, filename: str, payload: str) -> tuple[UploadPage, ScheduleFile]:
    """Read a schedule the way `clinicbot import` does; return it and the page that shows it."""
    parsed = read_schedule_csv(data, _zone())
    page = UploadPage("preview", filename, parsed=parsed, payload=payload)
    page.rows_by_line = {row.line: row for row in parsed.rows}
    if not parsed.readable:
        page.error = "This file cannot be read as a schedule; nothing was changed."
    return page, parsed


@bp.route("/upload", methods=["GET", "POST"])
@require()
def upload() -> ResponseReturnValue:
    """Show the upload form, or check an uploaded CSV and show what loading it would change."""
    if request.method == "GET":
        return _render_upload(UploadPage("choose"))
    chosen = request.files.get("schedule")
    if chosen is None or not chosen.filename:
        return _render_upload(UploadPage("choose", error="Choose a CSV file to upload."), 400)
    filename = chosen.filename[:200]
    data = chosen.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        message = (
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Split it into "
            "smaller files (a file may cover only the coming weeks)."
        )
        return _render_upload(UploadPage("choose", filename, error=message), 400)
    page, parsed = _checked(data, filename, pack(data))
    if page.error is not None:
        return _render_upload(page, 400)
    with transaction(services().sessions) as db:
        clinic = db.get_one(Clinic, _staff().clinic_id)
        page.report = plan_changes(db, clinic, parsed.rows)
    page.report.invalid = list(parsed.problems)
    return _render_upload(page)


@bp.post("/upload/apply")
@require()
def upload_apply() -> ResponseReturnValue:
    """Load the previewed CSV: all of it, or only its valid rows when asked to skip the rest."""
    payload = request.form.get("schedule", "")
    data = unpack(payload)
    if data is None:
        message = "The upload was damaged on its way back; choose the file again."
        return _render_upload(UploadPage("choose", error=message), 400)
    skip_invalid = request.form.get("skip_invalid") == "yes"
    page, parsed = _checked(data, request.form.get("filename", "")[:200], payload)
    if page.error is not None:
        return _render_upload(page, 400)
    problems = parsed.problems
    if problems and not skip_invalid:
        page.error = (
            f"{page.invalid_rows} invalid row{'s' if page.invalid_rows != 1 else ''}: nothing "
            "was imported. Fix the file and upload it again, or tick “import the valid rows and "
            "skip the invalid ones”."
        )
    try:
        with transaction(services().sessions) as db:
            clinic = db.get_one(Clinic, _staff().clinic_id)
            if page.error is not None:
                page.report = plan_changes(db, clinic, parsed.rows)
            else:
                page.report = apply_schedule(db, clinic, parsed.rows, datetime.now(UTC))
                page.report.invalid = list(problems)
                counts = " ".join(f"{k}={v}" for k, v in page.report.counts.items())
                audit(
                    db,
                    "upload_schedule",
                    target_type="clinic",
                    target_id=clinic.id,
                    detail=f"{counts} skip_invalid={'yes' if skip_invalid else 'no'}",
                )
    except IntegrityError:
        page.error = (
            "The clinic's patients changed while importing (a new patient texted in, or "
            "another upload ran). Nothing was imported: upload the file again."
        )
        return _render_upload(page, 409)
    page.report.invalid = list(problems)
    if page.error is not None:
        return _render_upload(page, 400)
    page.stage, page.skip_invalid = "result", skip_invalid
    page.first_day = first_affected_day(page.report, _zone())
    return _render_upload(page)


def first_affected_day(report: ImportReport, zone: ZoneInfo) -> date | None:
    """Return the earliest local day with a new, moved, cancelled or updated visit."""
    changes: list[Change] = [*report.new, *report.moved, *report.cancelled, *report.updated]
    if not changes:
        return None
    return min(c.starts_at for c in changes).astimezone(zone).date()


# ---------------------------------------------------------------------------------------------
# Delivery


@dataclass
class DeliveryDay:
    """One local day's outbound texts by outcome."""

    day: date
    reminders: int = 0
    pages: int = 0
    delivered: int = 0
    failed: int = 0
    unknown: int = 0
    waiting: int = 0
    not_sent: int = 0
    replies: int = 0
    codes: Counter[int] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        """Return how many reminders and pages were handed to the provider."""
        return self.reminders + self.pages


def delivery_days(db: Session, clinic_id: int, zone: ZoneInfo, today: date) -> list[DeliveryDay]:
    """Return the last DELIVERY_DAYS local days' outbound counts, newest first, in one query."""
    days = [today - timedelta(days=n) for n in range(DELIVERY_DAYS - 1, -1, -1)]
    bounds = [day_start(d, zone) for d in [*days, today + timedelta(days=1)]]
    # Day boundaries come from zoneinfo, so the bucketing is right across daylight saving and
    # the same on SQLite and PostgreSQL (their date functions differ).
    bucket = case(
        *[(Message.created_at < bounds[i + 1], i) for i in range(len(days))],
        else_=len(days),
    )
    texts = (
        select(
            bucket.label("bucket"),
            Message.purpose.label("purpose"),
            Message.status.label("status"),
            Message.error_code.label("error_code"),
        )
        .where(
            Message.clinic_id == clinic_id,
            Message.direction == Direction.OUTBOUND,
            Message.purpose.in_([*NOTIFYING, Purpose.REPLY.value]),
            Message.created_at >= bounds[0],
            Message.created_at < bounds[-1],
        )
        .subquery()
    )
    rows = db.execute(
        select(
            texts.c.bucket, texts.c.purpose, texts.c.status, texts.c.error_code, func.count()
        ).group_by(texts.c.bucket, texts.c.purpose, texts.c.status, texts.c.error_code)
    ).all()
    result = [DeliveryDay(d) for d in days]
    for index, purpose, status, error_code, count in rows:
        if not 0 <= index < len(result):
            continue
        entry = result[index]
        if purpose == Purpose.REPLY:
            entry.replies += count
            continue
        if status in NOT_HANDED_OVER:
            entry.not_sent += count
            continue
        if purpose == Purpose.PAGE:
            entry.pages += count
        else:
            entry.reminders += count
        if status in DELIVERED:
            entry.delivered += count
        elif status in UNDELIVERED:
            entry.failed += count
        elif status == MessageStatus.UNKNOWN:
            entry.unknown += count
        else:
            entry.waiting += count
        if error_code is not None and status not in DELIVERED:
            entry.codes[int(error_code)] += count
    return list(reversed(result))


@bp.get("/delivery")
@require()
def delivery() -> ResponseReturnValue:
    """Show, for each of the last 14 local days, how many texts went out and what became of them."""
    zone = _zone()
    today_local = datetime.now(zone).date()
    with transaction(services().sessions) as db:
        days = delivery_days(db, _staff().clinic_id, zone, today_local)
    totals: Counter[int] = Counter()
    for entry in days:
        totals.update(entry.codes)
    return render_template(
        "admin/delivery.html",
        days=days,
        totals={
            "sent": sum(d.sent for d in days),
            "delivered": sum(d.delivered for d in days),
            "failed": sum(d.failed for d in days),
            "unknown": sum(d.unknown for d in days),
            "waiting": sum(d.waiting for d in days),
            "not_sent": sum(d.not_sent for d in days),
            "replies": sum(d.replies for d in days),
        },
        codes=sorted(totals.items(), key=lambda item: (-item[1], item[0])),
        meanings=ERROR_MEANINGS,
        day_name=day_name,
    )


# ---------------------------------------------------------------------------------------------
# Check-in trend

CHART_WIDTH, CHART_HEIGHT = 640, 260
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 56, 44, 16, 56
SCORE_WORDS = {1: "very poor", 2: "poor", 3: "okay", 4: "well", 5: "very well"}


@dataclass(frozen=True)
class TrendPoint:
    """One visit on the trend chart; score is None when the patient did not answer."""

    appointment: Appointment
    x: float
    y: float | None
    label: str


def trend_points(visits: list[Appointment], zone: ZoneInfo) -> list[TrendPoint]:
    """Place visits evenly left to right by date and scores 1 (bottom) to 5 (top)."""
    width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    points = []
    for index, visit in enumerate(visits):
        x = CHART_LEFT + (width * index / (len(visits) - 1) if len(visits) > 1 else width / 2)
        y = None if visit.checkin_score is None else score_y(visit.checkin_score)
        local = visit.starts_at.astimezone(zone)
        points.append(TrendPoint(visit, round(x, 1), y, f"{local:%b} {local.day}"))
    return points


def score_y(score: int) -> float:
    """Return the chart height of a score's grid line."""
    height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    return round(CHART_TOP + height * (5 - score) / 4, 1)


@bp.get("/patients/<int:patient_id>/trend")
@require(StaffRole.CLINICIAN)
def trend(patient_id: int) -> ResponseReturnValue:
    """Show a patient's check-in scores across their visits as a chart and a table."""
    staff = _staff()
    zone = _zone()
    now = datetime.now(UTC)
    with transaction(services().sessions) as db:
        patient = db.scalar(
            select(Patient).where(Patient.id == patient_id, Patient.clinic_id == staff.clinic_id)
        )
        if patient is None:
            abort(404)
        visits = list(
            db.scalars(
                select(Appointment)
                .where(
                    Appointment.patient_id == patient.id,
                    Appointment.clinic_id == staff.clinic_id,
                    Appointment.status == AppointmentStatus.SCHEDULED,
                )
                .order_by(Appointment.starts_at, Appointment.id)
            )
        )
        audit(db, "view_trend", target_type="patient", target_id=patient.id)
    past = [v for v in visits if v.starts_at <= now or v.checkin_score is not None]
    upcoming = len(visits) - len(past)
    points = trend_points(past, zone)
    scored = [p for p in points if p.y is not None]
    scores = [p.appointment.checkin_score for p in scored]
    if scored:
        summary = (
            f"{len(scored)} check-in score{'s' if len(scored) != 1 else ''} from "
            f"{scored[0].label} to {scored[-1].label}: "
            + ", ".join(f"{p.label} {p.appointment.checkin_score}" for p in scored)
        )
    else:
        summary = "No check-in scores yet."
    label_every = max(1, -(-len(points) // 12))
    return render_template(
        "admin/trend.html",
        patient=patient,
        points=points,
        scored=scored,
        scores=scores,
        upcoming=upcoming,
        summary=summary,
        label_every=label_every,
        polyline=" ".join(f"{p.x},{p.y}" for p in scored),
        grid=[(s, score_y(s), SCORE_WORDS[s]) for s in range(5, 0, -1)],
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=CHART_LEFT,
        right=CHART_WIDTH - CHART_RIGHT,
        axis_y=CHART_HEIGHT - CHART_BOTTOM + 16,
        score_words=SCORE_WORDS,
        when=lambda moment: when(moment, zone),
        iso=lambda moment: iso(moment, zone),
    )
