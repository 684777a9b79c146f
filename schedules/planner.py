"""Plan when a patient's reminders go out: pure functions over aware datetimes, no clock, no DB.

Two kinds of time meet here. Hours before a session (fasting, arrival lead) are real elapsed
hours, so they are computed in UTC. "The day before at 18:00", "the day after at 10:00" and the
send window are local wall-clock times, so they are built on the clinic's local date with zoneinfo
and only then converted to UTC. Every datetime this module returns is aware and in UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

FASTING = "fasting"
ARRIVAL = "arrival"
CHECKIN = "checkin"
KINDS: tuple[str, ...] = (FASTING, ARRIVAL, CHECKIN)
TREATMENTS: tuple[str, ...] = ("iv", "nasal")
SKIPPED_DAILY_CAP = "daily cap"

# A fasting text moved off its usual evening slot still leaves this long to eat a last meal.
FASTING_NOTICE = timedelta(hours=1)
# A check-in answered a day late is still worth having; later than that it is noise.
CHECKIN_LIFETIME = timedelta(hours=24)
# Without the clinic's zone a check-in's due time is unknown; it is never later than the end of
# the local day after the visit, which is under 49 hours after the start in any zone.
CHECKIN_DUE_BOUND = timedelta(hours=49)

# A text moved back out of quiet hours is due this long before the window closes, so a worker
# tick that comes a few minutes late still finds the window open (the worker never sends in
# quiet hours, however little late).
WINDOW_END_MARGIN = timedelta(minutes=10)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class TimingSpec:
    """One timing setting: type, default as stored in a clinic's settings, range and meaning."""

    kind: type  # float, int or time (stored as an "HH:MM" string)
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


SETTING_SPECS: dict[str, TimingSpec] = {
    "fasting_hours_iv": TimingSpec(
        float, 6.0, "No solid food this many hours before an IV session.", 0, 24
    ),
    "liquids_hours_iv": TimingSpec(
        float, 2.0, "Clear liquids until this many hours before an IV session.", 0, 24
    ),
    "fasting_hours_nasal": TimingSpec(
        float, 2.0, "No solid food this many hours before a nasal-spray session.", 0, 24
    ),
    "liquids_hours_nasal": TimingSpec(
        float, 0.5, "No drinks this many hours before a nasal-spray session.", 0, 24
    ),
    "arrive_early_minutes": TimingSpec(
        int,
        15,
        "Patients arrive this many minutes before the start (the 'arrive by' time).",
        0,
        240,
    ),
    "arrival_lead_hours": TimingSpec(
        float,
        3.0,
        "The arrival text goes out this many hours before the start (earlier in quiet hours).",
        0.25,
        24,
    ),
    "day_before_time": TimingSpec(
        time, "18:00", "Local time (HH:MM) of the fasting text on the day before the visit."
    ),
    "day_after_time": TimingSpec(
        time, "10:00", "Local time (HH:MM) of the check-in text on the day after the visit."
    ),
    "window_start": TimingSpec(
        time, "09:00", "Scheduled texts go out no earlier than this local time (HH:MM)."
    ),
    "window_end": TimingSpec(
        time, "20:00", "Scheduled texts go out no later than this local time (HH:MM)."
    ),
    "daily_cap": TimingSpec(int, 2, "Most scheduled texts one patient gets in a local day.", 1, 10),
    "merge_within_hours": TimingSpec(
        float,
        3.0,
        "Texts for one visit due closer together than this many hours go out as one.",
        0,
        24,
    ),
}


