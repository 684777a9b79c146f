"""The reminder planner: when each text goes out, across time zones, DST, quiet hours and caps."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.planner import (
    CHECKIN_DUE_BOUND,
    CHECKIN_LIFETIME,
    FASTING_NOTICE,
    SETTING_SPECS,
    SKIPPED_DAILY_CAP,
    PlannedText,
    TimingSettings,
    Visit,
    in_window,
    kind_expiry,
    parse_timing_setting,
    plan_patient,
    visit_times,
    wall_time,
)

NY = ZoneInfo("America/New_York")
DENVER = ZoneInfo("America/Denver")
DEFAULTS = TimingSettings()
# 2027-03-14 and 2026-11-01 are the US spring-forward and fall-back Sundays.
SPRING_FORWARD = date(2027, 3, 14)
FALL_BACK = date(2026, 11, 1)


def at(text: str, zone: ZoneInfo = NY) -> datetime:
    """Return a local wall-clock time that exists exactly once, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def utc(text: str) -> datetime:
    """Return a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def plan(
    *starts: str,
    treatment: str = "iv",
    zone: ZoneInfo = NY,
    timing: TimingSettings = DEFAULTS,
) -> list[PlannedText]:
    """Plan one patient's visits given as local start times, keyed by their position."""
    visits = [Visit(index, at(start, zone), treatment) for index, start in enumerate(starts)]
    return plan_patient(visits, zone, timing)


def shown(texts: Sequence[PlannedText], zone: ZoneInfo = NY) -> list[tuple[str, str]]:
    """Return each text as (kinds, local due time) the way a person would check it."""
    return [
        (",".join(t.kinds), t.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")) for t in texts
    ]


def per_local_day(texts: Sequence[PlannedText], zone: ZoneInfo) -> Counter[date]:
    """Return how many texts that are not skipped go out on each local day."""
    return Counter(t.due_at.astimezone(zone).date() for t in texts if t.skipped_reason is None)


@pytest.mark.parametrize(
    ("start", "zone", "treatment", "no_food_after", "liquids_until", "arrive_by"),
    [
        pytest.param(
            "2026-11-24 09:15",
            NY,
            "iv",
            "2026-11-24 08:15",
            "2026-11-24 12:15",
            "2026-11-24 14:00",
            id="iv",
        ),
        pytest.param(
            "2026-11-24 09:15",
            NY,
            "nasal",
            "2026-11-24 12:15",
            "2026-11-24 13:45",
            "2026-11-24 14:00",
            id="nasal",
        ),
        # 08:00 EDT is 12:00Z; six real hours earlier is 06:00Z = 01:00 EST. Subtracting on the
        # wall clock would give 02:00, a time that does not exist that night.
        pytest.param(
            "2027-03-14 08:00",
            NY,
            "iv",
            "2027-03-14 06:00",
            "2027-03-14 10:00",
            "2027-03-14 11:45",
            id="spring forward new york",
        ),
        pytest.param(
            "2027-03-14 08:00",
            DENVER,
            "iv",
            "2027-03-14 08:00",
            "2027-03-14 12:00",
            "2027-03-14 13:45",
            id="spring forward denver",
        ),
        # 07:00 EST is 12:00Z; six real hours earlier is 06:00Z = the second 01:00 (EST). The
        # wall clock would pick the first 01:00 (EDT), an hour too early.
        pytest.param(
            "2026-11-01 07:00",
            NY,
            "iv",
            "2026-11-01 06:00",
            "2026-11-01 10:00",
            "2026-11-01 11:45",
            id="fall back new york",
        ),
        pytest.param(
            "2026-11-01 07:00",
            DENVER,
            "iv",
            "2026-11-01 08:00",
            "2026-11-01 12:00",
            "2026-11-01 13:45",
            id="fall back denver",
        ),
        pytest.param(
            "2026-11-01 07:00",
            DENVER,
            "nasal",
            "2026-11-01 12:00",
            "2026-11-01 13:30",
            "2026-11-01 13:45",
            id="fall back denver nasal",
        ),
    ],
)
def test_cutoffs_are_real_elapsed_hours_in_utc(
    start: str,
    zone: ZoneInfo,
    treatment: str,
    no_food_after: str,
    liquids_until: str,
    arrive_by: str,
) -> None:
    times = visit_times(at(start, zone), treatment, DEFAULTS)
    assert times.start.tzinfo is UTC
    assert (times.no_food_after, times.liquids_until, times.arrive_by) == (
        utc(no_food_after),
        utc(liquids_until),
        utc(arrive_by),
    )


def test_spring_forward_cutoff_reads_one_am_on_the_local_clock() -> None:
    times = visit_times(at("2027-03-14 08:00"), "iv", DEFAULTS)
    assert times.no_food_after.astimezone(NY).strftime("%H:%M %Z") == "01:00 EST"


def test_fall_back_cutoff_is_the_second_one_am() -> None:
    times = visit_times(at("2026-11-01 07:00"), "iv", DEFAULTS)
    local = times.no_food_after.astimezone(NY)
    assert (local.strftime("%H:%M %Z"), local.fold) == ("01:00 EST", 1)


def test_visit_times_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        visit_times(datetime(2026, 11, 24, 9, 15), "iv", DEFAULTS)


def test_visit_times_refuses_an_unknown_treatment() -> None:
    with pytest.raises(ValueError, match="treatment"):
        visit_times(at("2026-11-24 09:15"), "oral", DEFAULTS)


def test_visit_times_knows_the_check_in_time_only_with_the_clinics_zone() -> None:
    assert visit_times(at("2026-11-24 09:15"), "iv", DEFAULTS).checkin_due is None
    with_zone = visit_times(at("2026-11-24 09:15"), "iv", DEFAULTS, NY)
    assert with_zone.checkin_due == at("2026-11-25 10:00")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fasting", utc("2026-11-24 08:15")),
        ("arrival", utc("2026-11-24 14:15")),
        ("checkin", at("2026-11-25 10:00") + CHECKIN_LIFETIME),
    ],
)
def test_kind_expiry_is_the_latest_useful_moment(kind: str, expected: datetime) -> None:
    times = visit_times(at("2026-11-24 09:15"), "iv", DEFAULTS, NY)
    assert kind_expiry(kind, times) == expected


