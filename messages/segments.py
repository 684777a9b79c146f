"""Count the SMS segments a text costs, the way carriers split and bill it."""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  (importing registers the "gsm03.38" codec)

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True)
class SegmentCount:
    """How a text is encoded and how many segments it is billed as."""

    encoding: str
    units: int
    segments: int
    characters: int


def _gsm7_units(char: str) -> int | None:
    """Return the septets one character costs in GSM-7, or None when GSM-7 cannot carry it."""
    try:
        # The codec writes an extension character as ESC + code, so its length is the septet count.
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def _ucs2_units(char: str) -> int:
    """Return the UTF-16 code units one character takes (2 for an emoji)."""
    return len(char.encode("utf-16-le")) // 2


def _pack(costs: list[int], single: int, part: int) -> int:
    """Return how many segments the costs fill, never splitting one character across two."""
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # A two-unit character (GSM escape pair, UTF-16 surrogate pair) is never split between parts,
    # so a part can end one unit short and the count can exceed ceil(total / part).
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def non_gsm_characters(text: str) -> list[str]:
    """Return the distinct characters of text that force UCS-2, in order of first appearance."""
    found: list[str] = []
    for char in text:
        if char not in found and _gsm7_units(char) is None:
            found.append(char)
    return found


def count_segments(text: str) -> SegmentCount:
    """Return the encoding, units and segments text costs; an empty text is 0 segments."""
    gsm_costs = [_gsm7_units(char) for char in text]
    if all(cost is not None for cost in gsm_costs):
        costs = [cost for cost in gsm_costs if cost is not None]
        return SegmentCount(GSM7, sum(costs), _pack(costs, GSM7_SINGLE, GSM7_PART), len(text))
    costs = [_ucs2_units(char) for char in text]
    return SegmentCount(UCS2, sum(costs), _pack(costs, UCS2_SINGLE, UCS2_PART), len(text))
