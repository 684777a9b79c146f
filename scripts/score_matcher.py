"""Score the matcher on labelled texts it was not tuned on, per label (a measurement, not a test).

Input: a file of `label<TAB>text` lines (labels crisis, crisis+stop, emergency, opt_out, benign;
lines starting with # are skipped), such as scripts/unseen_texts_round9.tsv. Prints how many of
each label the matcher gets right and every text it gets wrong. Exits 0 whatever the figures.

Right means: crisis is a crisis; crisis+stop is a crisis that also opts out; emergency is an
emergency or a crisis (both page on-call); opt_out opts out; benign is none of those.

Usage: .venv/bin/python scripts/score_matcher.py FILE [--quiet]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messages.intents import IntentKind
from messages.matcher import Matcher, default_matcher

SAFETY = (IntentKind.CRISIS, IntentKind.EMERGENCY, IntentKind.OPT_OUT)


def is_right(matcher: Matcher, label: str, text: str) -> tuple[bool, IntentKind]:
    """Return whether the matcher classifies text as label wants, and what it said."""
    kind = matcher.classify(text).kind
    if label == "crisis":
        return kind is IntentKind.CRISIS, kind
    if label == "crisis+stop":
        return kind is IntentKind.CRISIS and matcher.mentions_opt_out(text), kind
    if label == "emergency":
        return kind in (IntentKind.EMERGENCY, IntentKind.CRISIS), kind
    if label == "opt_out":
        return kind is IntentKind.OPT_OUT, kind
    if label == "benign":
        return kind not in SAFETY, kind
    raise SystemExit(f"unknown label {label!r}")


def main() -> int:
    """Print per-label scores (and the misses unless --quiet) for a labelled file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--quiet", action="store_true", help="print only the figures")
    args = parser.parse_args()
    matcher = default_matcher()
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    misses: list[tuple[str, str, str]] = []
    for line in args.path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        ok, kind = is_right(matcher, label, text)
        total[label] += 1
        right[label] += ok
        if not ok:
            misses.append((label, kind.value, text))
    for label in total:
        share = right[label] / total[label]
        print(f"{label:12} {right[label]:4}/{total[label]:<4} right ({share:.0%})")
    if not args.quiet:
        print("\nlabel\tmatcher said\ttext")
        for miss in misses:
            print("\t".join(miss))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