def test_check_in_expiry_without_the_zone_is_a_safe_upper_bound() -> None:
    start = at("2026-11-24 00:00")
    without = kind_expiry("checkin", visit_times(start, "iv", DEFAULTS))
    with_zone = kind_expiry("checkin", visit_times(start, "iv", DEFAULTS, NY))
    assert without == start + CHECKIN_DUE_BOUND + CHECKIN_LIFETIME
    assert with_zone <= without


def test_kind_expiry_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown reminder kind"):
        kind_expiry("dosage", visit_times(at("2026-11-24 09:15"), "iv", DEFAULTS))


@pytest.mark.parametrize(
    ("zone", "visit", "expected_utc"),
    [
        pytest.param(NY, "2027-03-14 10:00", "2027-03-13 23:00", id="ny saturday before (EST)"),
        pytest.param(NY, "2027-03-15 10:00", "2027-03-14 22:00", id="ny spring sunday (EDT)"),
        pytest.param(NY, "2026-11-01 10:00", "2026-10-31 22:00", id="ny saturday before (EDT)"),
        pytest.param(NY, "2026-11-02 10:00", "2026-11-01 23:00", id="ny fall sunday (EST)"),
        pytest.param(DENVER, "2027-03-14 10:00", "2027-03-14 01:00", id="denver before (MST)"),
        pytest.param(DENVER, "2027-03-15 10:00", "2027-03-15 00:00", id="denver spring (MDT)"),
        pytest.param(DENVER, "2026-11-01 10:00", "2026-11-01 00:00", id="denver before (MDT)"),
        pytest.param(DENVER, "2026-11-02 10:00", "2026-11-02 01:00", id="denver fall (MST)"),
    ],
)
def test_day_before_text_is_at_six_pm_local_across_dst(
    zone: ZoneInfo, visit: str, expected_utc: str
) -> None:
    (fasting,) = [t for t in plan(visit, zone=zone) if "fasting" in t.kinds]
    assert fasting.due_at == utc(expected_utc)
    assert fasting.due_at.astimezone(zone).time() == time(18, 0)


