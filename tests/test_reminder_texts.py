"""Reminder texts: local days and clock times, the snippet for each kind, and what they may say."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from messages.catalog import Catalog, ContentError, load_catalog
from messages.check import check_catalog, format_report, summarise
from messages.intents import LANGUAGES, REMINDER_SNIPPETS
from messages.reminders import (
    LONGEST_VISIT_VALUES,
    REMINDER_SNIPPET,
    ReminderValues,
    local_clock,
    local_day,
    reminder_values,
    render_reminder,
)
from messages.segments import count_segments

NY = ZoneInfo("America/New_York")
DENVER = ZoneInfo("America/Denver")
CLINIC = {
    "clinic_name": "Riverside Clinic",
    "clinic_phone": "(303) 555-0101",
    "clinic_hours": "Mon-Fri 9-5",
}
KINDS = list(REMINDER_SNIPPET)


def utc(text: str) -> datetime:
    """Return a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def values_for(start: str, zone: ZoneInfo, language: str, fast: float = 6, drink: float = 2):
    """Return the reminder values of a visit starting at a UTC instant (IV defaults)."""
    begin = utc(start)
    return reminder_values(
        begin,
        begin - timedelta(hours=fast),
        begin - timedelta(hours=drink),
        begin - timedelta(minutes=15),
        zone,
        language,
    )


def with_text(snippet_id: str, language: str, text: str) -> Catalog:
    """Return the shipped catalog with one snippet's text replaced."""
    return Catalog(
        dataclasses.replace(s, text=text) if (s.id, s.language) == (snippet_id, language) else s
        for s in load_catalog().snippets()
    )


def problems_for(catalog: Catalog, snippet_id: str, language: str) -> list[str]:
    """Return the check's messages about one snippet in one language."""
    return [
        p.message
        for p in check_catalog(catalog)
        if (p.snippet_id, p.language) == (snippet_id, language)
    ]


@pytest.mark.parametrize(
    ("instant", "zone", "en", "es"),
    [
        pytest.param("2026-11-24 14:15", NY, "9:15 AM", "9:15", id="morning"),
        pytest.param("2026-11-24 05:00", NY, "12:00 AM", "0:00", id="midnight"),
        pytest.param("2026-11-24 17:00", NY, "12:00 PM", "12:00", id="noon"),
        pytest.param("2026-09-30 16:45", NY, "12:45 PM", "12:45", id="longest"),
        pytest.param("2026-11-24 20:30", NY, "3:30 PM", "15:30", id="afternoon"),
        pytest.param("2027-03-14 06:00", NY, "1:00 AM", "1:00", id="before spring forward"),
        pytest.param("2027-03-14 07:00", NY, "3:00 AM", "3:00", id="after spring forward"),
        pytest.param("2026-11-01 05:30", NY, "1:30 AM", "1:30", id="first 1:30 of fall back"),
        pytest.param("2026-11-01 06:30", NY, "1:30 AM", "1:30", id="second 1:30 of fall back"),
        pytest.param("2027-03-14 08:00", DENVER, "1:00 AM", "1:00", id="denver spring"),
        pytest.param("2026-11-01 15:00", DENVER, "8:00 AM", "8:00", id="denver fall back"),
    ],
)
def test_clock_times_are_the_clinics_wall_clock(
    instant: str, zone: ZoneInfo, en: str, es: str
) -> None:
    assert local_clock(utc(instant), zone, "en") == en
    assert local_clock(utc(instant), zone, "es") == es


@pytest.mark.parametrize(
    ("instant", "zone", "en", "es"),
    [
        pytest.param("2026-11-24 14:15", NY, "Tue, Nov 24", "mar 24 nov", id="tuesday"),
        pytest.param("2026-09-30 16:00", NY, "Wed, Sep 30", "mié 30 sep", id="wednesday"),
        pytest.param("2026-10-31 16:00", NY, "Sat, Oct 31", "sab 31 oct", id="saturday"),
        pytest.param("2026-11-01 16:00", NY, "Sun, Nov 1", "dom 1 nov", id="sunday"),
        pytest.param("2026-11-25 03:30", NY, "Tue, Nov 24", "mar 24 nov", id="late evening"),
        pytest.param("2026-11-25 03:30", DENVER, "Tue, Nov 24", "mar 24 nov", id="denver"),
        pytest.param("2026-01-01 04:59", NY, "Wed, Dec 31", "mié 31 dic", id="new year's eve"),
    ],
)
def test_days_are_the_clinics_local_date(instant: str, zone: ZoneInfo, en: str, es: str) -> None:
    assert local_day(utc(instant), zone, "en") == en
    assert local_day(utc(instant), zone, "es") == es


