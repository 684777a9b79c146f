"""Keeping reminder rows in step with appointments, and listing them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from messages.catalog import Catalog
from messages.reminders import reminder_values, render_reminder
from schedules.clinic_values import clinic_values
from schedules.content import clinic_catalog
from schedules.driver_sql import BulkInsert
from schedules.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Patient,
    Reminder,
    ReminderStatus,
)
from schedules.planner import (
    SKIPPED_DAILY_CAP,
    PlanMemo,
    PlannedText,
    TimingSettings,
    Visit,
    plan_patient,
    visit_times,
)
from schedules.settings import effective_settings

# Reminders that planning may still replace; anything else has been (or may have been) sent.
REPLANNABLE = (ReminderStatus.PENDING, ReminderStatus.SKIPPED)
# Visits this far back still matter to planning: their check-in may be due.
LOOKBACK = timedelta(days=3)
CHUNK = 500


_NEW_REMINDER_COLUMNS = (
    "clinic_id",
    "appointment_id",
    "patient_id",
    "kinds",
    "due_at",
    "expires_at",
    "planned_start",
    "status",
    "status_reason",
    "attempts",
    "created_at",
)
# A clinic's visits share their slots, so these recur across an import's reminders (and equal
# instants are stored alike, whatever their zone).
_RECURRING_TIMES = ("due_at", "expires_at", "planned_start", "created_at")
_INSERT_REMINDERS = BulkInsert(Reminder.__table__, _NEW_REMINDER_COLUMNS)


def timing_for(clinic: Clinic) -> TimingSettings:
    """Return the clinic's timing settings."""
    return TimingSettings.from_settings(effective_settings(clinic.settings))


def sync_reminders(
    session: Session, clinic: Clinic, patient_ids: Iterable[int], now: datetime
) -> None:
    """Re-plan the pending reminders of these patients from their scheduled appointments.

    A chunk of patients at a time, with a fixed number of queries each. While the database
    stores one chunk's new reminders, the next chunk (read before) is planned.
    """
    memo = PlanMemo(ZoneInfo(clinic.timezone), timing_for(clinic))
    conversions: dict[str, dict[Any, Any]] = {name: {} for name in _RECURRING_TIMES}
    ids = sorted(set(patient_ids))
    chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
    if not chunks:
        return
    # Ids, not the clinic: nothing may load from the database while rows are being copied.
    clinic_id = clinic.id
    planned = _plan_chunk(clinic_id, _read_chunk(session, chunks[0], now), memo, now)
    for number in range(len(chunks)):
        following = None
        if number + 1 < len(chunks):
            following = _read_chunk(session, chunks[number + 1], now)
        new_rows, changed = planned
        # On the DBAPI cursor: ORM objects, or even Core's per-row parameter handling, would
        # cost seconds for an import's tens of thousands.
        with _INSERT_REMINDERS.writing(session.connection(), conversions) as writer:
            writer.write(new_rows)
            if following is not None:
                planned = _plan_chunk(clinic_id, following, memo, now)
        _change_statuses(session, changed)


def replan_clinic(session: Session, clinic: Clinic, now: datetime) -> None:
    """Re-plan the pending reminders of every patient of the clinic with a visit coming."""
    patient_ids = session.scalars(
        select(Appointment.patient_id)
        .where(
            Appointment.clinic_id == clinic.id,
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.starts_at >= now - LOOKBACK,
        )
        .distinct()
    )
    sync_reminders(session, clinic, list(patient_ids), now)


class _Booked(NamedTuple):
    """A scheduled appointment as planning reads it."""

    id: int
    patient_id: int
    starts_at: datetime
    treatment: str


class _Stored(NamedTuple):
    """A stored reminder as planning compares it."""

    id: int
    patient_id: int
    appointment_id: int
    kinds: str
    due_at: datetime
    planned_start: datetime
    status: str
    status_reason: str | None


class _ChunkState(NamedTuple):
    """A chunk of patients' scheduled visits and stored reminders, as planning reads them."""

    patient_ids: Sequence[int]
    visits: dict[int, list[_Booked]]
    existing: dict[int, list[_Stored]]


