"""The clinic API's request and response shapes; the OpenAPI document is generated from them.

Request bodies are strict (JSON types as written, no unknown fields). What the schema says about
an appointment is its shape; whether its values make sense (a real phone number, a wall time the
clinic's clock shows, one line per appointment id, lengths and ranges) is the schedule importer's
call, the same as for a CSV, so every such problem is reported by index and ``skip_invalid`` can
skip it.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schedules.models import AlertKind, ReminderKind
from schedules.reminders import ListedReminderStatus

MAX_BATCH = 5000
MAX_PAGE = 500
DEFAULT_PAGE = 100
# A keyset cursor: microseconds since the epoch and a row id. Every string it matches is usable.
CURSOR_PATTERN = r"^-?[0-9]{1,16}\.[0-9]{1,10}$"
CALENDAR = re.compile(r"\d{4}-\d{2}-\d{2}")

AlertKindName = StrEnum("AlertKindName", {str(k): str(k) for k in AlertKind})  # type: ignore[misc]
ReminderKindName = StrEnum(  # type: ignore[misc]
    "ReminderKindName", {str(k): str(k) for k in ReminderKind}
)
AppointmentStatusName = Literal["scheduled", "cancelled"]
TreatmentName = Literal["iv", "nasal"]
LanguageName = Literal["en", "es"]


# Patterns are read as Python reads them, the same as the OpenAPI tools that generate requests.


class _Strict(BaseModel):
    """A request body: JSON types exactly, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", regex_engine="python-re")


def _absent_not_null(schema: dict[str, Any]) -> None:
    """Document optional query parameters as absent or a value: a query string has no null."""
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if not options or {"type": "null"} not in options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        del prop["anyOf"]
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class _Query(BaseModel):
    """Query parameters: text converted to the declared types, unknown ones ignored."""

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra=_absent_not_null, regex_engine="python-re"
    )


class Problem(BaseModel):
    """One thing wrong with a request."""

    index: int | None = Field(
        None, description="Position of the appointment in the request's list, when it is one."
    )
    field: str | None = Field(None, description='Where, e.g. "appointments[2].start" or "limit".')
    message: str


class ApiError(BaseModel):
    """Every error the API answers: a code, a sentence, and each problem when there are several."""

    error: str = Field(description='A stable code, e.g. "unauthorized", "invalid_appointments".')
    message: str
    problems: list[Problem] = Field(default_factory=list)


# Requests.


class AppointmentIn(_Strict):
    """One appointment as the clinic's system knows it, keyed by the clinic's own id."""

    appointment_id: str = Field(
        max_length=200, description="The clinic's own id for the visit (at most 64 characters)."
    )
    phone: str = Field(
        max_length=64, description="The patient's mobile number; normalised to E.164 (region US)."
    )
    start: str = Field(
        max_length=64,
        description="Clinic-local wall time: YYYY-MM-DD HH:MM or ISO 8601 (an offset, if "
        "given, must be the clinic's own at that time). Times that do not exist or happen twice "
        "on daylight-saving nights are refused.",
    )
    patient_name: str | None = Field(None, max_length=400)
    duration_minutes: int | None = Field(None, description="1 to 600; default 60.")
    status: AppointmentStatusName | None = Field(None, description="Default scheduled.")
    treatment: TreatmentName | None = Field(None, description="Default iv.")
    language: LanguageName | None = Field(
        None, description="Blank keeps the patient's stored language (en for a new patient)."
    )
    sms_consent: bool | None = Field(
        None,
        description="Default true: consent given through the clinic. false withdraws it; "
        "neither overrides the patient's own STOP.",
    )


