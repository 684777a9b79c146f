"""Check content before it reaches a patient: complete, within budget, unambiguous, safe."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from messages.catalog import (
    FALLBACK_LANGUAGE,
    SNIPPET_IDS,
    Catalog,
    ContentError,
    Snippet,
    render_text,
)
from messages.intents import INFO_TOPICS, LANGUAGES, REMINDER_SNIPPETS
from messages.reminders import LONGEST_VISIT_VALUES
from messages.segments import count_segments, non_gsm_characters

# Long but plausible clinic values: a snippet that fits with these fits every real clinic.
LONGEST_VALUES: Mapping[str, str] = {
    "clinic_name": "Northside Ketamine & Wellness Center LLC",
    "clinic_phone": "+1 (555) 555-0199",
    "clinic_hours": "Mon-Fri 8:00 AM-6:00 PM, Sat 9:00 AM-1:00 PM",
}

# Carrier opt-out/opt-in words and the appointment words: the matcher reserves them, so a topic
# keyword or phrasing equal to one of them would be unreachable or, worse, change consent.
RESERVED_WORDS: frozenset[str] = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "opt out",
        "start",
        "yes",
        "unstop",
        "next",
        "c",
        "r",
        "ride",
        "call",
    }
)
APPOINTMENT_WORDS: tuple[str, ...] = ("NEXT", "C", "R", "RIDE", "CALL")

# Texts that go out for state changes or to anyone who texts the number: no treatment named,
# as they show on lock screens and shared phones.
NO_TREATMENT_NAME: tuple[str, ...] = (
    "crisis",
    "crisis_screen",
    "emergency",
    "opt_out",
    "opt_in",
    "no_appointment",
    "reschedule_ack",
    "call_ack",
    "rate_limited",
    "fallback",
    "help",
    "menu",
    "next_appointment",
    "confirmed",
    "ride_ack",
    "checkin_thanks",
    "checkin_low",
)
_TREATMENT_NAME = re.compile(r"ketamin|spravato", re.IGNORECASE)

# Reminders go out unprompted (CARE.md, Privacy): besides the drug, no treatment, route,
# diagnosis or symptom. Word stems in English and Spanish, matched from the start of a word.
_NOT_IN_REMINDERS = re.compile(
    r"\b(?:(?:es)?ketamin|spravato|ketalar|infusi|intraven|iv\b|nasal|e?spray|"
    r"depres|antidepres|anxi|ansiedad|ptsd|tept\b|trauma|suicid|bipolar|ocd\b|"
    r"psych|psiq|mental|nause|náusea|dizz|mare[oa]|pain\b|dolor|dissocia|disocia|"
    r"migraine|migraña)",
    re.IGNORECASE,
)
# Fasting reminders state clock times ({no_food_after}), never durations a patient must count back.
_DURATION = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:hours?|hrs?|minutes?|mins?|horas?|minutos?)\b", re.IGNORECASE
)
_FASTING_REMINDERS: tuple[str, ...] = ("reminder_fasting", "reminder_fasting_arrival")


@dataclass(frozen=True)
class Requirement:
    """A piece of text a snippet must contain."""

    needle: str
    ignore_case: bool = False
    # A whole word: "1" in "from 1 (very poor)", not the 1 inside "911".
    word: bool = False

    def met_by(self, text: str) -> bool:
        """Return whether text contains the needle."""
        if self.word:
            flags = re.IGNORECASE if self.ignore_case else 0
            return re.search(rf"(?<!\w){re.escape(self.needle)}(?!\w)", text, flags) is not None
        if self.ignore_case:
            return self.needle.casefold() in text.casefold()
        return self.needle in text


def _exact(*needles: str) -> tuple[Requirement, ...]:
    """Return case-sensitive requirements (keywords a patient must type as shown, numbers)."""
    return tuple(Requirement(needle) for needle in needles)


def _words(*needles: str) -> tuple[Requirement, ...]:
    """Return case-sensitive whole-word requirements (keywords and numbers a patient types)."""
    return tuple(Requirement(needle, word=True) for needle in needles)


def _both(*requirements: Requirement) -> dict[str, tuple[Requirement, ...]]:
    """Return the same requirements for every language."""
    return {language: requirements for language in LANGUAGES}


_HELP_COMMON = _exact("{clinic_name}", "{clinic_phone}", "{clinic_hours}", "STOP", "911", "988")
# Every reminder: who it is from, how to call back, how to stop (CARE.md: Privacy, Consent).
_REMINDER_COMMON = (*_exact("{clinic_name}", "{clinic_phone}"), *_words("STOP"))
_VISIT = _exact("{visit_day}", "{visit_time}")
_FASTING = _exact("{no_food_after}", "{liquids_until}")
_DRIVER = {
    "en": (Requirement("drive", ignore_case=True),),
    "es": (Requirement("manej", ignore_case=True),),
}

# snippet id -> language -> what its raw text must contain.
REQUIRED: Mapping[str, Mapping[str, tuple[Requirement, ...]]] = {
    "help": {
        "en": (
            *_HELP_COMMON,
            Requirement("automated", ignore_case=True),
            Requirement("Msg & data rates may apply", ignore_case=True),
        ),
        "es": (
            *_HELP_COMMON,
            Requirement("automatizad", ignore_case=True),
            Requirement("tarifas de mensajes y datos", ignore_case=True),
        ),
    },
    "fallback": {"en": _exact("{clinic_phone}", "911"), "es": _exact("{clinic_phone}", "911")},
    "crisis": {"en": _exact("988", "911"), "es": _exact("988", "911")},
    "crisis_screen": {"en": _exact("988", "911"), "es": _exact("988", "911")},
    "emergency": {"en": _exact("911"), "es": _exact("911")},
    "urgent": {
        "en": _exact("911", "988", "{clinic_phone}"),
        "es": _exact("911", "988", "{clinic_phone}"),
    },
    "opt_out": {"en": _exact("START"), "es": _exact("START")},
    "opt_in": {"en": _exact("STOP"), "es": _exact("STOP")},
    "no_appointment": {"en": _exact("{clinic_phone}"), "es": _exact("{clinic_phone}")},
    "rate_limited": {
        "en": _exact("{clinic_phone}", "911"),
        "es": _exact("{clinic_phone}", "911"),
    },
    "next_appointment": _both(*_VISIT, *_words("C", "R")),
    "confirmed": _both(*_VISIT),
    "ride_ack": _DRIVER,
    "checkin_thanks": _both(*_exact("{clinic_phone}")),
    "checkin_low": _both(*_exact("{clinic_phone}", "988", "911")),
    "reminder_fasting": _both(*_REMINDER_COMMON, *_VISIT, *_FASTING),
    "reminder_arrival": {
        language: (*_REMINDER_COMMON, *_VISIT, *_exact("{arrive_by}"), *driver)
        for language, driver in _DRIVER.items()
    },
    "reminder_fasting_arrival": {
        language: (*_REMINDER_COMMON, *_VISIT, *_FASTING, *_exact("{arrive_by}"), *driver)
        for language, driver in _DRIVER.items()
    },
    "reminder_checkin": _both(*_REMINDER_COMMON, *_words("1", "5", "CALL")),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content."""

    snippet_id: str
    language: str | None
    message: str


