"""Text normalisation for matching inbound SMS: case, accents, apostrophes, emoji, shorthand."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable

# Apostrophes are deleted, not turned into spaces, so "don't" and "dont" meet as "dont".
_APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ′"), None)
_WORD = re.compile(r"[^\W_]+")
# Three or more of one letter ("stoooop", "pleeease") shrink to two; spelling correction does
# the rest.
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
_EDGES = string.whitespace + string.punctuation
# "OD'd" and "ODed" would otherwise fold to "odd" and "oded"; both mean an overdose.
_OVERDOSED = re.compile(r"\bod(?:['’]e?d|ed)\b")

# One token written for several, as people type them in texts. "r", "c" and digits are left alone:
# they are keywords (R, C) and check-in scores.
SHORTHAND: dict[str, tuple[str, ...]] = {
    "u": ("you",),
    "ur": ("your",),
    "pls": ("please",),
    "plz": ("please",),
    "plez": ("please",),
    "thx": ("thanks",),
    "thnx": ("thanks",),
    "appt": ("appointment",),
    "appts": ("appointments",),
    "tmrw": ("tomorrow",),
    "tmr": ("tomorrow",),
    "tmrrw": ("tomorrow",),
    "tomorow": ("tomorrow",),
    "2moro": ("tomorrow",),
    "2morrow": ("tomorrow",),
    "b4": ("before",),
    "wanna": ("want", "to"),
    "wana": ("want", "to"),
    "gonna": ("going", "to"),
    "gona": ("going", "to"),
    "gotta": ("got", "to"),
    "imma": ("im", "going", "to"),
    "finna": ("going", "to"),
    "ima": ("im", "going", "to"),
    "cuz": ("because",),
    "bc": ("because",),
    "coz": ("because",),
    "idk": ("i", "dont", "know"),
    "rn": ("right", "now"),
    "abt": ("about",),
    "msg": ("message",),
    "msgs": ("messages",),
    "txt": ("text",),
    "txts": ("texts",),
    "txting": ("texting",),
    "txtin": ("texting",),
    "textin": ("texting",),
    "msging": ("messaging",),
    "msgin": ("messaging",),
    "cannot": ("cant",),
    "whats": ("what", "is"),
    "whens": ("when", "is"),
    "wheres": ("where", "is"),
    "hows": ("how", "is"),
    "whos": ("who", "is"),
    "ive": ("i", "have"),
    # Spanish texting shorthand.
    "q": ("que",),
    "ke": ("que",),
    "xq": ("porque",),
    "pq": ("porque",),
    "porq": ("porque",),
    "tb": ("tambien",),
    "tmb": ("tambien",),
    "dnd": ("donde",),
    "msj": ("mensaje",),
    "msjs": ("mensajes",),
    "porfa": ("por", "favor"),
    "xfa": ("por", "favor"),
    "kiero": ("quiero",),
    "kieres": ("quieres",),
    "kiere": ("quiere",),
    "kisiera": ("quisiera",),
}

# Two tokens people also write as one; merged so each phrase needs listing only once.
PAIRS: dict[tuple[str, str], tuple[str, ...]] = {
    ("do", "not"): ("dont",),
    ("can", "not"): ("cant",),
    ("will", "not"): ("wont",),
    ("did", "not"): ("didnt",),
    ("does", "not"): ("doesnt",),
    ("is", "not"): ("isnt",),
    ("i", "am"): ("im",),
    ("any", "more"): ("anymore",),
    ("my", "self"): ("myself",),
    ("want", "2"): ("want", "to"),
    ("going", "2"): ("going", "to"),
    ("need", "2"): ("need", "to"),
    ("have", "2"): ("have", "to"),
}


# Emoji that stand for a word in a crisis text ("i want to 💀", "took 30 💊"); read only by the
# crisis check, since "💀" alone is also laughter.
_CRISIS_EMOJI = {
    "💀": " die ",
    "☠": " die ",
    "⚰": " die ",
    "🪦": " die ",
    "🔫": " gun ",
    "🔪": " knife ",
    "💊": " pills ",
    "😵": " dead ",
    "🪢": " rope ",
}
_CRISIS_EMOJI_RE = re.compile("|".join(map(re.escape, _CRISIS_EMOJI)))
# Digits and symbols written for letters inside a word ("k1ll", "d1e", "$uicide", "k!ll").
_LEET = str.maketrans("013457@$!|", "oieastasii")
_LEET_WORD = re.compile(r"[a-z0-9@$]*[a-z][a-z0-9@$]*(?:[!|][a-z][a-z0-9@$]*)*|[@$][a-z]+")
_HAS_LEET = re.compile(r"[a-z][0-9@$!|]|[0-9@$!|][a-z]")
# A word with asterisks for some of its letters ("k*ll").
_MASKED = re.compile(r"[a-z]*\*+[a-z]*")


def crisis_spelling(text: str, masked_words: Iterable[str] = ()) -> str | None:
    """Return text with crisis emoji, letter-for-digit spellings and asterisk-masked masked_words
    written out, or None if it has none of them ("i want to d1e 💀" -> "i want to die die")."""
    folded = fold(text)
    spelled = _CRISIS_EMOJI_RE.sub(lambda m: _CRISIS_EMOJI[m.group(0)], folded)
    if "*" in spelled:
        words = tuple(masked_words)
        spelled = _MASKED.sub(lambda m: _unmasked(m.group(0), words), spelled)
    if _HAS_LEET.search(spelled):
        spelled = _LEET_WORD.sub(
            lambda m: m.group(0).translate(_LEET) if _HAS_LEET.search(m.group(0)) else m.group(0),
            spelled,
        )
    return spelled if spelled != folded else None


def _unmasked(token: str, words: tuple[str, ...]) -> str:
    """Return the one word of words that token, with asterisks for some letters, can stand for."""
    parts = re.findall(r"\*+|[^*]+", token)
    if all(part.startswith("*") for part in parts):
        return token
    shape = re.compile("".join(".{1,3}" if p.startswith("*") else re.escape(p) for p in parts))
    fits = [word for word in words if shape.fullmatch(word)]
    return fits[0] if len(fits) == 1 else token


def fold(text: str) -> str:
    """Return text case-folded, without accents or apostrophes ("Después" -> "despues")."""
    folded = text.casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _OVERDOSED.sub("od", folded).translate(_APOSTROPHES)


def words(text: str) -> list[str]:
    """Return the folded text's letter-and-digit runs, split on punctuation, emoji and spaces."""
    return _WORD.findall(_LETTER_RUN.sub(r"\1\1", fold(text)))


def expand(tokens: Iterable[str]) -> tuple[str, ...]:
    """Return tokens with SMS shorthand and split contractions rewritten to one spelling."""
    out: list[str] = []
    for token in tokens:
        out.extend(SHORTHAND.get(token, (token,)))
    merged: list[str] = []
    index = 0
    while index < len(out):
        pair = PAIRS.get((out[index], out[index + 1])) if index + 1 < len(out) else None
        if pair is None:
            merged.append(out[index])
            index += 1
        else:
            merged.extend(pair)
            index += 2
    return tuple(merged)


def normalize(text: str) -> tuple[str, ...]:
    """Return the tokens of an inbound text or a phrase, ready to compare with each other."""
    return expand(words(text))


def bare(text: str) -> str:
    """Return text case-folded, without surrounding whitespace or ASCII punctuation ("Stop.")."""
    return text.strip(_EDGES).casefold()
