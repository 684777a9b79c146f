"""Measure the crisis screen (a measurement, not a test): training cost, speed, and what it flags.

Prints how long training takes and how many n-grams it keeps, the time to score one text, then
for several thresholds how many texts of each label the screen flags:
- cross-validated on the training rows (each text scored by a screen trained without it);
- on held-out files given with --held-out (the screen trained on the shipped corpus minus them),
  with the rules beside it: "rules + screen" counts crisis texts the rules call a crisis or the
  screen flags (a text the rules call an emergency first gets the emergency answer, so
  scripts/score_matcher.py can count a few fewer crisis answers).

Usage: .venv/bin/python scripts/score_screen.py [--folds 5] [--held-out FILE...]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messages.corpus import CRISIS_LABELS, Labelled, read_all, shipped_files
from messages.intents import IntentKind
from messages.matcher import rules_only_matcher
from messages.normalize import normalize
from messages.screen import MIN_WORDS, CrisisScreen, known_harmless

FLOOD_TEXTS = 10_000
THRESHOLDS = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0)


def _group(label: str) -> str:
    """Return the label a figure is counted under (crisis+stop counts as crisis)."""
    return "crisis" if label in CRISIS_LABELS else label


def _print_sweep(title: str, rows: Sequence[Labelled], odds: Sequence[float]) -> None:
    """Print, per threshold, how many texts of each label score above it."""
    totals = Counter(_group(row.label) for row in rows)
    print(f"\n{title}: flagged / total per label")
    for threshold in THRESHOLDS:
        flagged = Counter(_group(r.label) for r, o in zip(rows, odds, strict=True) if o > threshold)
        cells = "  ".join(f"{label} {flagged[label]}/{totals[label]}" for label in totals)
        print(f"  > {threshold:4.1f}  {cells}")


def _resident_bytes() -> int:
    """Return this process's resident memory (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _odds_if_read(screen: CrisisScreen, text: str) -> float:
    """Return the screen's log-odds for text, or -inf for a text too short for it to read."""
    tokens = normalize(text)
    return screen.log_odds(tokens) if len(tokens) >= MIN_WORDS else -math.inf


def _cross_validate(rows: list[Labelled], folds: int) -> list[float]:
    """Return each row's log-odds from a screen trained on the other folds."""
    order = list(range(len(rows)))
    random.Random(1).shuffle(order)
    odds = [0.0] * len(rows)
    for fold in range(folds):
        held = set(order[fold::folds])
        screen = CrisisScreen.train(row for at, row in enumerate(rows) if at not in held)
        for at in held:
            odds[at] = _odds_if_read(screen, rows[at].text)
    return odds


def main() -> int:
    """Print the screen's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--held-out", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    held_paths = {path.resolve() for path in args.held_out}
    shipped = read_all(p for p in shipped_files() if p.resolve() not in held_paths)
    # The same rows as default_screen(), less any shipped file given as held out.
    training = [*shipped, *known_harmless()]

    before = _resident_bytes()
    started = time.perf_counter()
    screen = CrisisScreen.train(training)
    seconds = time.perf_counter() - started
    grown = _resident_bytes() - before
    print(f"trained on {len(training)} texts in {seconds:.2f} s, {screen.size} n-grams kept,")
    print(f"  the process grew by {grown / 1e6:.1f} MB resident")
    tokens = [normalize(row.text) for row in training[:2000]]
    started = time.perf_counter()
    for text in tokens:
        screen.log_odds(text)
    cold = (time.perf_counter() - started) / len(tokens)
    started = time.perf_counter()
    for text in tokens:
        screen.log_odds(text)
    warm = (time.perf_counter() - started) / len(tokens)
    print(f"  scoring: {cold * 1e6:.0f} µs per text first time, {warm * 1e6:.0f} µs once known")
    before = _resident_bytes()
    flood = random.Random(2)
    for _ in range(FLOOD_TEXTS):
        words = ("".join(flood.choices(string.ascii_lowercase, k=398)) for _ in range(4))
        screen.flags(normalize(" ".join(words)))
    grown = _resident_bytes() - before
    print(f"  {FLOOD_TEXTS:,} texts of long random words grew it by {grown / 1e6:.1f} MB")

    if args.folds > 1:
        _print_sweep(
            f"{args.folds}-fold cross-validation on the training rows",
            training,
            _cross_validate(training, args.folds),
        )
    if args.held_out:
        held = list(read_all(args.held_out))
        odds = [_odds_if_read(screen, row.text) for row in held]
        _print_sweep("held out, screen alone", held, odds)
        rules = rules_only_matcher()
        by_rules = [rules.classify(row.text).kind is IntentKind.CRISIS for row in held]
        crises = [at for at, row in enumerate(held) if row.label in CRISIS_LABELS]
        alone = sum(by_rules[at] for at in crises)
        print(f"\nheld out: crisis reply on crisis texts (rules alone {alone})")
        for threshold in THRESHOLDS:
            caught = sum(by_rules[at] or odds[at] > threshold for at in crises)
            print(f"  > {threshold:4.1f}  rules + screen {caught}/{len(crises)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