@pytest.mark.parametrize(
    ("zone", "visit", "expected_utc"),
    [
        pytest.param(NY, "2026-10-31 11:00", "2026-11-01 15:00", id="ny fall back sunday"),
        pytest.param(DENVER, "2026-10-31 11:00", "2026-11-01 17:00", id="denver fall back"),
        pytest.param(NY, "2027-03-13 11:00", "2027-03-14 14:00", id="ny spring forward sunday"),
        pytest.param(DENVER, "2027-03-13 11:00", "2027-03-14 16:00", id="denver spring forward"),
    ],
)
def test_check_in_after_a_saturday_visit_is_at_ten_am_local_on_the_dst_sunday(
    zone: ZoneInfo, visit: str, expected_utc: str
) -> None:
    (checkin,) = [t for t in plan(visit, zone=zone) if t.kinds == ("checkin",)]
    assert checkin.due_at == utc(expected_utc)
    assert checkin.due_at.astimezone(zone).time() == time(10, 0)


def test_spring_forward_sunday_visit_is_planned_in_true_local_times() -> None:
    assert shown(plan("2027-03-14 08:00")) == [
        ("fasting,arrival", "2027-03-13 18:00"),
        ("checkin", "2027-03-15 10:00"),
    ]


@pytest.mark.parametrize(
    ("start", "treatment", "expected"),
    [
        pytest.param(
            "2026-11-24 07:30",
            "iv",
            [("fasting,arrival", "2026-11-23 18:00"), ("checkin", "2026-11-25 10:00")],
            id="07:30 arrival moves to the evening before and merges",
        ),
        pytest.param(
            "2026-11-24 09:15",
            "iv",
            [("fasting,arrival", "2026-11-23 18:00"), ("checkin", "2026-11-25 10:00")],
            id="09:15 arrival at 06:15 moves to 20:00 the evening before and merges",
        ),
        pytest.param(
            "2026-11-24 11:00",
            "iv",
            [("fasting,arrival", "2026-11-23 18:00"), ("checkin", "2026-11-25 10:00")],
            id="11:00 arrival at 08:00 is a minute of quiet hours too early",
        ),
        pytest.param(
            "2026-11-24 12:00",
            "iv",
            [
                ("fasting", "2026-11-23 18:00"),
                ("arrival", "2026-11-24 09:00"),
                ("checkin", "2026-11-25 10:00"),
            ],
            id="12:00 arrival at 09:00 opens the window",
        ),
        pytest.param(
            "2026-11-24 19:30",
            "iv",
            [
                ("fasting", "2026-11-23 18:00"),
                ("arrival", "2026-11-24 16:30"),
                ("checkin", "2026-11-25 10:00"),
            ],
            id="19:30 arrival at 16:30 the same day",
        ),
        pytest.param(
            "2026-11-24 23:30",
            "iv",
            [
                ("fasting", "2026-11-23 18:00"),
                ("arrival", "2026-11-24 19:50"),
                ("checkin", "2026-11-25 10:00"),
            ],
            id="23:30 arrival at 20:30 moves back to 19:50, ten minutes before the window closes",
        ),
        pytest.param(
            "2026-11-24 22:55",
            "iv",
            [
                ("fasting", "2026-11-23 18:00"),
                ("arrival", "2026-11-24 19:50"),
                ("checkin", "2026-11-25 10:00"),
            ],
            id="22:55 arrival at 19:55 is inside the last ten minutes, so it moves to 19:50",
        ),
        pytest.param(
            "2026-11-24 00:30",
            "iv",
            [("fasting,arrival", "2026-11-23 17:30"), ("checkin", "2026-11-25 10:00")],
            id="00:30 fast starts 18:30 so the fasting text moves before it",
        ),
        pytest.param(
            "2026-11-24 00:00",
            "iv",
            [("fasting,arrival", "2026-11-23 17:00"), ("checkin", "2026-11-25 10:00")],
            id="midnight arrival moved back to 19:50 joins the 17:00 fasting text",
        ),
        pytest.param(
            "2026-11-24 00:30",
            "nasal",
            [("fasting,arrival", "2026-11-23 18:00"), ("checkin", "2026-11-25 10:00")],
            id="nasal 00:30 fast starts 22:30 so 18:00 stands",
        ),
        pytest.param(
            "2026-11-24 07:30",
            "nasal",
            [("fasting,arrival", "2026-11-23 18:00"), ("checkin", "2026-11-25 10:00")],
            id="nasal 07:30",
        ),
    ],
)
def test_visit_at_the_edges_of_the_day_is_planned(
    start: str, treatment: str, expected: list[tuple[str, str]]
) -> None:
    assert shown(plan(start, treatment=treatment)) == expected


