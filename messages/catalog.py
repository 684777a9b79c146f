"""Load the shipped content and a clinic's overrides, and render snippets for sending."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from messages.intents import INFO_TOPICS, LANGUAGES, REMINDER_SNIPPETS, SYSTEM_SNIPPETS

CLINIC_PLACEHOLDERS: tuple[str, ...] = ("clinic_name", "clinic_phone", "clinic_hours")
# Clinic-local day and clock times of one visit (messages.reminders formats them).
VISIT_PLACEHOLDERS: tuple[str, ...] = (
    "visit_day",
    "visit_time",
    "no_food_after",
    "liquids_until",
    "arrive_by",
)
PLACEHOLDERS: tuple[str, ...] = CLINIC_PLACEHOLDERS + VISIT_PLACEHOLDERS
SNIPPET_IDS: tuple[str, ...] = INFO_TOPICS + SYSTEM_SNIPPETS + REMINDER_SNIPPETS
# Only the senders of these texts know which visit they are about, so only these may use the
# visit placeholders; anywhere else one would fail when the text is sent, not when it is checked.
VISIT_SNIPPETS: tuple[str, ...] = (*REMINDER_SNIPPETS, "next_appointment", "confirmed")
FIELDS: tuple[str, ...] = (
    "text",
    "keywords",
    "phrasings",
    "fact",
    "budget",
    "approved_by",
    "approved_at",
    "default",
)
DEFAULT_BUDGET = 2
DEFAULT_SOURCE = "default"
FALLBACK_LANGUAGE = "en"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


@dataclass(frozen=True)
class Snippet:
    """One text the bot can send, in one language."""

    id: str
    language: str
    text: str
    keywords: tuple[str, ...]
    phrasings: tuple[str, ...]
    fact: str
    budget: int
    approved_by: str | None
    approved_at: str | None
    source: str

    @property
    def approved(self) -> bool:
        """Return whether someone at the clinic signed off this exact text, and when."""
        return bool(self.approved_by) and bool(self.approved_at)

    def placeholders(self) -> tuple[str, ...]:
        """Return the placeholder names the text uses, in order of appearance."""
        return tuple(_PLACEHOLDER.findall(self.text))


class ContentError(ValueError):
    """Content that cannot be loaded or rendered; the message names the file and snippet."""


class Catalog:
    """Every snippet in every language, after the clinic's overrides."""

    def __init__(self, snippets: Iterable[Snippet]) -> None:
        """Index snippets by id and language."""
        table: dict[tuple[str, str], Snippet] = {}
        for snippet in snippets:
            table[(snippet.id, snippet.language)] = snippet
        self._table = MappingProxyType(table)
        present = {language for _, language in table}
        ordered = [language for language in LANGUAGES if language in present]
        self.languages: tuple[str, ...] = tuple(ordered + sorted(present - set(ordered)))

    def __repr__(self) -> str:
        """Show how much the catalog holds."""
        return f"<Catalog {len(self._table)} snippets in {', '.join(self.languages)}>"

    def has(self, snippet_id: str, language: str) -> bool:
        """Return whether the language has its own snippet (no fallback)."""
        return (snippet_id, language) in self._table

    def snippet(self, snippet_id: str, language: str) -> Snippet:
        """Return a snippet, in English when the language lacks it; KeyError for an unknown id."""
        found = self._table.get((snippet_id, language))
        if found is None:
            found = self._table.get((snippet_id, FALLBACK_LANGUAGE))
        if found is None:
            raise KeyError(snippet_id)
        return found

    def snippets(self) -> list[Snippet]:
        """Return every snippet, in snippet-id order then language order."""
        order = {snippet_id: index for index, snippet_id in enumerate(SNIPPET_IDS)}
        languages = {language: index for index, language in enumerate(self.languages)}
        return sorted(
            self._table.values(),
            key=lambda s: (order.get(s.id, len(order)), s.id, languages[s.language]),
        )

    def render(self, snippet_id: str, language: str, values: Mapping[str, str]) -> str:
        """Return the snippet's text with placeholders filled, stripped of stray spaces."""
        return render_text(self.snippet(snippet_id, language), values)

    def phrasebook(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Return topic id -> language -> keywords then phrasings, for the info topics."""
        book: dict[str, dict[str, tuple[str, ...]]] = {}
        for topic in INFO_TOPICS:
            book[topic] = {
                language: self._table[(topic, language)].keywords
                + self._table[(topic, language)].phrasings
                for language in self.languages
                if (topic, language) in self._table
            }
        return book


def render_text(snippet: Snippet, values: Mapping[str, str]) -> str:
    """Fill a snippet's placeholders from values; unknown or unfilled placeholders raise."""

    where = f"{_label(snippet)} [snippets.{snippet.id}]"
    allowed = allowed_placeholders(snippet.id)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            raise ContentError(
                f"{where}: unknown placeholder {{{name}}}; allowed: {_braced(allowed)}"
            )
        if name not in allowed:
            raise ContentError(
                f"{where}: {{{name}}} is only for texts about one visit "
                f"({', '.join(VISIT_SNIPPETS)}); allowed here: {_braced(allowed)}"
            )
        if name not in values:
            raise ContentError(f"{where}: no value given for {{{name}}}")
        return str(values[name])

    text = _PLACEHOLDER.sub(fill, snippet.text)
    return _TRAILING_SPACE.sub("", text).strip()


def _label(snippet: Snippet) -> str:
    """Return the file a snippet's text comes from, as a content author would name it."""
    if snippet.source == DEFAULT_SOURCE:
        return f"messages/content/{snippet.language}.toml"
    return snippet.source


def allowed_placeholders(snippet_id: str) -> tuple[str, ...]:
    """Return the placeholders a snippet's text may use."""
    return PLACEHOLDERS if snippet_id in VISIT_SNIPPETS else CLINIC_PLACEHOLDERS


def _braced(names: Iterable[str]) -> str:
    """Return placeholder names as the content author writes them."""
    return ", ".join(f"{{{name}}}" for name in names)


def _read_toml(path: Path | Traversable, label: str) -> dict[str, Any]:
    """Parse one content file, turning syntax errors into a ContentError naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ContentError(f"{label}: invalid TOML: {error}") from error
    except UnicodeDecodeError as error:
        raise ContentError(f"{label}: not UTF-8 text: {error}") from error


def _string_list(value: Any, where: str, field: str) -> tuple[str, ...]:
    """Check a keywords/phrasings value is a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(f"{where}: {field} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _approval(value: Any, where: str, field: str) -> str | None:
    """Check an approval field: a string or a TOML date; empty means not approved."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise ContentError(f"{where}: {field} must be a string or a date")
    return value.strip() or None


def _fields(table: Any, where: str) -> dict[str, Any]:
    """Validate one snippet table and return its fields as Snippet values."""
    if not isinstance(table, dict):
        raise ContentError(f"{where}: must be a table of fields")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ContentError(
            f"{where}: unknown field {', '.join(unknown)}; allowed: {', '.join(FIELDS)}"
        )
    values: dict[str, Any] = {}
    if "text" in table:
        if not isinstance(table["text"], str) or not table["text"].strip():
            raise ContentError(f"{where}: text must be a non-empty string")
        values["text"] = table["text"].strip()
    for name in ("keywords", "phrasings"):
        if name in table:
            values[name] = _string_list(table[name], where, name)
    if "fact" in table:
        if not isinstance(table["fact"], str):
            raise ContentError(f"{where}: fact must be a string")
        values["fact"] = table["fact"].strip()
    if "budget" in table:
        budget = table["budget"]
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ContentError(f"{where}: budget must be a whole number of segments, 1 or more")
        values["budget"] = budget
    for name in ("approved_by", "approved_at"):
        if name in table:
            values[name] = _approval(table[name], where, name)
    if "default" in table and not isinstance(table["default"], bool):
        raise ContentError(f"{where}: default must be true or false")
    return values


def _snippet_tables(document: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    """Return the [snippets.*] tables of a content file, rejecting anything else."""
    extra = sorted(set(document) - {"snippets"})
    if extra:
        raise ContentError(f"{label}: unknown top-level key {', '.join(extra)}; use [snippets.ID]")
    tables = document.get("snippets", {})
    if not isinstance(tables, dict):
        raise ContentError(f"{label}: snippets must be tables, e.g. [snippets.help]")
    unknown = sorted(set(tables) - set(SNIPPET_IDS))
    if unknown:
        raise ContentError(
            f"{label}: unknown snippet id {', '.join(unknown)}; known ids: {', '.join(SNIPPET_IDS)}"
        )
    return tables


def _load_defaults(language: str) -> list[Snippet]:
    """Load the shipped snippets of one language."""
    label = f"messages/content/{language}.toml"
    resource = resources.files("messages").joinpath("content", f"{language}.toml")
    if not resource.is_file():
        return []
    snippets = []
    for snippet_id, table in _snippet_tables(_read_toml(resource, label), label).items():
        where = f"{label} [snippets.{snippet_id}]"
        values = _fields(table, where)
        if "text" not in values:
            raise ContentError(f"{where}: text is required")
        snippets.append(
            Snippet(
                id=snippet_id,
                language=language,
                text=values["text"],
                keywords=values.get("keywords", ()),
                phrasings=values.get("phrasings", ()),
                fact=values.get("fact", ""),
                budget=values.get("budget", DEFAULT_BUDGET),
                approved_by=values.get("approved_by"),
                approved_at=values.get("approved_at"),
                source=DEFAULT_SOURCE,
            )
        )
    return snippets


@functools.lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    """Load the shipped content once per process; the webhook asks for it on every text."""
    return Catalog(snippet for language in LANGUAGES for snippet in _load_defaults(language))


def _apply_override(
    base: Snippet | None, values: dict[str, Any], key: tuple[str, str], where: str, source: str
) -> Snippet:
    """Return base with the override's fields laid over it (or a new snippet if it has text)."""
    known = {field.name for field in fields(Snippet)}
    changes = {name: value for name, value in values.items() if name in known}
    if base is None:
        if "text" not in values:
            raise ContentError(f"{where}: not in the shipped content, so text is required")
        snippet_id, language = key
        base = Snippet(
            id=snippet_id,
            language=language,
            text=values["text"],
            keywords=(),
            phrasings=(),
            fact="",
            budget=DEFAULT_BUDGET,
            approved_by=None,
            approved_at=None,
            source=source,
        )
    approval: dict[str, Any] = {}
    if "text" in values and values["text"] != base.text:
        # A changed text needs its own sign-off; the old approval was for other words.
        approval = {"approved_by": None, "approved_at": None}
    return replace(base, **{**approval, **changes, "source": source})


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Return name, mtime and size of each override file, so an edit invalidates the cache."""
    stamp = []
    for language in LANGUAGES:
        path = folder / f"{language}.toml"
        if path.is_file():
            info = path.stat()
            stamp.append((language, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


@functools.lru_cache(maxsize=64)
def _override_catalog(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> Catalog:
    """Load a clinic's override folder over the shipped content."""
    del stamp  # only part of the cache key
    stray = sorted(
        path.name for path in folder.glob("*.toml") if path.stem not in LANGUAGES and path.is_file()
    )
    if stray:
        raise ContentError(
            f"{folder}: unknown language file {', '.join(stray)}; expected "
            f"{', '.join(f'{language}.toml' for language in LANGUAGES)}"
        )
    defaults = _default_catalog()
    table = {(s.id, s.language): s for s in defaults.snippets()}
    for language in LANGUAGES:
        path = folder / f"{language}.toml"
        if not path.is_file():
            continue
        label = str(path)
        for snippet_id, raw in _snippet_tables(_read_toml(path, label), label).items():
            where = f"{label} [snippets.{snippet_id}]"
            key = (snippet_id, language)
            table[key] = _apply_override(table.get(key), _fields(raw, where), key, where, label)
    return Catalog(table.values())


def load_catalog(override_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """Return the shipped content, with a clinic's override folder laid over it if given."""
    if override_dir is None:
        return _default_catalog()
    folder = Path(override_dir).resolve()
    if not folder.is_dir():
        raise ContentError(f"{folder}: override folder not found")
    return _override_catalog(folder, _stamp(folder))
