"""Reminder texts: the clinic-local days and clock times they state, and the snippet for each.

Times are always shown on the clinic's wall clock. English uses "9:15 AM", Spanish the 24-hour
"9:15"/"15:30" (no a. m./p. m. to misread, and shorter). Day and month names come from our own
tables, not the locale module, so the output never depends on the machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from messages.catalog import FALLBACK_LANGUAGE, Catalog

WEEKDAYS: Mapping[str, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    # "sab", not "sáb": á is not GSM-7 and would make the whole text UCS-2 (70 characters a
    # segment); é is GSM-7, so "mié" keeps its accent.
    "es": ("lun", "mar", "mié", "jue", "vie", "sab", "dom"),
}
MONTHS: Mapping[str, tuple[str, ...]] = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}

REMINDER_SNIPPET: Mapping[tuple[str, ...], str] = {
    ("fasting",): "reminder_fasting",
    ("arrival",): "reminder_arrival",
    ("fasting", "arrival"): "reminder_fasting_arrival",
    ("checkin",): "reminder_checkin",
}

# The longest value each placeholder can take, per language: content check budgets with these.
# A cutoff on another day than the visit carries that day ("11:45 PM on Wed, Sep 30").
LONGEST_VISIT_VALUES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "visit_day": "Wed, Sep 30",
        "visit_time": "12:45 PM",
        "no_food_after": "12:45 PM on Wed, Sep 30",
        "liquids_until": "12:45 PM on Wed, Sep 30",
        "arrive_by": "12:45 PM on Wed, Sep 30",
    },
    "es": {
        "visit_day": "mié 30 sep",
        "visit_time": "23:45",
        "no_food_after": "23:45 del mié 30 sep",
        "liquids_until": "23:45 del mié 30 sep",
        "arrive_by": "23:45 del mié 30 sep",
    },
}


@dataclass(frozen=True)
class ReminderValues:
    """The visit's local day and clock times, formatted for one language."""

    visit_day: str
    visit_time: str
    no_food_after: str
    liquids_until: str
    arrive_by: str

    def as_dict(self) -> dict[str, str]:
        """Return the values keyed by placeholder name."""
        return asdict(self)


def _language(language: str) -> str:
    """Return the language whose formats to use; others get English, like the catalog."""
    return language if language in WEEKDAYS else FALLBACK_LANGUAGE


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    """Return an aware instant on the clinic's wall clock; ValueError for a naive one."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(zone)


def local_clock(instant: datetime, zone: ZoneInfo, language: str) -> str:
    """Return the clinic-local clock time: "3:15 AM" in English, "3:15"/"15:30" in Spanish."""
    local = _local(instant, zone)
    if _language(language) == "es":
        return f"{local.hour}:{local.minute:02d}"
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def local_day(instant: datetime, zone: ZoneInfo, language: str) -> str:
    """Return the clinic-local date: "Tue, Nov 24" in English, "mar 24 nov" in Spanish."""
    local = _local(instant, zone)
    language = _language(language)
    weekday = WEEKDAYS[language][local.weekday()]
    month = MONTHS[language][local.month - 1]
    if language == "es":
        return f"{weekday} {local.day} {month}"
    return f"{weekday}, {month} {local.day}"


def _moment(instant: datetime, start: datetime, zone: ZoneInfo, language: str) -> str:
    """Return a clock time, with its day when that is not the visit's local day."""
    clock = local_clock(instant, zone, language)
    if _local(instant, zone).date() == _local(start, zone).date():
        return clock
    day = local_day(instant, zone, language)
    return f"{clock} del {day}" if _language(language) == "es" else f"{clock} on {day}"


def reminder_values(
    start: datetime,
    no_food_after: datetime,
    liquids_until: datetime,
    arrive_by: datetime,
    zone: ZoneInfo,
    language: str,
) -> ReminderValues:
    """Return a visit's day and times as the clinic-local text the reminders state."""
    return ReminderValues(
        visit_day=local_day(start, zone, language),
        visit_time=local_clock(start, zone, language),
        no_food_after=_moment(no_food_after, start, zone, language),
        liquids_until=_moment(liquids_until, start, zone, language),
        arrive_by=_moment(arrive_by, start, zone, language),
    )


def reminder_snippet(kinds: Sequence[str]) -> str:
    """Return the snippet id for a text covering these kinds; ValueError for another mix."""
    snippet_id = REMINDER_SNIPPET.get(tuple(kinds))
    if snippet_id is None:
        known = "; ".join(",".join(key) for key in REMINDER_SNIPPET)
        raise ValueError(f"no reminder text covers {','.join(kinds)!r}; known: {known}")
    return snippet_id


def render_reminder(
    catalog: Catalog,
    kinds: Sequence[str],
    language: str,
    clinic_values: Mapping[str, str],
    values: ReminderValues,
) -> str:
    """Return the reminder text for these kinds, filled with the clinic's and the visit's values."""
    return catalog.render(reminder_snippet(kinds), language, {**clinic_values, **values.as_dict()})