def normalise_phrase(text: str) -> str:
    """Return text lowercased, without accents or punctuation, with single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    kept = "".join(char if char.isalnum() or char.isspace() else "" for char in letters)
    return " ".join(kept.split())


def _longest(language: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the longest plausible value of every placeholder in one language."""
    visit = LONGEST_VISIT_VALUES.get(language, LONGEST_VISIT_VALUES[FALLBACK_LANGUAGE])
    return {**LONGEST_VALUES, **visit, **(overrides or {})}


def _check_present(catalog: Catalog) -> Iterable[Problem]:
    """Report snippets missing from a language."""
    for snippet_id in SNIPPET_IDS:
        for language in LANGUAGES:
            if catalog.has(snippet_id, language):
                continue
            if language == FALLBACK_LANGUAGE:
                effect = "nothing can be sent for it"
            else:
                effect = f"{language} patients would get the English text"
            yield Problem(snippet_id, language, f"missing from {language}.toml; {effect}")


def _check_fits(snippet: Snippet, values: Mapping[str, str]) -> Iterable[Problem]:
    """Report a snippet that does not render, or renders over its segment budget."""
    try:
        text = render_text(snippet, values)
    except ContentError as error:
        yield Problem(snippet.id, snippet.language, str(error))
        return
    count = count_segments(text)
    if count.segments > snippet.budget:
        why = ""
        if count.encoding == "UCS-2":
            shown = " ".join(repr(char) for char in non_gsm_characters(text))
            why = f"; UCS-2 because of {shown}"
        yield Problem(
            snippet.id,
            snippet.language,
            f"over budget: {count.segments} segments ({count.encoding}, {count.units} units, "
            f"{count.characters} characters) with the longest clinic values; budget is "
            f"{snippet.budget}{why}",
        )


def _check_phrases(catalog: Catalog) -> Iterable[Problem]:
    """Report keywords/phrasings that are reserved, misplaced, or reach two snippets."""
    owners: dict[tuple[str, str], str] = {}
    for snippet in catalog.snippets():
        phrases = snippet.keywords + snippet.phrasings
        if snippet.id not in INFO_TOPICS:
            if phrases:
                yield Problem(
                    snippet.id,
                    snippet.language,
                    "keywords/phrasings are only for info topics; this snippet is never asked for",
                )
            continue
        for phrase in phrases:
            normal = normalise_phrase(phrase)
            if not normal:
                yield Problem(snippet.id, snippet.language, f"{phrase!r} is empty once normalised")
                continue
            if normal in RESERVED_WORDS:
                yield Problem(
                    snippet.id,
                    snippet.language,
                    f"{phrase!r} is an opt-out/opt-in or appointment word and cannot be a topic",
                )
                continue
            owner = owners.setdefault((snippet.language, normal), snippet.id)
            if owner != snippet.id:
                yield Problem(
                    snippet.id,
                    snippet.language,
                    f"{phrase!r} (normalised {normal!r}) also belongs to {owner}",
                )


