"""Labelled patient texts: reading them, and what a right answer means for each label."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from messages.intents import IntentKind

if TYPE_CHECKING:
    from messages.matcher import Matcher

CORPUS_DIR = Path(__file__).parent / "corpus"
# Texts the rules were fixed for: every test run checks the matcher gets each one right.
CHECKED = CORPUS_DIR / "rounds_1_8.tsv"

# crisis+stop is a crisis that also asks to stop the texts.
LABELS: tuple[str, ...] = ("crisis", "crisis+stop", "emergency", "opt_out", "benign")
CRISIS_LABELS: frozenset[str] = frozenset({"crisis", "crisis+stop"})
_SAFETY = (IntentKind.CRISIS, IntentKind.EMERGENCY, IntentKind.OPT_OUT)


@dataclass(frozen=True)
class Labelled:
    """One patient text and what it must be."""

    label: str
    text: str


def read_corpus(path: Path) -> list[Labelled]:
    """Return the `label<TAB>text` lines of a file (# lines are comments); raise on a bad label."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        if not tab or label not in LABELS or not text.strip():
            raise ValueError(f"{path.name} line {number}: expected one of {LABELS}, a tab, a text")
        rows.append(Labelled(label, text))
    return rows


def shipped_files() -> list[Path]:
    """Return every labelled file shipped in messages/corpus, in a stable order."""
    return sorted(CORPUS_DIR.glob("*.tsv"))


def read_all(paths: Iterable[Path]) -> Iterator[Labelled]:
    """Yield the rows of every file in paths."""
    for path in paths:
        yield from read_corpus(path)


def is_right(matcher: Matcher, row: Labelled) -> tuple[bool, IntentKind]:
    """Return whether the matcher answers the text as its label needs, and what it said."""
    # A crisis is a crisis, and it opts out exactly when the label says crisis+stop; an emergency
    # is an emergency or a crisis (both page on-call); an opt-out opts out; a benign text is none
    # of those.
    intent = matcher.classify(row.text)
    kind = intent.kind
    if row.label in CRISIS_LABELS:
        opts_out = matcher.crisis_opts_out(intent, row.text)
        return kind is IntentKind.CRISIS and opts_out is (row.label == "crisis+stop"), kind
    if row.label == "emergency":
        return kind in (IntentKind.EMERGENCY, IntentKind.CRISIS), kind
    if row.label == "opt_out":
        return kind is IntentKind.OPT_OUT, kind
    return kind not in _SAFETY, kind