def test_unknown_language_gets_english_formats() -> None:
    assert local_clock(utc("2026-11-24 20:30"), NY, "fr") == "3:30 PM"
    assert local_day(utc("2026-11-24 20:30"), NY, "fr") == "Tue, Nov 24"


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_clock(datetime(2026, 11, 24, 9, 15), NY, "en")


@pytest.mark.parametrize(
    ("zone", "language", "expected"),
    [
        # 08:00 EDT on the spring-forward Sunday: the fast starts at 01:00 EST.
        (NY, "en", ReminderValues("Sun, Mar 14", "8:00 AM", "1:00 AM", "6:00 AM", "7:45 AM")),
        (NY, "es", ReminderValues("dom 14 mar", "8:00", "1:00", "6:00", "7:45")),
        (DENVER, "en", ReminderValues("Sun, Mar 14", "6:00 AM", "11:00 PM on Sat, Mar 13",
                                      "4:00 AM", "5:45 AM")),
    ],
)  # fmt: skip
def test_reminder_values_are_local_across_spring_forward(
    zone: ZoneInfo, language: str, expected: ReminderValues
) -> None:
    assert values_for("2027-03-14 12:00", zone, language) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ReminderValues("Sun, Nov 1", "7:00 AM", "1:00 AM", "5:00 AM", "6:45 AM")),
        ("es", ReminderValues("dom 1 nov", "7:00", "1:00", "5:00", "6:45")),
    ],
)
def test_reminder_values_are_local_across_fall_back(
    language: str, expected: ReminderValues
) -> None:
    # 07:00 EST on the fall-back Sunday; six real hours before is the second 01:00.
    assert values_for("2026-11-01 12:00", NY, language) == expected


@pytest.mark.parametrize(
    ("language", "no_food_after"),
    [("en", "11:30 PM on Mon, Nov 23"), ("es", "23:30 del lun 23 nov")],
)
def test_a_cutoff_on_the_day_before_the_visit_carries_its_day(
    language: str, no_food_after: str
) -> None:
    # A 05:30 visit: the fast starts at 23:30 the evening before.
    values = values_for("2026-11-24 10:30", NY, language)
    assert values.no_food_after == no_food_after
    assert values.liquids_until == ("3:30 AM" if language == "en" else "3:30")


@pytest.mark.parametrize("language", LANGUAGES)
def test_longest_values_are_at_least_as_long_as_any_real_value(language: str) -> None:
    longest = LONGEST_VISIT_VALUES[language]
    first = datetime(2026, 1, 1, tzinfo=UTC)
    days = {local_day(first + timedelta(days=n, hours=12), UTC, language) for n in range(366)}
    clocks = {local_clock(first + timedelta(minutes=n), UTC, language) for n in range(24 * 60)}
    units = {name: count_segments(value).units for name, value in longest.items()}
    assert max(count_segments(d).units for d in days) <= units["visit_day"]
    assert max(count_segments(c).units for c in clocks) <= units["visit_time"]
    # Cutoffs at 23:45 the day before a 00:05 visit carry that day, on every day of the year.
    for n in range(366):
        start = first + timedelta(days=n, minutes=5)
        before = start - timedelta(minutes=20)
        values = reminder_values(start, before, before, before, UTC, language)
        for name in ("no_food_after", "liquids_until", "arrive_by"):
            assert count_segments(getattr(values, name)).units <= units[name]


def test_every_kind_combination_has_a_reminder_snippet() -> None:
    assert KINDS == [("fasting",), ("arrival",), ("fasting", "arrival"), ("checkin",)]
    assert sorted(REMINDER_SNIPPET.values()) == sorted(REMINDER_SNIPPETS)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kinds", KINDS, ids=",".join)