def _parse_clock(key: str, raw: str) -> time:
    """Return an "HH:MM" string as a time; ValueError naming the setting otherwise."""
    match = _CLOCK.match(raw.strip())
    if match is None:
        raise ValueError(f"{key} must be a time of day as HH:MM (24-hour), not {raw!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _coerce(key: str, value: Any) -> Any:
    """Return a stored setting value as the type TimingSettings holds; ValueError if unusable."""
    spec = SETTING_SPECS[key]
    if spec.kind is time:
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            return _parse_clock(key, value)
        raise ValueError(f"{key} must be a time of day as HH:MM, not {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, not {value!r}")
    try:
        number = spec.kind(value)
    except (TypeError, ValueError) as error:
        kind = "a whole number" if spec.kind is int else "a number"
        raise ValueError(f"{key} must be {kind}, not {value!r}") from error
    if spec.kind is int and isinstance(value, float) and number != value:
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return number


def parse_timing_setting(key: str, raw: str) -> float | int | str:
    """Return a command-line value for a timing setting, validated, in its stored JSON form."""
    if key not in SETTING_SPECS:
        raise ValueError(f"unknown timing setting {key!r}; known: {', '.join(SETTING_SPECS)}")
    value = _coerce(key, raw)
    _check_range(key, value)
    return value.strftime("%H:%M") if isinstance(value, time) else value


def _check_range(key: str, value: Any) -> None:
    """Raise ValueError when a numeric setting is outside its allowed range."""
    spec = SETTING_SPECS[key]
    if spec.kind is time:
        return
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, not {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"{key} must be at least {spec.minimum:g}, not {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"{key} must be at most {spec.maximum:g}, not {value!r}")


@dataclass(frozen=True)
class TimingSettings:
    """A clinic's reminder timing rules; defaults follow INTERFACE.md and CARE.md."""

    fasting_hours_iv: float = 6.0
    liquids_hours_iv: float = 2.0
    fasting_hours_nasal: float = 2.0
    liquids_hours_nasal: float = 0.5
    arrive_early_minutes: int = 15
    arrival_lead_hours: float = 3.0
    day_before_time: time = time(18, 0)
    day_after_time: time = time(10, 0)
    window_start: time = time(9, 0)
    window_end: time = time(20, 0)
    daily_cap: int = 2
    merge_within_hours: float = 3.0

    def __post_init__(self) -> None:
        """Reject values and combinations the planner cannot honour."""
        for key in SETTING_SPECS:
            _check_range(key, getattr(self, key))
        if self.window_start >= self.window_end:
            raise ValueError("window_start must be earlier in the day than window_end")
        for treatment in TREATMENTS:
            if getattr(self, f"liquids_hours_{treatment}") > getattr(
                self, f"fasting_hours_{treatment}"
            ):
                raise ValueError(
                    f"liquids_hours_{treatment} cannot be more than fasting_hours_{treatment}: "
                    "clear liquids are allowed for longer than food, not shorter"
                )
        if self.arrival_lead_hours * 60 < self.arrive_early_minutes:
            raise ValueError(
                "arrival_lead_hours must leave the arrival text before the 'arrive by' time "
                "(arrive_early_minutes)"
            )

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> TimingSettings:
        """Return settings from a clinic's settings dict; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: _coerce(key, value) for key, value in values.items() if key in known})

    def fasting_hours(self, treatment: str) -> float:
        """Return the no-solid-food hours for a treatment."""
        return self.fasting_hours_iv if _treatment(treatment) == "iv" else self.fasting_hours_nasal

    def liquids_hours(self, treatment: str) -> float:
        """Return the clear-liquids hours for a treatment."""
        return self.liquids_hours_iv if _treatment(treatment) == "iv" else self.liquids_hours_nasal


def _treatment(treatment: str) -> str:
    """Return a known treatment name; ValueError otherwise."""
    if treatment not in TREATMENTS:
        raise ValueError(f"treatment must be one of {', '.join(TREATMENTS)}, not {treatment!r}")
    return treatment


def _utc(instant: datetime, what: str) -> datetime:
    """Return an aware datetime in UTC; ValueError for a naive one."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class VisitTimes:
    """The moments a visit's texts speak about, all aware UTC."""

    start: datetime
    no_food_after: datetime
    liquids_until: datetime
    arrive_by: datetime
    # Known only when the clinic's zone was given: the day after is a local day.
    checkin_due: datetime | None = None


def visit_times(
    start: datetime, treatment: str, settings: TimingSettings, zone: ZoneInfo | None = None
) -> VisitTimes:
    """Return a visit's cutoffs in real elapsed hours (and its check-in time when zone is given)."""
    start = _utc(start, "start")
    return VisitTimes(
        start=start,
        no_food_after=start - timedelta(hours=settings.fasting_hours(treatment)),
        liquids_until=start - timedelta(hours=settings.liquids_hours(treatment)),
        arrive_by=start - timedelta(minutes=settings.arrive_early_minutes),
        checkin_due=None if zone is None else checkin_due_at(start, zone, settings),
    )


def kind_expiry(kind: str, times: VisitTimes) -> datetime:
    """Return the latest moment a text of this kind is still useful."""
    if kind == FASTING:
        return times.no_food_after
    if kind == ARRIVAL:
        return times.start
    if kind == CHECKIN:
        due = times.checkin_due or times.start + CHECKIN_DUE_BOUND
        return due + CHECKIN_LIFETIME
    raise ValueError(f"unknown reminder kind {kind!r}; known: {', '.join(KINDS)}")


def wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a local wall-clock time; the earlier one if skipped or repeated."""
    local = datetime.combine(day, at)
    # fold=1 of a skipped time is the earlier instant, fold=0 of a repeated one: take the minimum.
    return min(local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def in_window(instant: datetime, zone: ZoneInfo, settings: TimingSettings) -> bool:
    """Return whether an instant falls inside the local send window, both ends included."""
    clock = instant.astimezone(zone).time()
    return settings.window_start <= clock <= settings.window_end


def _last_call_clock(settings: TimingSettings) -> time:
    """Return the latest local clock time a text is planned for: the margin before the end."""
    day = date(2000, 1, 1)
    end = datetime.combine(day, settings.window_end) - WINDOW_END_MARGIN
    return max(end, datetime.combine(day, settings.window_start)).time()


def _latest_in_window(instant: datetime, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return instant if it is in the window before its last call, else the latest such moment
    before it."""
    local = instant.astimezone(zone)
    if settings.window_start <= local.time() <= _last_call_clock(settings):
        return instant
    day = local.date()
    if local.time() < settings.window_start:
        day -= timedelta(days=1)
    moved = _last_call(day, zone, settings)
    while moved > instant:  # only when window_end is a skipped wall-clock time
        day -= timedelta(days=1)
        moved = _last_call(day, zone, settings)
    return moved


def _last_call(day: date, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return the latest moment of a local day a text is planned for."""
    return wall_time(day, _last_call_clock(settings), zone)


def _into_window_same_day(instant: datetime, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return instant moved into the send window of its own local day."""
    local = instant.astimezone(zone)
    if local.time() < settings.window_start:
        return wall_time(local.date(), settings.window_start, zone)
    if local.time() > _last_call_clock(settings):
        return _last_call(local.date(), zone, settings)
    return instant


def checkin_due_at(start: datetime, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return when the check-in goes out: the local day after, at day_after_time, in the window."""
    day_after = _utc(start, "start").astimezone(zone).date() + timedelta(days=1)
    return _into_window_same_day(
        wall_time(day_after, settings.day_after_time, zone), zone, settings
    )


def fasting_due_at(times: VisitTimes, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return when the fasting text goes out: the evening before, never late for the cutoff."""
    day_before = times.start.astimezone(zone).date() - timedelta(days=1)
    ideal = min(
        wall_time(day_before, settings.day_before_time, zone),
        times.no_food_after - FASTING_NOTICE,
    )
    return _latest_in_window(ideal, zone, settings)


def arrival_due_at(times: VisitTimes, zone: ZoneInfo, settings: TimingSettings) -> datetime:
    """Return when the arrival text goes out: arrival_lead_hours before, earlier in quiet hours."""
    ideal = times.start - timedelta(hours=settings.arrival_lead_hours)
    return _latest_in_window(ideal, zone, settings)


@dataclass(frozen=True)
class Visit:
    """One scheduled visit of a patient, as the planner needs it."""

    key: Hashable
    start: datetime
    treatment: str


@dataclass(frozen=True)
class PlannedText:
    """One scheduled text: the kinds it covers, when it goes out, and until when it is useful."""

    key: Hashable
    kinds: tuple[str, ...]
    due_at: datetime
    expires_at: datetime
    kind_expiry: Mapping[str, datetime] = field(hash=False)
    skipped_reason: str | None = None


@dataclass(slots=True)
class _Draft:
    """A text being planned; mutable while merges and the daily cap are applied."""

    key: Hashable
    rank: int
    kinds: list[str]
    due_at: datetime
    expiry: dict[str, datetime]
    day: date  # due_at's local date, which the daily cap counts by
    skipped_reason: str | None = None

    def freeze(self) -> PlannedText:
        """Return the finished, immutable text."""
        kinds = tuple(sorted(self.kinds, key=KINDS.index))
        return PlannedText(
            key=self.key,
            kinds=kinds,
            due_at=self.due_at,
            expires_at=max(self.expiry[kind] for kind in kinds),
            kind_expiry=MappingProxyType({kind: self.expiry[kind] for kind in kinds}),
            skipped_reason=self.skipped_reason,
        )

    def absorb(self, other: _Draft) -> None:
        """Take over another text of the same visit, going out at the earlier of the two times."""
        self.kinds.extend(other.kinds)
        self.expiry.update(other.expiry)
        if other.due_at < self.due_at:
            self.due_at, self.day = other.due_at, other.day

    def sort_key(self) -> tuple[datetime, int, int]:
        """Return the deterministic order of texts: due time, then visit, then kind."""
        return (self.due_at, self.rank, min(KINDS.index(kind) for kind in self.kinds))


def _ranks(visits: Sequence[Visit]) -> dict[Hashable, int]:
    """Return each visit key's position in key order (repr order when keys do not compare)."""
    keys = [visit.key for visit in visits]
    if len(set(keys)) != len(keys):
        raise ValueError("visit keys must be unique")
    try:
        ordered = sorted(keys)  # type: ignore[type-var]
    except TypeError:
        ordered = sorted(keys, key=repr)
    return {key: index for index, key in enumerate(ordered)}


# One text of a visit before the daily cap: kinds, due time, expiry of each kind, local due day.
_Template = tuple[tuple[str, ...], datetime, tuple[tuple[str, datetime], ...], date]


class PlanMemo:
    """Remembers each (start, treatment)'s texts for one zone and settings, across patients."""

    def __init__(self, zone: ZoneInfo, settings: TimingSettings) -> None:
        self.zone = zone
        self.settings = settings
        self._texts: dict[tuple[datetime, str], tuple[_Template, ...]] = {}
        self._finished: dict[tuple[datetime, str], tuple[_Finished, ...]] = {}

    def finished(self, start: datetime, treatment: str) -> tuple[_Finished, ...]:
        """Return a visit's texts as freeze would finish them, when the daily cap changes none."""
        key = (start if start.tzinfo is UTC else _utc(start, "start"), treatment)
        found = self._finished.get(key)
        if found is None:
            found = self._finished[key] = tuple(
                _finish(kinds, due_at, dict(expiry), day)
                for kinds, due_at, expiry, day in self.texts(start, treatment)
            )
        return found

    def texts(self, start: datetime, treatment: str) -> tuple[_Template, ...]:
        """Return a visit's texts, working them out the first time this start and treatment come."""
        # Keyed in UTC: two local times that differ only in fold compare equal in their zone.
        key = (start if start.tzinfo is UTC else _utc(start, "start"), treatment)
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = _visit_texts(key[0], treatment, self.zone, self.settings)
        return found


# A text as freeze finishes it: kinds in send order, due, expires, each kind's expiry, local day,
# and the first kind's place in KINDS (the last part of sort_key).
_Finished = tuple[tuple[str, ...], datetime, datetime, Mapping[str, datetime], date, int]


def _finish(
    kinds: Sequence[str], due_at: datetime, expiry: Mapping[str, datetime], day: date
) -> _Finished:
    """Return a text's finished parts, as _Draft.freeze and _Draft.sort_key work them out."""
    ordered = tuple(sorted(kinds, key=KINDS.index))
    return (
        ordered,
        due_at,
        max(expiry[kind] for kind in ordered),
        MappingProxyType({kind: expiry[kind] for kind in ordered}),
        day,
        min(KINDS.index(kind) for kind in kinds),
    )


def _visit_texts(
    start: datetime, treatment: str, zone: ZoneInfo, settings: TimingSettings
) -> tuple[_Template, ...]:
    """Return a visit's texts, fasting and arrival merged when they fall close together."""
    times = visit_times(start, treatment, settings, zone)
    fasting_due = fasting_due_at(times, zone, settings)
    arrival_due = arrival_due_at(times, zone, settings)
    checkin_due = checkin_due_at(times.start, zone, settings)
    fasting = (FASTING, kind_expiry(FASTING, times))
    arrival = (ARRIVAL, kind_expiry(ARRIVAL, times))
    checkin: _Template = (
        (CHECKIN,),
        checkin_due,
        ((CHECKIN, kind_expiry(CHECKIN, times)),),
        checkin_due.astimezone(zone).date(),
    )
    # A check-in never merges: it is about how the visit went, a different text on a different day.
    if abs(fasting_due - arrival_due) < timedelta(hours=settings.merge_within_hours):
        due = min(fasting_due, arrival_due)
        merged: _Template = (
            (FASTING, ARRIVAL),
            due,
            (fasting, arrival),
            due.astimezone(zone).date(),
        )
        return (merged, checkin)
    return (
        ((FASTING,), fasting_due, (fasting,), fasting_due.astimezone(zone).date()),
        ((ARRIVAL,), arrival_due, (arrival,), arrival_due.astimezone(zone).date()),
        checkin,
    )


def _visit_drafts(visit: Visit, rank: int, memo: PlanMemo) -> list[_Draft]:
    """Return a visit's texts as drafts the daily cap may change."""
    return [
        _Draft(visit.key, rank, list(kinds), due_at, dict(expiry), day)
        for kinds, due_at, expiry, day in memo.texts(visit.start, visit.treatment)
    ]


def _skip_order(draft: _Draft) -> tuple[int, datetime, int] | None:
    """Return how readily the daily cap skips a text (lowest first); None if it never does."""
    if FASTING in draft.kinds:
        return None
    importance = 0 if draft.kinds == [CHECKIN] else 1
    # Among equals the latest goes first; negated timestamps sort the latest lowest.
    return (importance, -draft.due_at.timestamp(), -draft.rank)


def _merge_same_visit(texts: list[_Draft]) -> _Draft | None:
    """Merge one visit's separate fasting and arrival texts; return the one absorbed, if any."""
    for first in texts:
        for second in texts:
            if first is second or first.key != second.key:
                continue
            if {*first.kinds, *second.kinds} == {FASTING, ARRIVAL}:
                first.absorb(second)
                return second
    return None


def _apply_daily_cap(drafts: list[_Draft], settings: TimingSettings) -> list[_Draft]:
    """Keep each local day within the cap: merge a visit's texts, then skip the least useful."""
    # A merge below keeps the earlier time of the same day, so each draft's day stays put.
    by_day: dict[date, list[_Draft]] = {}
    for draft in drafts:
        by_day.setdefault(draft.day, []).append(draft)
    for day in sorted(by_day):
        while True:
            texts = sorted(
                (d for d in by_day[day] if d.skipped_reason is None), key=_Draft.sort_key
            )
            if len(texts) <= settings.daily_cap:
                break
            absorbed = _merge_same_visit(texts)
            if absorbed is not None:
                drafts.remove(absorbed)
                by_day[day].remove(absorbed)
                continue
            skippable = [(order, d) for d in texts if (order := _skip_order(d)) is not None]
            if not skippable:
                # Only fasting texts left: they are safety-critical, so the cap gives way.
                break
            _, victim = min(skippable, key=lambda pair: pair[0])
            victim.skipped_reason = SKIPPED_DAILY_CAP
    return drafts


def plan_patient(
    visits: Sequence[Visit],
    zone: ZoneInfo,
    settings: TimingSettings,
    memo: PlanMemo | None = None,
) -> list[PlannedText]:
    """Return every scheduled text for one patient's visits, in (due_at, key) order.

    A memo made for the same zone and settings lets many patients share the per-visit work.
    """
    if memo is None:
        memo = PlanMemo(zone, settings)
    elif memo.zone is not zone or memo.settings != settings:
        raise ValueError("the memo was made for another zone or other settings")
    ranks = _ranks(visits)
    finished = [
        (visit.key, ranks[visit.key], text)
        for visit in visits
        for text in memo.finished(visit.start, visit.treatment)
    ]
    per_day: dict[date, int] = {}
    for _, _, text in finished:
        per_day[text[4]] = per_day.get(text[4], 0) + 1
    if all(count <= settings.daily_cap for count in per_day.values()):
        # The common case: no day over the cap, so no text is merged or skipped.
        finished.sort(key=lambda item: (item[2][1], item[1], item[2][5]))
        return [
            PlannedText(
                key=key, kinds=text[0], due_at=text[1], expires_at=text[2], kind_expiry=text[3]
            )
            for key, _, text in finished
        ]
    drafts: list[_Draft] = []
    for visit in visits:
        drafts.extend(_visit_drafts(visit, ranks[visit.key], memo))
    drafts = _apply_daily_cap(drafts, settings)
    return [draft.freeze() for draft in sorted(drafts, key=_Draft.sort_key)]
