"""Segment counting: what a text costs, the way Twilio bills it."""

from __future__ import annotations

import pytest

from messages.segments import SegmentCount, count_segments, non_gsm_characters

EMOJI = "\N{SMILING FACE WITH SMILING EYES}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", SegmentCount("GSM-7", 0, 0, 0), id="empty text is no segment"),
        pytest.param("a", SegmentCount("GSM-7", 1, 1, 1), id="one character"),
        pytest.param("a" * 160, SegmentCount("GSM-7", 160, 1, 160), id="160 GSM fits one"),
        pytest.param("a" * 161, SegmentCount("GSM-7", 161, 2, 161), id="161 GSM needs two"),
        pytest.param("a" * 306, SegmentCount("GSM-7", 306, 2, 306), id="153x2 GSM fits two"),
        pytest.param("a" * 307, SegmentCount("GSM-7", 307, 3, 307), id="153x2+1 GSM needs three"),
        pytest.param("á" * 70, SegmentCount("UCS-2", 70, 1, 70), id="70 UCS-2 fits one"),
        pytest.param("á" * 71, SegmentCount("UCS-2", 71, 2, 71), id="71 UCS-2 needs two"),
        pytest.param("á" * 134, SegmentCount("UCS-2", 134, 2, 134), id="67x2 UCS-2 fits two"),
        pytest.param("á" * 135, SegmentCount("UCS-2", 135, 3, 135), id="67x2+1 UCS-2 needs three"),
    ],
)
def test_segment_boundaries_match_twilio(text: str, expected: SegmentCount) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize("char", ["{", "}", "[", "]", "~", "^", "\\", "|", "€", "\f"])
def test_gsm_extension_characters_cost_two_units(char: str) -> None:
    count = count_segments("a" + char)
    assert (count.encoding, count.units, count.characters) == ("GSM-7", 3, 2)


def test_eighty_extension_characters_fill_exactly_one_segment() -> None:
    assert count_segments("{" * 80).segments == 1
    assert count_segments("{" * 81).segments == 2


def test_extension_character_is_never_split_across_segments() -> None:
    # 152 + 2 + 152 = 306 units, but the escape pair cannot straddle parts one and two.
    count = count_segments("a" * 152 + "{" + "a" * 152)
    assert (count.units, count.segments) == (306, 3)


@pytest.mark.parametrize(
    ("char", "name"),
    [
        ("\u2019", "curly apostrophe"),
        ("\u201c", "curly opening quote"),
        ("\u2014", "em dash"),
        ("\u2026", "ellipsis"),
        ("á", "a acute"),
        ("í", "i acute"),
        ("ó", "o acute"),
        ("ú", "u acute"),
        ("ç", "small c cedilla"),
        ("\t", "tab"),
    ],
)
def test_a_non_gsm_character_switches_the_whole_text_to_ucs2(char: str, name: str) -> None:
    count = count_segments("Reply STOP to opt out" + char)
    assert count.encoding == "UCS-2", name
    assert count.units == 22


@pytest.mark.parametrize("char", ["ñ", "Ñ", "é", "É", "ü", "Ü", "ä", "ö", "¿", "¡", "ù", "ì", "ò"])
def test_spanish_and_european_letters_in_gsm7_stay_gsm7(char: str) -> None:
    count = count_segments("¿Cuando?" + char)
    assert (count.encoding, count.units) == ("GSM-7", 9)


def test_one_accent_turns_a_160_character_text_into_three_segments() -> None:
    plain = "a" * 159 + "n"
    assert count_segments(plain).segments == 1
    assert count_segments(plain[:-1] + "ñ").segments == 1
    assert count_segments(plain[:-1] + "á").segments == 3


def test_emoji_counts_two_ucs2_units() -> None:
    count = count_segments("ok " + EMOJI)
    assert (count.encoding, count.units, count.characters) == ("UCS-2", 5, 4)


def test_emoji_is_never_split_across_segments() -> None:
    # 66 + 2 + 66 = 134 units, but the surrogate pair cannot straddle parts one and two.
    count = count_segments("a" * 66 + EMOJI + "a" * 66)
    assert (count.units, count.segments) == (134, 3)


def test_newlines_are_gsm7_and_cost_one_unit() -> None:
    assert count_segments("a\nb\r\nc") == SegmentCount("GSM-7", 6, 1, 6)


def test_non_gsm_characters_lists_each_offender_once_in_order() -> None:
    assert non_gsm_characters("\u201cHi\u201d \u2014 ñ á á") == ["\u201c", "\u201d", "\u2014", "á"]