def _check_required(snippet: Snippet) -> Iterable[Problem]:
    """Report required content missing from a snippet's text."""
    for requirement in REQUIRED.get(snippet.id, {}).get(snippet.language, ()):
        if not requirement.met_by(snippet.text):
            yield Problem(snippet.id, snippet.language, f"must contain {requirement.needle!r}")
    if snippet.id in NO_TREATMENT_NAME:
        match = _TREATMENT_NAME.search(snippet.text)
        if match:
            yield Problem(
                snippet.id,
                snippet.language,
                f"must not name the treatment ({match.group(0)!r}): it shows on lock screens",
            )
    if snippet.id in REMINDER_SNIPPETS:
        match = _NOT_IN_REMINDERS.search(snippet.text)
        if match:
            yield Problem(
                snippet.id,
                snippet.language,
                f"must not name a drug, treatment, diagnosis or symptom ({match.group(0)!r}): "
                "reminders show on lock screens",
            )
    if snippet.id in _FASTING_REMINDERS:
        match = _DURATION.search(snippet.text)
        if match:
            yield Problem(
                snippet.id,
                snippet.language,
                f"states a duration ({match.group(0)!r}): give clock times with "
                "{no_food_after} and {liquids_until}",
            )
    if not snippet.fact.strip():
        yield Problem(snippet.id, snippet.language, "fact is empty: name what the text rests on")
    if bool(snippet.approved_by) != bool(snippet.approved_at):
        yield Problem(
            snippet.id, snippet.language, "approved_by and approved_at must be set together"
        )


def _has_word(text: str, word: str) -> bool:
    """Return whether word appears in text as a whole word, case-sensitively."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def _check_menu(catalog: Catalog) -> Iterable[Problem]:
    """Report a menu that leaves out a topic, an appointment word or STOP."""
    for language in catalog.languages:
        if not catalog.has("menu", language):
            continue
        menu = catalog.snippet("menu", language).text
        for topic in INFO_TOPICS:
            if topic == "menu" or not catalog.has(topic, language):
                continue
            keywords = catalog.snippet(topic, language).keywords
            if keywords and not any(_has_word(menu, keyword.upper()) for keyword in keywords):
                yield Problem(
                    "menu", language, f"does not list a keyword for {topic} ({keywords[0]})"
                )
        for word in (*APPOINTMENT_WORDS, "STOP"):
            if not _has_word(menu, word):
                yield Problem("menu", language, f"does not list {word}")


def check_catalog(
    catalog: Catalog,
    *,
    strict: bool = False,
    longest_values: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Return every problem with the catalog; strict also reports unapproved snippets."""
    problems = list(_check_present(catalog))
    for snippet in catalog.snippets():
        problems.extend(_check_fits(snippet, _longest(snippet.language, longest_values)))
        problems.extend(_check_required(snippet))
    problems.extend(_check_phrases(catalog))
    problems.extend(_check_menu(catalog))
    if strict:
        problems.extend(
            Problem(
                snippet.id,
                snippet.language,
                f"not approved ({_where(snippet)}): set approved_by and approved_at "
                "in the clinic's override file",
            )
            for snippet in catalog.snippets()
            if not snippet.approved
        )
    order = {snippet_id: index for index, snippet_id in enumerate(SNIPPET_IDS)}
    return sorted(
        problems,
        key=lambda p: (order.get(p.snippet_id, len(order)), p.snippet_id, p.language or ""),
    )


def _where(snippet: Snippet) -> str:
    """Describe where a snippet's text comes from."""
    return "shipped default" if snippet.source == "default" else snippet.source


def format_report(problems: Iterable[Problem]) -> str:
    """Return problems as lines a person can act on, ending with a count."""
    problems = list(problems)
    if not problems:
        return "Content OK: no problems found."
    lines = [f"{p.language or '-'} {p.snippet_id}: {p.message}" for p in problems]
    noun = "problem" if len(problems) == 1 else "problems"
    lines.append(f"{len(problems)} {noun} found.")
    return "\n".join(lines)


def summarise(
    catalog: Catalog, longest_values: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Return one row per snippet: id, language, encoding, units, segments, budget, approval."""
    rows: list[dict[str, Any]] = []
    for snippet in catalog.snippets():
        try:
            count = count_segments(render_text(snippet, _longest(snippet.language, longest_values)))
            encoding, units, segments = count.encoding, count.units, count.segments
        except ContentError:
            encoding, units, segments = "?", None, None
        rows.append(
            {
                "id": snippet.id,
                "language": snippet.language,
                "encoding": encoding,
                "units": units,
                "segments": segments,
                "budget": snippet.budget,
                "approved": snippet.approved,
                "source": _where(snippet),
            }
        )
    return rows


def format_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Return summarise() rows as an aligned plain-text table."""
    columns = ("id", "language", "encoding", "units", "segments", "budget", "approved", "source")
    cells = [list(columns)]
    for row in rows:
        cells.append(["-" if row[c] is None else _cell(row[c]) for c in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _cell(value: Any) -> str:
    """Return one table cell as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