def test_every_reminder_names_the_clinic_its_number_and_how_to_stop(
    kinds: tuple[str, ...], language: str
) -> None:
    values = values_for("2026-11-24 14:15", NY, language)
    text = render_reminder(load_catalog(), kinds, language, CLINIC, values)
    assert "Riverside Clinic" in text and "(303) 555-0101" in text
    assert re.search(r"\bSTOP\b", text)
    assert "{" not in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["Tue, Nov 24", "9:15 AM", "3:15 AM", "7:15 AM", "9:00 AM", "driver"]),
        ("es", ["mar 24 nov", "9:15", "3:15", "7:15", "9:00", "adulto", "maneje"]),
    ],
)
def test_merged_text_carries_both_fasting_times_and_the_arrive_by_time(
    language: str, expected: list[str]
) -> None:
    values = values_for("2026-11-24 14:15", NY, language)
    text = render_reminder(load_catalog(), ("fasting", "arrival"), language, CLINIC, values)
    for piece in expected:
        assert piece in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "No solid food after 1:00 AM. Clear liquids like water are OK until 6:00 AM."),
        ("es", "No coma después de 1:00. Puede tomar liquidos claros, como agua, hasta 6:00."),
    ],
)
def test_fasting_text_states_clock_times_in_the_clinics_zone_across_dst(
    language: str, expected: str
) -> None:
    values = values_for("2027-03-14 12:00", NY, language)
    assert expected in render_reminder(load_catalog(), ("fasting",), language, CLINIC, values)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["1 (very poor)", "5 (very well)", "CALL", "Sat, Oct 31"]),
        ("es", ["1 (muy mal)", "5 (muy bien)", "CALL", "sab 31 oct"]),
    ],
)
def test_check_in_asks_for_a_score_from_one_to_five_and_offers_a_call(
    language: str, expected: list[str]
) -> None:
    values = values_for("2026-10-31 15:00", NY, language)
    text = render_reminder(load_catalog(), ("checkin",), language, CLINIC, values)
    for piece in expected:
        assert piece in text


# Words that would tell whoever sees the lock screen what the patient is treated for.
LOCK_SCREEN_WORDS = re.compile(
    r"ketamin|spravato|infusi|\bIV\b|intraven|nasal|spray|depres|anxi|ansiedad|ptsd|suicid|"
    r"psych|psiq|mental health|salud mental|nause|náusea|dizz|mareo",
    re.IGNORECASE,
)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kinds", KINDS, ids=",".join)
def test_no_reminder_names_the_drug_treatment_or_diagnosis(
    kinds: tuple[str, ...], language: str
) -> None:
    values = values_for("2026-11-24 14:15", NY, language)
    text = render_reminder(load_catalog(), kinds, language, CLINIC, values)
    assert LOCK_SCREEN_WORDS.search(text) is None, text


def test_shipped_content_with_reminders_passes_the_check() -> None:
    problems = check_catalog(load_catalog())
    assert problems == [], format_report(problems)


NEW_SNIPPETS = (
    *REMINDER_SNIPPETS,
    "next_appointment",
    "confirmed",
    "ride_ack",
    "checkin_thanks",
    "checkin_low",
)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("snippet_id", NEW_SNIPPETS)
def test_new_snippets_fit_their_budget_in_gsm7_with_the_longest_values(
    snippet_id: str, language: str
) -> None:
    (row,) = [
        r for r in summarise(load_catalog()) if (r["id"], r["language"]) == (snippet_id, language)
    ]
    assert row["encoding"] == "GSM-7"
    assert row["segments"] <= row["budget"] <= 2


def test_rendering_without_a_clinic_value_raises() -> None:
    values = values_for("2026-11-24 14:15", NY, "en")
    clinic = {k: v for k, v in CLINIC.items() if k != "clinic_phone"}
    with pytest.raises(ContentError, match="clinic_phone"):
        render_reminder(load_catalog(), ("arrival",), "en", clinic, values)


def test_rendering_a_kind_mix_without_a_text_raises() -> None:
    values = values_for("2026-11-24 14:15", NY, "en")
    with pytest.raises(ValueError, match="arrival,checkin"):
        render_reminder(load_catalog(), ("arrival", "checkin"), "en", CLINIC, values)


def test_a_visit_text_rendered_without_visit_values_raises() -> None:
    with pytest.raises(ContentError, match="visit_day"):
        load_catalog().render("next_appointment", "en", CLINIC)


