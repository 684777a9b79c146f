"""The crisis screen: trained on the shipped corpus, measured on texts it never saw."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from messages.corpus import (
    CRISIS_LABELS,
    Labelled,
    read_all,
    read_corpus,
    shipped_files,
)
from messages.intents import Intent, IntentKind
from messages.matcher import Matcher, default_matcher, rules_only_matcher
from messages.normalize import normalize
from messages.screen import MIN_WORDS, CrisisScreen

# Written after the shipped corpus and never trained on: the honest measure of the screen.
ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = Path(__file__).parent / "fixtures" / "held_out"


ROUNDS = ("round_10.tsv", "round_11.tsv", "round_12.tsv", "round_13.tsv")


def held_out(name: str) -> list[Labelled]:
    """Return the rows of one held-out file."""
    return read_corpus(HELD_OUT / name)


def opts_out(intent: Intent) -> bool:
    """Return whether the intent, or what the rules made of a screened crisis, is an opt-out."""
    beneath = intent.beneath
    return intent.kind is IntentKind.OPT_OUT or (
        beneath is not None and beneath.kind is IntentKind.OPT_OUT
    )


def crisis_replies(matcher: Matcher, rows: list[Labelled]) -> int:
    """Return how many crisis rows get the crisis answer."""
    return sum(matcher.classify(r.text).kind is IntentKind.CRISIS for r in rows)


def test_no_held_out_text_the_screen_reads_is_in_the_training_corpus() -> None:
    """Short replies ("ok", "Confirm") recur everywhere, and the screen leaves them to the rules."""
    trained = {normalize(row.text) for row in read_all(shipped_files())}
    for path in sorted(HELD_OUT.glob("*.tsv")):
        rows = [normalize(r.text) for r in read_corpus(path)]
        leaked = [t for t in rows if len(t) >= MIN_WORDS and t in trained]
        assert leaked == [], path.name


# file, crisis texts, most the rules alone may catch, fewest rules and screen must catch.
# Measured when the screen landed: round 10, rules 59 and rules with screen 129; round 11,
# rules 87 and 143; round 12 (never looked at when choosing settings), rules 95 and 147. Round 13,
# written after the screen landed and measured once: rules 82, rules with screen 139.
CRISIS_FLOORS = [
    ("round_10.tsv", 145, 65, 120),
    ("round_11.tsv", 155, 95, 136),
    ("round_12.tsv", 155, 100, 140),
    ("round_13.tsv", 160, 90, 130),
]


@pytest.mark.parametrize(("name", "crises", "rules_at_most", "floor"), CRISIS_FLOORS)
def test_the_screen_catches_most_crisis_texts_the_rules_miss_on_texts_it_never_saw(
    name: str, crises: int, rules_at_most: int, floor: int
) -> None:
    rows = [r for r in held_out(name) if r.label in CRISIS_LABELS]
    by_rules = crisis_replies(rules_only_matcher(), rows)
    with_screen = crisis_replies(default_matcher(), rows)
    assert len(rows) == crises
    assert by_rules <= rules_at_most and with_screen >= floor, (by_rules, with_screen)


# file, texts, most the screen may flag. Measured when the screen landed: 2 of 319, 7 of 400 and
# (never looked at when choosing settings) 7 of 400; a fourth day written after it landed, 8 of 400.
EVERYDAY_CEILINGS = [
    ("everyday.tsv", 319, 5),
    ("everyday_2.tsv", 400, 11),
    ("everyday_3.tsv", 400, 11),
    ("everyday_4.tsv", 400, 12),
]


@pytest.mark.parametrize(("name", "texts", "ceiling"), EVERYDAY_CEILINGS)
def test_the_screen_rarely_flags_everyday_texts_it_never_saw(
    name: str, texts: int, ceiling: int
) -> None:
    everyday = held_out(name)
    flagged = [r.text for r in everyday if default_matcher().classify(r.text).screened]
    assert len(everyday) == texts
    assert len(flagged) <= ceiling, flagged


def test_the_screen_never_turns_opt_outs_or_emergencies_into_less() -> None:
    rows = [r for name in ROUNDS for r in held_out(name) if r.label in ("opt_out", "emergency")]
    said = Counter(default_matcher().classify(r.text).kind for r in rows)
    alone = Counter(rules_only_matcher().classify(r.text).kind for r in rows)
    # Emergencies the screen calls crises still get 911 and a page; an opt-out it calls a crisis
    # still opts out (test_a_screened_opt_out_still_carries_the_opt_out).
    opting_out = sum(opts_out(default_matcher().classify(r.text)) for r in rows)
    assert opting_out >= alone[IntentKind.OPT_OUT]
    assert said[IntentKind.EMERGENCY] + said[IntentKind.CRISIS] >= (
        alone[IntentKind.EMERGENCY] + alone[IntentKind.CRISIS]
    )


@pytest.mark.parametrize(
    "text",
    [
        "C",
        "HELP",
        "STOP",
        "3",
        "ok",
        "👍",
        "yes",
        "thanks!",
        "ok see you then, thanks",
        "yes i confirm my appointment",
        "running 10 min late sorry",
        "can i eat before my appointment",
        "what should i bring tomorrow",
        "si, ahi estare el jueves",
    ],
)
def test_keywords_and_everyday_replies_are_never_flagged(text: str) -> None:
    assert not default_matcher().classify(text).screened


def test_a_screened_opt_out_still_carries_the_opt_out() -> None:
    rows = [r for name in ROUNDS for r in held_out(name)]
    screened = [
        r.text
        for r in rows
        if rules_only_matcher().classify(r.text).kind is IntentKind.OPT_OUT
        and default_matcher().classify(r.text).screened
    ]
    assert screened, "no held-out opt-out the screen reads as a crisis: nothing checked"
    for text in screened:
        beneath = default_matcher().classify(text).beneath
        assert beneath is not None and beneath.kind is IntentKind.OPT_OUT, text


def test_training_is_deterministic_across_processes() -> None:
    """Hash seeds differ between gunicorn workers; the same rows must give the same screen."""
    probe = (
        "from messages.corpus import CHECKED, read_corpus\n"
        "from messages.normalize import normalize\n"
        "from messages.screen import CrisisScreen\n"
        "rows = read_corpus(CHECKED)\n"
        "screen = CrisisScreen.train(rows[:600])\n"
        "print([screen.log_odds(normalize(r.text)) for r in rows[600:900]])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and len(next(iter(outputs))) > 300


def test_a_screen_needs_both_kinds_of_text() -> None:
    with pytest.raises(ValueError, match="crisis and other texts"):
        CrisisScreen.train([Labelled("benign", "see you tuesday")])


def test_the_off_screen_flags_nothing() -> None:
    assert not CrisisScreen.off().flags(normalize("i want to die"))


def test_a_broken_corpus_line_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("# comment\ncrisis\ti want to die\nbenin\tsee you tuesday\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv line 3"):
        read_corpus(path)
    path.write_text("crisis i want to die\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        read_corpus(path)


def test_a_screen_only_crisis_says_so_and_takes_the_patients_language() -> None:
    text = "ya les deje una carta a mis hijos, gracias por todo, esta es la ultima vez"
    assert rules_only_matcher().classify(text).kind is not IntentKind.CRISIS
    intent = default_matcher().classify(text)
    assert intent.kind is IntentKind.CRISIS and intent.screened and intent.language == "es"
