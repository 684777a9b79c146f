"""Score the matcher on labelled texts, per label (a measurement, not a test).

Input: files of `label<TAB>text` lines (labels crisis, crisis+stop, emergency, opt_out, benign;
lines starting with # are skipped). Prints how many of each label the matcher gets right
(messages.corpus.is_right says what right means) and every text it gets wrong.

With --held-out, the crisis screen is trained on the shipped corpus minus the given files, so
texts the screen learned from do not flatter it. --rules-only turns the screen off. Exits 0
whatever the figures.

Usage: .venv/bin/python scripts/score_matcher.py FILE... [--held-out] [--rules-only] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messages.catalog import load_catalog
from messages.corpus import is_right, read_all, read_corpus, shipped_files
from messages.matcher import Matcher
from messages.screen import CrisisScreen, default_screen


def main() -> int:
    """Print per-label scores (and the misses unless --quiet) for labelled files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--held-out", action="store_true", help="train the screen without them")
    parser.add_argument("--rules-only", action="store_true", help="no crisis screen")
    parser.add_argument("--quiet", action="store_true", help="print only the figures")
    args = parser.parse_args()
    screen = default_screen()
    if args.rules_only:
        screen = CrisisScreen.off()
    elif args.held_out:
        held = {path.resolve() for path in args.paths}
        screen = CrisisScreen.train(read_all(p for p in shipped_files() if p.resolve() not in held))
    matcher = Matcher(load_catalog().phrasebook(), screen)
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    misses: list[tuple[str, str, str]] = []
    for path in args.paths:
        for row in read_corpus(path):
            ok, kind = is_right(matcher, row)
            total[row.label] += 1
            right[row.label] += ok
            if not ok:
                misses.append((row.label, kind.value, row.text))
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