def test_merged_text_covers_both_kinds_and_lives_until_the_start() -> None:
    (merged, _) = plan("2026-11-24 09:15")
    assert merged.kinds == ("fasting", "arrival")
    assert merged.due_at == at("2026-11-23 18:00")
    assert dict(merged.kind_expiry) == {
        "fasting": utc("2026-11-24 08:15"),
        "arrival": utc("2026-11-24 14:15"),
    }
    assert merged.expires_at == utc("2026-11-24 14:15")
    assert merged.skipped_reason is None


def test_texts_are_not_merged_when_merging_is_turned_off() -> None:
    timing = TimingSettings(merge_within_hours=0)
    assert shown(plan("2026-11-24 09:15", timing=timing)) == [
        ("fasting", "2026-11-23 18:00"),
        ("arrival", "2026-11-23 19:50"),
        ("checkin", "2026-11-25 10:00"),
    ]


@pytest.mark.parametrize("treatment", ["iv", "nasal"])
@pytest.mark.parametrize("clock", ["07:30", "09:15", "10:00", "14:00", "19:30"])
def test_monday_wednesday_friday_series_fits_the_cap_without_skipping(
    clock: str, treatment: str
) -> None:
    days = ["2026-11-09", "2026-11-11", "2026-11-13", "2026-11-16", "2026-11-18", "2026-11-20"]
    texts = plan(*(f"{day} {clock}" for day in days), treatment=treatment)
    assert all(t.skipped_reason is None for t in texts)
    assert max(per_local_day(texts, NY).values()) <= DEFAULTS.daily_cap
    covered = Counter((t.key, kind) for t in texts for kind in t.kinds)
    assert covered == {
        (key, kind): 1 for key in range(6) for kind in ("fasting", "arrival", "checkin")
    }


def daily(clock: str, count: int = 10) -> list[str]:
    """Return local start times on consecutive days."""
    first = date(2026, 11, 9)
    return [f"{first + timedelta(days=n)} {clock}" for n in range(count)]


def test_daily_visits_skip_check_ins_to_keep_two_texts_a_day() -> None:
    # Each day would carry yesterday's check-in (10:00), today's arrival (11:00) and tomorrow's
    # fasting text (18:00): one too many.
    texts = plan(*daily("14:00"))
    assert max(per_local_day(texts, NY).values()) == 2
    skipped = [t for t in texts if t.skipped_reason is not None]
    assert skipped and {t.kinds for t in skipped} == {("checkin",)}
    assert {t.skipped_reason for t in skipped} == {SKIPPED_DAILY_CAP}
    assert all(t.skipped_reason is None for t in texts if "fasting" in t.kinds)
    assert all(t.skipped_reason is None for t in texts if "arrival" in t.kinds)