def _read_chunk(session: Session, patient_ids: Sequence[int], now: datetime) -> _ChunkState:
    """Read a chunk of patients' scheduled visits and recent reminders, in two queries."""
    # Plain rows, not ORM objects: an import plans tens of thousands of appointments.
    visits: dict[int, list[_Booked]] = defaultdict(list)
    for row in session.execute(
        select(
            Appointment.id, Appointment.patient_id, Appointment.starts_at, Appointment.treatment
        ).where(
            Appointment.patient_id.in_(patient_ids),
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.starts_at >= now - LOOKBACK,
        )
    ):
        visits[row.patient_id].append(_Booked(*row))
    existing: dict[int, list[_Stored]] = defaultdict(list)
    for row in session.execute(
        select(
            Reminder.id,
            Reminder.patient_id,
            Reminder.appointment_id,
            Reminder.kinds,
            Reminder.due_at,
            Reminder.planned_start,
            Reminder.status,
            Reminder.status_reason,
        ).where(Reminder.patient_id.in_(patient_ids), Reminder.planned_start >= now - LOOKBACK)
    ):
        existing[row.patient_id].append(_Stored(*row))
    return _ChunkState(patient_ids, visits, existing)


def _plan_chunk(
    clinic_id: int, state: _ChunkState, memo: PlanMemo, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return a chunk's reminders to insert and its stored ones' status changes; no queries."""
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for patient_id in state.patient_ids:
        appointments = {a.id: a for a in state.visits.get(patient_id, ())}
        plan = plan_patient(
            [
                Visit(key=a.id, start=a.starts_at, treatment=a.treatment)
                for a in appointments.values()
            ],
            memo.zone,
            memo.settings,
            memo,
        )
        stored = state.existing.get(patient_id, [])
        _reconcile(clinic_id, patient_id, appointments, plan, stored, now, new_rows, changed)
    return new_rows, changed


def _change_statuses(session: Session, changed: list[dict[str, Any]]) -> None:
    """Write the status changes of stored reminders (each row: id, status, reason, time)."""
    if not changed:
        return
    session.execute(update(Reminder), changed)
    # The bulk update bypasses the identity map: reload any of these already loaded.
    ids = {row["id"] for row in changed}
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Reminder) and instance.id in ids:
            session.expire(instance)


def _reconcile(
    clinic_id: int,
    patient_id: int,
    appointments: dict[int, _Booked],
    plan: list[PlannedText],
    existing: list[_Stored],
    now: datetime,
    new_rows: list[dict[str, Any]],
    changed: list[dict[str, Any]],
) -> None:
    """Collect the planned reminders not yet stored, and the status changes of stored ones:
    stale ones cancelled, and the daily cap's skips as the plan now has them."""
    done_kinds: set[tuple[int, datetime, str]] = set()
    keep: dict[tuple[int, str, datetime, datetime], _Stored] = {}
    for reminder in existing:
        if reminder.status in REPLANNABLE:
            key = (reminder.appointment_id, reminder.kinds, reminder.due_at, reminder.planned_start)
            keep[key] = reminder
        elif reminder.status != ReminderStatus.CANCELLED:
            for kind in reminder.kinds.split(",") if reminder.kinds else ():
                done_kinds.add((reminder.appointment_id, reminder.planned_start, kind))
    wanted: set[tuple[int, str, datetime, datetime]] = set()
    for text in plan:
        appointment = appointments[int(text.key)]
        if done_kinds:
            kinds = [
                k
                for k in text.kinds
                if (appointment.id, appointment.starts_at, k) not in done_kinds
            ]
            if not kinds:
                continue
            joined = ",".join(kinds)
        else:
            # Nothing sent yet (every newly imported patient): a few kinds lists, joined once.
            joined = _joined(text.kinds)
        key = (appointment.id, joined, text.due_at, appointment.starts_at)
        wanted.add(key)
        stored = keep.get(key)
        if stored is not None:
            # The daily cap is the plan's, day by day: a stored text follows it both ways (a
            # text the dispatcher skipped, for an opt-out say, stays as the dispatcher left it).
            skip = text.skipped_reason
            capped = stored.status_reason == SKIPPED_DAILY_CAP
            if (skip and stored.status == ReminderStatus.PENDING) or (
                not skip
                and capped
                and stored.status == ReminderStatus.SKIPPED
                and text.expires_at > now
            ):
                changed.append(
                    {
                        "id": stored.id,
                        "status": ReminderStatus.SKIPPED if skip else ReminderStatus.PENDING,
                        "status_reason": skip,
                        "updated_at": now,
                    }
                )
            continue
        status, reason = ReminderStatus.PENDING, None
        if text.skipped_reason:
            status, reason = ReminderStatus.SKIPPED, text.skipped_reason
        elif text.expires_at <= now:
            status, reason = ReminderStatus.SKIPPED, "loaded after its latest useful moment"
        new_rows.append(
            {
                "clinic_id": clinic_id,
                "appointment_id": appointment.id,
                "patient_id": patient_id,
                "kinds": key[1],
                "due_at": text.due_at,
                "expires_at": text.expires_at,
                "planned_start": appointment.starts_at,
                "status": status,
                "status_reason": reason,
                "attempts": 0,
                "created_at": now,
            }
        )
    for key, reminder in keep.items():
        if key not in wanted:
            changed.append(
                {
                    "id": reminder.id,
                    "status": ReminderStatus.CANCELLED,
                    "status_reason": _why_cancelled(reminder, appointments),
                    "updated_at": now,
                }
            )


@cache
def _joined(kinds: tuple[str, ...]) -> str:
    """Return kinds as stored: comma-separated."""
    return ",".join(kinds)


def _why_cancelled(reminder: _Stored, appointments: dict[int, _Booked]) -> str:
    """Say why a pending reminder is no longer wanted."""
    appointment = appointments.get(reminder.appointment_id)
    if appointment is None:
        return "appointment cancelled or no longer this patient's"
    if appointment.starts_at != reminder.planned_start:
        return "appointment moved"
    return "re-planned"


class ListedReminderStatus(StrEnum):
    """A reminder's status as the clinic's listing shows it (INTERFACE.md's list)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SKIPPED = "skipped"


# What the clinic's reminder listing shows for every internal status: none leaks through.
LISTED_STATUS: dict[str, ListedReminderStatus] = {
    ReminderStatus.PENDING: ListedReminderStatus.PENDING,
    # Taken by a worker or handed to the sender: not sent yet.
    ReminderStatus.CLAIMED: ListedReminderStatus.PENDING,
    ReminderStatus.SENDING: ListedReminderStatus.PENDING,
    ReminderStatus.SENT: ListedReminderStatus.SENT,
    ReminderStatus.DELIVERED: ListedReminderStatus.DELIVERED,
    ReminderStatus.FAILED: ListedReminderStatus.FAILED,
    ReminderStatus.CANCELLED: ListedReminderStatus.CANCELLED,
    ReminderStatus.EXPIRED: ListedReminderStatus.EXPIRED,
    ReminderStatus.SKIPPED: ListedReminderStatus.SKIPPED,
    # It may not have gone out and is never resent: the clinic cannot count on it.
    ReminderStatus.UNKNOWN: ListedReminderStatus.FAILED,
}
# The stored statuses behind each listed one, so a filter reads the status index.
STORED_STATUSES: dict[ListedReminderStatus, tuple[str, ...]] = {
    listed: tuple(str(s) for s in ReminderStatus if LISTED_STATUS[s] is listed)
    for listed in ListedReminderStatus
}


def render_body(
    catalog: Catalog, clinic: Clinic, appointment: Appointment, language: str, kinds: Sequence[str]
) -> str:
    """Render a reminder's text as it would be sent now."""
    zone = ZoneInfo(clinic.timezone)
    times = visit_times(appointment.starts_at, appointment.treatment, timing_for(clinic), zone)
    values = reminder_values(
        times.start, times.no_food_after, times.liquids_until, times.arrive_by, zone, language
    )
    return render_reminder(catalog, kinds, language, clinic_values(clinic), values)


def list_reminders(session: Session, clinic: Clinic) -> list[dict[str, Any]]:
    """Return the clinic's reminders as INTERFACE.md's JSON objects, oldest due first."""
    catalog = clinic_catalog(session, clinic.id, effective_settings(clinic.settings)["content_dir"])
    rows = session.execute(
        select(Reminder, Appointment, Patient)
        .join(Appointment, Reminder.appointment_id == Appointment.id)
        .join(Patient, Reminder.patient_id == Patient.id)
        .where(Reminder.clinic_id == clinic.id)
        .order_by(Reminder.due_at, Reminder.id)
    )
    listed = []
    for reminder, appointment, patient in rows:
        body = reminder.body
        if body is None:
            body = render_body(catalog, clinic, appointment, patient.language, reminder.kind_list)
        listed.append(
            {
                "appointment_id": appointment.external_id,
                "kinds": reminder.kind_list,
                "due_at": reminder.due_at.isoformat().replace("+00:00", "Z"),
                "status": LISTED_STATUS[reminder.status],
                "body": body,
                "expires_at": reminder.expires_at.isoformat().replace("+00:00", "Z"),
                "reason": reminder.status_reason,
                "error_code": reminder.error_code,
                "twilio_sid": reminder.twilio_sid,
            }
        )
    return listed