class UpsertRequest(_Strict):
    """A batch of appointments to create or update."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        regex_engine="python-re",
        json_schema_extra={
            "examples": [
                {
                    "appointments": [
                        {
                            "appointment_id": "A-1001",
                            "phone": "+17205550123",
                            "start": "2031-03-04 09:30",
                            "patient_name": "Jane Doe",
                            "treatment": "iv",
                        }
                    ]
                }
            ]
        },
    )

    appointments: list[AppointmentIn] = Field(max_length=MAX_BATCH)
    dry_run: bool = Field(False, description="Report what would change and write nothing.")
    skip_invalid: bool = Field(
        False, description="Load the valid appointments and report the invalid ones."
    )


class AcknowledgeRequest(_Strict):
    """Who acknowledges an alert, and an optional note."""

    by: str = Field(min_length=1, max_length=254, pattern=r"\S")
    note: str | None = Field(None, max_length=2000)


class AppointmentQuery(_Query):
    """Filters and paging for the appointment list."""

    from_: datetime | None = Field(
        None,
        alias="from",
        description="Starts at or after this date-time: clinic-local unless it has an offset. "
        "A date alone (YYYY-MM-DD) means the clinic's midnight.",
    )
    to: datetime | None = Field(None, description="Starts before this; as from.")
    status: AppointmentStatusName | None = None
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        None, pattern=CURSOR_PATTERN, description="next_cursor of the previous page."
    )

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _calendar_form(cls, value: Any) -> Any:
        """Refuse what pydantic would read as a Unix timestamp: these are calendar times."""
        if isinstance(value, str) and not CALENDAR.match(value):
            raise ValueError("give a date YYYY-MM-DD or an ISO 8601 date-time")
        return value


class ReminderQuery(_Query):
    """Filters and paging for the reminder list."""

    appointment_id: str | None = Field(None, max_length=200)
    status: ListedReminderStatus | None = None
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN)


class AlertQuery(_Query):
    """Filters and paging for the alert list."""

    open: bool | None = Field(
        None, description="true: not yet acknowledged; false: acknowledged; absent: all."
    )
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN)


# Responses.


class Change(BaseModel):
    """An appointment the batch adds or changes."""

    index: int
    appointment_id: str
    start: datetime = Field(description="Clinic-local time with its offset.")
    old_start: datetime | None = Field(None, description="The time it moved from.")
    details: list[str] = Field(default_factory=list)


class Counts(BaseModel):
    """How many appointments fall in each outcome."""

    new: int
    moved: int
    cancelled: int
    updated: int
    unchanged: int
    invalid: int


class PatientCounts(BaseModel):
    """Patients the batch adds or changes, and consent it records or withdraws."""

    new: int
    updated: int
    consents_recorded: int
    consents_withdrawn: int


class UpsertReport(BaseModel):
    """What the batch did (or, on a dry run, would do)."""

    dry_run: bool
    counts: Counts
    patients: PatientCounts
    new: list[Change]
    moved: list[Change]
    cancelled: list[Change]
    updated: list[Change]
    unchanged: list[str]
    invalid: list[Problem]


class AppointmentOut(BaseModel):
    """An appointment with its patient's contact state."""

    appointment_id: str
    start: datetime = Field(description="Clinic-local time with its offset.")
    start_utc: datetime
    duration_minutes: int
    status: str
    treatment: str
    patient_id: int
    patient_name: str | None
    phone: str = Field(description="E.164.")
    language: str
    sms_consent: bool
    opted_out: bool
    confirmed_at: datetime | None
    driver_confirmed_at: datetime | None
    checkin_score: int | None
    updated_at: datetime | None


class AppointmentPage(BaseModel):
    """A page of appointments, by start time."""

    appointments: list[AppointmentOut]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )


class ReminderOut(BaseModel):
    """A planned or sent reminder, as `clinicbot reminders --json` lists it."""

    appointment_id: str
    kinds: list[ReminderKindName]
    due_at: datetime
    status: ListedReminderStatus
    body: str = Field(description="The text as sent, or as it would be sent now.")
    expires_at: datetime
    reason: str | None
    error_code: int | None
    twilio_sid: str | None


class ReminderPage(BaseModel):
    """A page of reminders, by due time."""

    reminders: list[ReminderOut]
    next_cursor: str | None


class AlertOut(BaseModel):
    """An alert as the staff alert list shows it: never the text that raised it."""

    id: int
    kind: AlertKindName
    created_at: datetime
    patient_id: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None


class AlertPage(BaseModel):
    """A page of alerts, newest first."""

    alerts: list[AlertOut]
    next_cursor: str | None


class AcknowledgeResult(BaseModel):
    """The alert after acknowledging it."""

    alert: AlertOut
    acknowledged_now: bool = Field(
        description="false when someone had already acknowledged it (nothing was changed)."
    )