def test_daily_cap_of_one_skips_arrivals_too_but_never_fasting() -> None:
    texts = plan(*daily("14:00"), timing=TimingSettings(daily_cap=1))
    assert max(per_local_day(texts, NY).values()) == 1
    fasting = [t for t in texts if "fasting" in t.kinds]
    assert len(fasting) == 10 and all(t.skipped_reason is None for t in fasting)
    skipped_kinds = {t.kinds for t in texts if t.skipped_reason == SKIPPED_DAILY_CAP}
    assert skipped_kinds == {("checkin",), ("arrival",)}


def test_daily_cap_merges_one_visits_texts_before_skipping_anything() -> None:
    # With merging by closeness off, tomorrow's 18:00 fasting and 20:00 arrival texts plus
    # yesterday's check-in make three; merging the first two keeps the check-in.
    texts = plan(*daily("10:00"), timing=TimingSettings(merge_within_hours=0))
    assert all(t.skipped_reason is None for t in texts)
    assert max(per_local_day(texts, NY).values()) == 2
    merged = [t for t in texts if t.kinds == ("fasting", "arrival")]
    assert merged and all(t.due_at.astimezone(NY).time() == time(18, 0) for t in merged)
    assert sum(1 for t in texts if t.kinds == ("checkin",)) == 10


def test_daily_cap_skips_the_check_in_first_then_the_latest_arrival() -> None:
    # Two visits on the 10th (12:00 and 16:00) and one on the 9th: the 10th carries the 9th's
    # check-in (10:00) and arrivals at 09:00 and 13:00.
    texts = plan(
        "2026-11-09 12:00",
        "2026-11-10 12:00",
        "2026-11-10 16:00",
        timing=TimingSettings(daily_cap=1),
    )
    on_the_tenth = [t for t in texts if t.due_at.astimezone(NY).date() == date(2026, 11, 10)]
    assert [(shown([t])[0], t.skipped_reason) for t in on_the_tenth] == [
        (("arrival", "2026-11-10 09:00"), None),
        (("checkin", "2026-11-10 10:00"), SKIPPED_DAILY_CAP),
        (("arrival", "2026-11-10 13:00"), SKIPPED_DAILY_CAP),
    ]


def test_two_fasting_texts_on_one_day_both_go_out_even_over_the_cap() -> None:
    texts = plan("2026-11-10 10:00", "2026-11-10 15:00", timing=TimingSettings(daily_cap=1))
    fasting = [t for t in texts if "fasting" in t.kinds]
    assert len(fasting) == 2 and all(t.skipped_reason is None for t in fasting)


SWEEP_DAYS = [
    date(2026, 11, 24),
    date(2026, 10, 31),
    FALL_BACK,
    date(2026, 11, 2),
    date(2027, 3, 13),
    SPRING_FORWARD,
    date(2027, 3, 15),
]


def sweep(day: date, zone: ZoneInfo) -> list[datetime]:
    """Return every 15th real minute from local midnight through the local day."""
    first = wall_time(day, time(0, 0), zone)
    starts = [first + timedelta(minutes=15 * n) for n in range(100)]
    return [s for s in starts if s.astimezone(zone).date() == day]