@pytest.mark.parametrize(
    ("snippet_id", "language", "text", "reported"),
    [
        pytest.param(
            "reminder_arrival",
            "en",
            "{clinic_name}: your ketamine infusion is {visit_day} at {visit_time}. Arrive by "
            "{arrive_by}, with a driver. Call {clinic_phone}. Reply STOP to opt out.",
            "must not name a drug",
            id="drug",
        ),
        pytest.param(
            "reminder_checkin",
            "en",
            "{clinic_name}: is your depression better? Reply 1 to 5, or CALL {clinic_phone}. "
            "Reply STOP to opt out.",
            "must not name a drug",
            id="diagnosis",
        ),
        pytest.param(
            "reminder_fasting",
            "es",
            "{clinic_name}: su sesion de espray nasal es el {visit_day}, {visit_time}. "
            "No coma después de {no_food_after}, liquidos hasta {liquids_until}. "
            "Llame al {clinic_phone}. Responda STOP.",
            "must not name a drug",
            id="route",
        ),
        pytest.param(
            "reminder_fasting",
            "en",
            "{clinic_name}: your visit is {visit_day} at {visit_time}. No food for 6 hours "
            "before ({no_food_after}), liquids until {liquids_until}. Call {clinic_phone}. "
            "Reply STOP to opt out.",
            "states a duration",
            id="duration",
        ),
        pytest.param(
            "reminder_arrival",
            "en",
            "{clinic_name}: see you {visit_day} at {visit_time}. Arrive by {arrive_by} with a "
            "driver. Call {clinic_phone}.",
            "must contain 'STOP'",
            id="no stop",
        ),
        pytest.param(
            "reminder_checkin",
            "es",
            "{clinic_name}: ¿como se siente? Responda del 1 al 5 o llame al {clinic_phone}. "
            "Responda STOP para darse de baja.",
            "must contain 'CALL'",
            id="no call",
        ),
        pytest.param(
            "reminder_checkin",
            "en",
            "{clinic_name}: how are you? Reply CALL or call {clinic_phone} (or 911). "
            "Reply STOP to opt out.",
            "must contain '1'",
            id="no score",
        ),
        pytest.param(
            "reminder_fasting_arrival",
            "en",
            "{clinic_name}: see you {visit_day} at {visit_time}. No food after "
            "{no_food_after}. Arrive by {arrive_by}, bring a driver. Call {clinic_phone}. "
            "Reply STOP to opt out.",
            "must contain '{liquids_until}'",
            id="merged without liquids time",
        ),
        pytest.param(
            "reminder_arrival",
            "es",
            "{clinic_name}: su cita es el {visit_day}, {visit_time}. Llegada: {arrive_by}. "
            "Llame al {clinic_phone}. Responda STOP para darse de baja.",
            "must contain 'manej'",
            id="no driver",
        ),
        pytest.param(
            "help",
            "en",
            "{clinic_name}: your next visit is {visit_day}. Call {clinic_phone} "
            "({clinic_hours}). Emergency: 911. Crisis: 988. Automated. Msg & data rates may "
            "apply. Reply STOP to opt out.",
            "only for texts about one visit",
            id="visit placeholder where no visit is known",
        ),
        pytest.param(
            "confirmed",
            "en",
            "Thanks, your ketamine visit is confirmed.",
            "must not name the treatment",
            id="confirmation names the drug",
        ),
    ],
)
def test_check_reports_reminder_content_that_breaks_the_rules(
    snippet_id: str, language: str, text: str, reported: str
) -> None:
    messages = problems_for(with_text(snippet_id, language, text), snippet_id, language)
    assert any(reported in message for message in messages), messages


def test_reminder_missing_from_spanish_is_reported() -> None:
    catalog = Catalog(
        s for s in load_catalog().snippets() if (s.id, s.language) != ("reminder_checkin", "es")
    )
    assert problems_for(catalog, "reminder_checkin", "es") == [
        "missing from es.toml; es patients would get the English text"
    ]


def test_clinic_name_with_the_treatment_in_it_is_the_clinics_choice() -> None:
    clinic = {**CLINIC, "clinic_name": "Northside Ketamine Center"}
    values = values_for("2026-11-24 14:15", NY, "en")
    text = render_reminder(load_catalog(), ("arrival",), "en", clinic, values)
    assert text.startswith("Northside Ketamine Center:")


def test_spanish_saturday_has_no_accent_so_texts_stay_gsm7() -> None:
    saturday = local_day(datetime(2026, 10, 31, 16, tzinfo=UTC), NY, "es")
    assert count_segments(saturday).encoding == "GSM-7"
    assert all(
        count_segments(local_day(datetime(2026, 11, d, 16, tzinfo=UTC), NY, "es")).encoding
        == "GSM-7"
        for d in range(1, 8)
    )


def test_reminder_values_convert_to_placeholder_names() -> None:
    values = values_for("2026-11-24 14:15", NY, "en")
    assert values.as_dict() == {
        "visit_day": "Tue, Nov 24",
        "visit_time": "9:15 AM",
        "no_food_after": "3:15 AM",
        "liquids_until": "7:15 AM",
        "arrive_by": "9:00 AM",
    }
