"""Check content before it reaches a patient: complete, within budget, unambiguous, safe."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from messages.catalog import FALLBACK_LANGUAGE, Catalog, ContentError, Snippet, render_text
from messages.intents import INFO_TOPICS, LANGUAGES, SYSTEM_SNIPPETS
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
)
_TREATMENT_NAME = re.compile(r"ketamin|spravato", re.IGNORECASE)


@dataclass(frozen=True)
class Requirement:
    """A piece of text a snippet must contain."""

    needle: str
    ignore_case: bool = False

    def met_by(self, text: str) -> bool:
        """Return whether text contains the needle."""
        if self.ignore_case:
            return self.needle.casefold() in text.casefold()
        return self.needle in text


def _exact(*needles: str) -> tuple[Requirement, ...]:
    """Return case-sensitive requirements (keywords a patient must type as shown, numbers)."""
    return tuple(Requirement(needle) for needle in needles)


_HELP_COMMON = _exact("{clinic_name}", "{clinic_phone}", "{clinic_hours}", "STOP", "911", "988")

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


def _check_present(catalog: Catalog) -> Iterable[Problem]:
    """Report snippets missing from a language."""
    for snippet_id in INFO_TOPICS + SYSTEM_SNIPPETS:
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
    values = {**LONGEST_VALUES, **(longest_values or {})}
    problems = list(_check_present(catalog))
    for snippet in catalog.snippets():
        problems.extend(_check_fits(snippet, values))
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
    order = {snippet_id: index for index, snippet_id in enumerate(INFO_TOPICS + SYSTEM_SNIPPETS)}
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
    values = {**LONGEST_VALUES, **(longest_values or {})}
    rows: list[dict[str, Any]] = []
    for snippet in catalog.snippets():
        try:
            count = count_segments(render_text(snippet, values))
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