def assert_plan_keeps_the_rules(
    visits: Sequence[Visit], texts: Sequence[PlannedText], zone: ZoneInfo, timing: TimingSettings
) -> None:
    """Check the invariants every plan must keep."""
    by_key = {visit.key: visit for visit in visits}
    covered = Counter((t.key, kind) for t in texts for kind in t.kinds)
    assert covered == {(v.key, k): 1 for v in visits for k in ("fasting", "arrival", "checkin")}
    for text in texts:
        visit = by_key[text.key]
        times = visit_times(visit.start, visit.treatment, timing, zone)
        local = text.due_at.astimezone(zone)
        assert text.due_at.tzinfo is UTC
        assert in_window(text.due_at, zone, timing), (text, local)
        assert list(text.kinds) == sorted(text.kinds, key=("fasting", "arrival", "checkin").index)
        assert text.expires_at == max(text.kind_expiry.values())
        for kind in text.kinds:
            assert text.kind_expiry[kind] == kind_expiry(kind, times)
            assert text.due_at < text.kind_expiry[kind]
        if "fasting" in text.kinds:
            day_before = times.start.astimezone(zone).date() - timedelta(days=1)
            assert text.due_at <= wall_time(day_before, timing.day_before_time, zone)
            assert text.due_at <= times.no_food_after - FASTING_NOTICE
            assert text.skipped_reason is None
        if "arrival" in text.kinds:
            assert text.due_at <= times.start - timedelta(hours=timing.arrival_lead_hours)
        if "checkin" in text.kinds:
            assert local.date() == times.start.astimezone(zone).date() + timedelta(days=1)
        assert text.skipped_reason in (None, SKIPPED_DAILY_CAP)
    busy = {day: n for day, n in per_local_day(texts, zone).items() if n > timing.daily_cap}
    for day in busy:
        # Only fasting texts may push a day over the cap.
        on_day = [t for t in texts if t.due_at.astimezone(zone).date() == day]
        assert all("fasting" in t.kinds for t in on_day if t.skipped_reason is None)


@pytest.mark.parametrize("treatment", ["iv", "nasal"])
@pytest.mark.parametrize("zone", [NY, DENVER], ids=["new_york", "denver"])
@pytest.mark.parametrize("day", SWEEP_DAYS, ids=str)
def test_every_start_time_through_the_day_keeps_every_rule(
    day: date, zone: ZoneInfo, treatment: str
) -> None:
    for start in sweep(day, zone):
        visits = [Visit("a", start, treatment)]
        assert_plan_keeps_the_rules(visits, plan_patient(visits, zone, DEFAULTS), zone, DEFAULTS)


@settings(max_examples=150, deadline=None)
@given(
    slots=st.lists(st.integers(0, 14 * 96 - 1), min_size=1, max_size=8, unique=True),
    treatments=st.lists(st.sampled_from(["iv", "nasal"]), min_size=8, max_size=8),
    zone=st.sampled_from([NY, DENVER, ZoneInfo("Europe/Madrid"), ZoneInfo("Pacific/Auckland")]),
    cap=st.integers(1, 3),
    merge=st.sampled_from([0.0, 1.0, 3.0]),
)
def test_any_set_of_visits_keeps_every_rule(
    slots: list[int], treatments: list[str], zone: ZoneInfo, cap: int, merge: float
) -> None:
    # Two weeks of 15-minute slots around the US fall-back weekend.
    first = wall_time(date(2026, 10, 26), time(0, 0), zone)
    visits = [
        Visit(f"v{n}", first + timedelta(minutes=15 * slot), treatments[n])
        for n, slot in enumerate(slots)
    ]
    timing = TimingSettings(daily_cap=cap, merge_within_hours=merge)
    texts = plan_patient(visits, zone, timing)
    assert_plan_keeps_the_rules(visits, texts, zone, timing)
    assert texts == sorted(texts, key=lambda t: (t.due_at, t.key))


def planned_through_the_daily_cap(
    visits: Sequence[Visit], zone: ZoneInfo, timing: TimingSettings
) -> list[PlannedText]:
    """Plan visits the long way, every text through the daily cap's merges and skips."""
    import schedules.planner as planner

    memo = planner.PlanMemo(zone, timing)
    ranks = planner._ranks(visits)
    drafts = [d for v in visits for d in planner._visit_drafts(v, ranks[v.key], memo)]
    drafts = planner._apply_daily_cap(drafts, timing)
    return [draft.freeze() for draft in sorted(drafts, key=planner._Draft.sort_key)]


@settings(max_examples=150, deadline=None)
@given(
    slots=st.lists(st.integers(0, 14 * 96 - 1), min_size=1, max_size=8, unique=True),
    treatments=st.lists(st.sampled_from(["iv", "nasal"]), min_size=8, max_size=8),
    zone=st.sampled_from([NY, DENVER, ZoneInfo("Pacific/Auckland")]),
    cap=st.integers(1, 3),
)
def test_a_plan_with_no_day_over_the_cap_is_what_the_daily_cap_would_give(
    slots: list[int], treatments: list[str], zone: ZoneInfo, cap: int
) -> None:
    """plan_patient skips the cap's loop when no local day is over; the texts are the same."""
    first = wall_time(date(2026, 10, 26), time(0, 0), zone)
    visits = [
        Visit(f"v{n}", first + timedelta(minutes=15 * slot), treatments[n])
        for n, slot in enumerate(slots)
    ]
    timing = TimingSettings(daily_cap=cap)
    assert plan_patient(visits, zone, timing) == planned_through_the_daily_cap(visits, zone, timing)


def test_same_visits_in_any_order_give_the_same_plan() -> None:
    starts = ["2026-11-09 14:00", "2026-11-10 14:00", "2026-11-10 19:30", "2026-11-12 07:30"]
    visits = [Visit(f"appt-{n}", at(s), "iv") for n, s in enumerate(starts)]
    expected = plan_patient(visits, NY, DEFAULTS)
    assert plan_patient(list(visits), NY, DEFAULTS) == expected
    shuffled = list(visits)
    random.Random(7).shuffle(shuffled)
    assert plan_patient(shuffled, NY, DEFAULTS) == expected
    assert [(t.due_at, t.key) for t in expected] == sorted((t.due_at, t.key) for t in expected)


def test_texts_due_together_are_ordered_by_key() -> None:
    texts = plan_patient(
        [Visit("b", at("2026-11-10 15:00"), "iv"), Visit("a", at("2026-11-10 16:00"), "iv")],
        NY,
        DEFAULTS,
    )
    at_six = [t.key for t in texts if t.due_at == at("2026-11-09 18:00")]
    assert at_six == ["a", "b"]


def test_no_visits_plan_no_texts() -> None:
    assert plan_patient([], NY, DEFAULTS) == []


def test_duplicate_visit_keys_are_refused() -> None:
    visit = Visit(1, at("2026-11-10 15:00"), "iv")
    with pytest.raises(ValueError, match="unique"):
        plan_patient([visit, visit], NY, DEFAULTS)


@pytest.mark.parametrize(
    ("day", "clock", "expected_utc"),
    [
        pytest.param(SPRING_FORWARD, time(2, 30), "2027-03-14 06:30", id="skipped: 01:30 EST"),
        pytest.param(FALL_BACK, time(1, 30), "2026-11-01 05:30", id="repeated: first, EDT"),
        pytest.param(SPRING_FORWARD, time(18, 0), "2027-03-14 22:00", id="ordinary: EDT"),
    ],
)
def test_wall_time_picks_the_earlier_instant_when_a_clock_time_is_skipped_or_repeated(
    day: date, clock: time, expected_utc: str
) -> None:
    assert wall_time(day, clock, NY) == utc(expected_utc)


def test_day_before_text_set_to_a_skipped_clock_time_goes_out_earlier() -> None:
    timing = TimingSettings(day_before_time=time(2, 30), window_start=time(0, 0))
    # The visit is Monday 2027-03-15; Sunday's 02:30 does not exist, so 01:30 EST.
    (fasting,) = [t for t in plan("2027-03-15 12:00", timing=timing) if "fasting" in t.kinds]
    assert fasting.due_at == utc("2027-03-14 06:30")


def test_check_in_before_the_window_moves_to_its_opening() -> None:
    timing = TimingSettings(day_after_time=time(7, 0))
    (checkin,) = [t for t in plan("2026-11-24 12:00", timing=timing) if "checkin" in t.kinds]
    assert checkin.due_at == at("2026-11-25 09:00")


def test_check_in_after_the_window_moves_back_into_its_own_day() -> None:
    timing = TimingSettings(day_after_time=time(21, 30))
    (checkin,) = [t for t in plan("2026-11-24 12:00", timing=timing) if "checkin" in t.kinds]
    assert checkin.due_at == at("2026-11-25 19:50")


def test_settings_come_from_a_clinics_settings_dict() -> None:
    timing = TimingSettings.from_settings(
        {
            "fasting_hours_iv": 8,
            "day_before_time": "17:30",
            "window_end": "19:00",
            "daily_cap": 3,
            "content_dir": "/clinics/a",  # another module's setting: ignored
        }
    )
    assert timing == TimingSettings(
        fasting_hours_iv=8.0, day_before_time=time(17, 30), window_end=time(19, 0), daily_cap=3
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"day_before_time": "6pm"}, "HH:MM", id="time in words"),
        pytest.param({"window_start": "24:00"}, "HH:MM", id="hour out of range"),
        pytest.param({"daily_cap": 0}, "at least 1", id="cap zero"),
        pytest.param({"daily_cap": 2.5}, "whole number", id="cap fraction"),
        pytest.param({"fasting_hours_iv": "six"}, "a number", id="hours in words"),
        pytest.param({"fasting_hours_iv": True}, "a number", id="hours as a flag"),
        pytest.param({"fasting_hours_iv": float("nan")}, "finite", id="not a number"),
        pytest.param({"merge_within_hours": -1}, "at least 0", id="negative"),
        pytest.param({"window_start": "21:00"}, "window_start", id="window inside out"),
        pytest.param({"liquids_hours_iv": 8}, "liquids_hours_iv", id="liquids longer than food"),
        pytest.param(
            {"arrival_lead_hours": 0.25, "arrive_early_minutes": 30},
            "arrival_lead_hours",
            id="arrival text after arrive-by",
        ),
    ],
)
def test_unusable_settings_are_refused_with_the_key_named(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TimingSettings.from_settings(values)


def test_every_timing_field_has_a_setting_spec_with_its_default() -> None:
    assert list(SETTING_SPECS) == [f.name for f in fields(TimingSettings)]
    defaults = TimingSettings.from_settings(
        {key: spec.default for key, spec in SETTING_SPECS.items()}
    )
    assert defaults == DEFAULTS
    assert all(spec.help for spec in SETTING_SPECS.values())


@pytest.mark.parametrize(
    ("key", "raw", "stored"),
    [
        ("day_before_time", " 7:05 ", "07:05"),
        ("fasting_hours_iv", "8", 8.0),
        ("daily_cap", "3", 3),
        ("liquids_hours_nasal", "0.5", 0.5),
    ],
)
def test_command_line_values_are_parsed_to_their_stored_form(
    key: str, raw: str, stored: object
) -> None:
    assert parse_timing_setting(key, raw) == stored


@pytest.mark.parametrize(
    ("key", "raw"),
    [("daily_cap", "11"), ("window_end", "8pm"), ("fasting_hours_iv", "25"), ("dosage", "1")],
)
def test_bad_command_line_values_are_refused(key: str, raw: str) -> None:
    with pytest.raises(ValueError):
        parse_timing_setting(key, raw)


def test_window_bounds_are_inclusive() -> None:
    assert in_window(at("2026-11-24 09:00"), NY, DEFAULTS)
    assert in_window(at("2026-11-24 20:00"), NY, DEFAULTS)
    assert not in_window(at("2026-11-24 20:01"), NY, DEFAULTS)
    assert not in_window(at("2026-11-24 08:59"), NY, DEFAULTS)


def test_planned_days_never_exceed_the_cap_for_a_busy_fortnight() -> None:
    texts = plan(*daily("14:00", 14), *daily("09:00", 14)[::2])
    by_day: defaultdict[date, list[str]] = defaultdict(list)
    for text in texts:
        if text.skipped_reason is None:
            by_day[text.due_at.astimezone(NY).date()].append(",".join(text.kinds))
    for day, kinds in by_day.items():
        assert len(kinds) <= 2 or all("fasting" in k for k in kinds), (day, kinds)
