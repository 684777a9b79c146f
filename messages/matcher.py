"""Classify an inbound SMS: crisis first, then emergency, consent, check-in, visit, topic."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from messages import lexicon
from messages.intents import INFO_TOPICS, LANGUAGES, AppointmentAction, Intent, IntentKind
from messages.normalize import bare, crisis_spelling, fold, normalize
from messages.screen import CrisisScreen, default_screen

_WILD = "*"
# One optional extra word, written before the next token's first character.
_WILD_RE = r"(?:\S+ )?"
# Spelling correction: a typo keeps its first letter and is one edit (OSA: a swap counts as one)
# from a vocabulary word, two from a long non-safety word ("reschedual").
_SHORT = 3
_LONG = 7
_CANDIDATES = 8
_GUESS_MAX = 5
_STEM_CUTOFF = 90.0
_STEM_MIN = 8
_JOIN_MIN = 7
_JOIN_PART = 3  # "sesion es" must not become "sesiones"
_CACHE_MAX = 20_000
# A dictionary word this many times rarer than the safety word it is one edit from is taken for
# a typo of it.
_REAL_WORD_RATIO = 100
# Whole texts remembered by Matcher.classify: the short ones patients repeat.
CLASSIFY_CACHE_SIZE = 4096
CLASSIFY_CACHE_MAX_TEXT = 160
# Topic scoring.
_COVER_MIN = 4.0  # content weight an out-of-order phrase needs ("drive ... after")
_FUZZY_CUTOFF = 85.0
_FUZZY_MAX_TOKENS = 6
_STOPWORD_WEIGHT = 0.5
_EXTRA_WORD_BONUS = 0.25
_TIER_WEAK, _TIER_PHRASE, _TIER_EXACT = 1, 2, 3
_NEGATION_WINDOW = 3
# A crisis text's parts: "STOP. I want to die" opts out as well; "make it stop" does not.
_CLAUSE = re.compile(r"[.!?;,\n]+")
_RAW_WORD = re.compile(r"[^\W_]+")
_SCORE_OUT_OF = re.compile(r"\b([1-5])\s*(?:/|out of|of|de|sobre)\s*5\b")
_SCORE_LEADING = re.compile(r"^\W*([1-5])\s*[,.!:;)\-]+(?!\s*\d)")
_NEGATED_ACTIONS = frozenset(
    {
        AppointmentAction.RESCHEDULE,
        AppointmentAction.CALL,
        AppointmentAction.RIDE,
        AppointmentAction.CONFIRM,
    }
)

Pattern = tuple[str, ...]


def _pattern(phrase: str) -> Pattern:
    """Return a lexicon phrase as tokens, with "*" kept as the one-word wildcard."""
    tokens: list[str] = []
    for index, part in enumerate(phrase.split(f" {_WILD} ")):
        if index:
            tokens.append(_WILD)
        tokens.extend(normalize(part))
    return tuple(tokens)


def _language_of(group: str | None) -> str | None:
    """Return the language a phrase list stands for, or None for the "any" list."""
    return group if group in LANGUAGES else None


class _Trie:
    """Phrases folded into one prefix-sharing regex, so a miss costs about one character test."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.root: dict[str, dict] = {}
        for tokens in patterns:
            node = self.root
            for unit in self._units(tokens):
                node = node.setdefault(unit, {})
            node[""] = {}

    @staticmethod
    def _units(tokens: Pattern) -> list[str]:
        """Return the characters of a pattern, the wildcard as one unit carrying its own space."""
        units: list[str] = []
        for index, token in enumerate(tokens):
            if token == _WILD:
                units.append(_WILD)
                continue
            units.extend(token)
            if index + 1 < len(tokens):
                units.append(" ")
        return units

    def regex(self) -> str:
        """Return the regex source matching exactly the stored phrases."""
        return self._node(self.root)

    def _node(self, node: dict[str, dict]) -> str:
        """Return the regex source for one trie node."""
        ends = "" in node
        branches = [
            (_WILD_RE if unit == _WILD else re.escape(unit)) + self._node(child)
            for unit, child in sorted(node.items())
            if unit
        ]
        if not branches:
            return ""
        if len(branches) == 1 and not ends:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if ends else "")


@dataclass(frozen=True, slots=True)
class _Found:
    """Where a phrase list matched, and which language's list it was."""

    start: int
    end: int
    language: str | None


class _Phrases:
    """Lexicon phrases matched anywhere in a normalised text, on word boundaries."""

    def __init__(self, phrases: Mapping[str, Sequence[str]]) -> None:
        self.patterns: list[Pattern] = []
        groups: list[str] = []
        for group, items in phrases.items():
            patterns = [p for p in map(_pattern, items) if p]
            if not patterns:
                continue
            self.patterns.extend(patterns)
            groups.append(f"(?P<{group}>{_Trie(patterns).regex()})")
        source = r"(?<!\S)(?:" + "|".join(groups) + r")(?!\S)" if groups else r"(?!x)x"
        self._regex = re.compile(source)

    def finditer(self, text: str) -> Iterator[_Found]:
        """Yield each non-overlapping match, leftmost first."""
        for match in self._regex.finditer(text):
            yield _Found(match.start(), match.end(), _language_of(match.lastgroup))

    def first(self, text: str) -> _Found | None:
        """Return the leftmost match, if any."""
        return next(self.finditer(text), None)

    def blank(self, text: str) -> str:
        """Return text with every match replaced by a placeholder that no phrase contains."""
        return self._regex.sub("_", text)


@dataclass(frozen=True, slots=True)
class _Step:
    """One step of a proximity rule: the word runs that fill it, by their first word."""

    runs: Mapping[str, tuple[Pattern, ...]]
    at_least: int | None  # a count of at least this fills it too
    at_most: int | None = None  # and of at most this ("#180-300": a blood pressure, not a year)

    @classmethod
    def of(cls, choices: Sequence[str]) -> _Step:
        """Return the step for a lexicon list of words, word runs and "#" counts."""
        runs: dict[str, list[Pattern]] = defaultdict(list)
        at_least: int | None = None
        at_most: int | None = None
        for choice in choices:
            if choice.startswith(lexicon.NEAR_NUMBER):
                low, _, high = choice[1:].partition("-")
                at_least = int(low or lexicon.OVERDOSE_COUNT)
                at_most = int(high) if high else None
                continue
            tokens = normalize(choice)
            runs[tokens[0]].append(tokens)
        return cls({k: tuple(v) for k, v in runs.items()}, at_least, at_most)

    def end_at(self, tokens: Sequence[str], at: int) -> int | None:
        """Return where a run of this step ends if one starts at tokens[at], else None."""
        token = tokens[at]
        for run in self.runs.get(token, ()):
            if tuple(tokens[at : at + len(run)]) == run:
                return at + len(run)
        if self.at_least is None:
            return None
        count = _count(token)
        if count < self.at_least or (self.at_most is not None and count > self.at_most):
            return None
        # "took 50 mg of zoloft" is a dose, not fifty pills.
        if at + 1 < len(tokens) and tokens[at + 1] in lexicon.DOSE_UNITS:
            return None
        return at + 1


class _Near:
    """Rules whose steps come in order, each within a few words of the one before."""

    def __init__(self, rules: Sequence[lexicon.NearRule]) -> None:
        self._rules = [
            (language, gap, tuple(_Step.of(step) for step in steps))
            for language, gap, steps in rules
        ]

    def patterns(self) -> Iterator[Pattern]:
        """Yield every word run the rules name, for the spelling corrector."""
        for _, _, steps in self._rules:
            for step in steps:
                for runs in step.runs.values():
                    yield from runs

    def finditer(self, tokens: Sequence[str]) -> Iterator[_Found]:
        """Yield a match of each rule the tokens satisfy, in rule order; start is a token index."""
        present = set(tokens)
        for language, gap, steps in self._rules:
            # Most texts hold no rule's opening word; a set test skips the rule at once.
            if present.isdisjoint(steps[0].runs) and steps[0].at_least is None:
                continue
            start = _steps_start(steps, tokens, gap)
            if start is not None:
                yield _Found(start, start, _language_of(language))

    def first(self, tokens: Sequence[str]) -> _Found | None:
        """Return a match of the first rule the tokens satisfy, if any."""
        return next(self.finditer(tokens), None)


def _steps_start(steps: Sequence[_Step], tokens: Sequence[str], gap: int) -> int | None:
    """Return where the steps first occur in tokens in order, each at most gap words after the
    last, or None."""
    first, rest = steps[0], steps[1:]
    for start in range(len(tokens)):
        end = first.end_at(tokens, start)
        if end is None:
            continue
        for step in rest:
            end = next(
                (
                    found
                    for at in range(end, min(end + gap + 1, len(tokens)))
                    if (found := step.end_at(tokens, at)) is not None
                ),
                None,
            )
            if end is None:
                break
        else:
            return start
    return None


def _count(token: str) -> int:
    """Return the count a token writes ("30", "twenty"), or 0."""
    # Not isdigit(): it is true for "❶" and "²" too, which int() refuses.
    if token.isdecimal():
        return int(token[:6])
    return lexicon.COUNT_WORDS.get(token, 0)


class _Whole:
    """Lexicon phrases that only count as the entire normalised message."""

    def __init__(self, phrases: Mapping[str, Sequence[str]]) -> None:
        self.patterns: list[Pattern] = []
        self._languages: dict[str, set[str | None]] = defaultdict(set)
        for group, items in phrases.items():
            for tokens in map(_pattern, items):
                if tokens:
                    self.patterns.append(tokens)
                    self._languages[" ".join(tokens)].add(_language_of(group))

    def get(self, text: str) -> _Found | None:
        """Return a match spanning the whole text, or None."""
        languages = self._languages.get(text)
        if languages is None:
            return None
        language = next(iter(languages)) if len(languages) == 1 else None
        return _Found(0, len(text), language)


class _Speller:
    """Spelling correction toward the matcher's own vocabulary, with rapidfuzz and a cache."""

    def __init__(
        self, patterns: Iterable[Pattern], crisis: Iterable[Pattern], safety: Iterable[Pattern]
    ) -> None:
        patterns = list(patterns)
        safety_words = {t for p in safety for t in p}
        vocabulary = {t for p in patterns for t in p if t != _WILD}
        adjacent = {(p[i], p[i + 1]) for p in patterns for i in range(len(p) - 1)}
        # Run-together phrases ("killmyself", "chestpain") correct to their words.
        split: dict[str, Pattern] = {}
        for p in patterns:
            joined = "".join(p)
            if _WILD not in p and 2 <= len(p) <= 3 and len(joined) >= _JOIN_MIN:
                split.setdefault(joined, p)
        self._split = {k: v for k, v in split.items() if k not in vocabulary}
        # Split words ("after care", "over dose") join unless a phrase has the two parts in a row.
        self._joins = {
            (word[:cut], word[cut:]): word
            for word in vocabulary
            if len(word) >= _JOIN_MIN and word.isalpha()
            for cut in range(_JOIN_PART, len(word) - _JOIN_PART + 1)
            if (word[:cut], word[cut:]) not in adjacent
        }
        self._known = (
            frozenset(vocabulary)
            | lexicon.COMMON_WORDS
            | lexicon.TOPIC_STOPWORDS
            | lexicon.SCORE_FILLERS
            | lexicon.LANGUAGE_MARKERS["en"]
            | lexicon.LANGUAGE_MARKERS["es"]
        )
        targets = sorted(w for w in vocabulary | set(self._split) if w.isalpha())
        self._by_initial: dict[str, tuple[str, ...]] = defaultdict(tuple)
        for word in targets:
            self._by_initial[word[0]] += (word,)
        # Three-letter tokens are mostly real words: they only ever grow into a crisis word ("kil").
        crisis_words = {t for p in crisis for t in p if len(t) == _SHORT + 1 and t.isalpha()}
        self._short_targets: dict[str, tuple[str, ...]] = defaultdict(tuple)
        for word in sorted(crisis_words):
            self._short_targets[word[0]] += (word,)
        # Safety words may only be one edit away, since "checking" is two edits from "choking".
        self._strict = frozenset(safety_words) | {
            joined for joined, words in self._split.items() if safety_words.intersection(words)
        }
        self._cache: dict[str, Pattern] = {}
        self._stems: dict[str, bool] = {}

    def correct(self, tokens: Sequence[str]) -> tuple[Pattern, frozenset[str]]:
        """Return corrected tokens, and the words guessed from short ones (too weak for a topic)."""
        fixed: list[str] = []
        guessed: set[str] = set()
        for token in self._join(tokens):
            words = self._fix(token)
            fixed.extend(words)
            if len(token) <= _GUESS_MAX and words != (token,):
                guessed.update(words)
        return self._join(fixed), frozenset(guessed)

    def _join(self, tokens: Sequence[str]) -> Pattern:
        """Return tokens with pairs that spell one vocabulary word ("over dose") merged."""
        out: list[str] = []
        index = 0
        while index < len(tokens):
            joined = (
                self._joins.get((tokens[index], tokens[index + 1]))
                if index + 1 < len(tokens)
                else None
            )
            out.append(joined or tokens[index])
            index += 2 if joined else 1
        return tuple(out)

    def _fix(self, token: str) -> Pattern:
        """Return the vocabulary spelling of one token, or the token itself."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        result = self._split.get(token) or self._lookup(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = result
        return result

    def _lookup(self, token: str) -> Pattern:
        """Return the nearest vocabulary word with the token's first letter, if near enough."""
        if token in self._known or len(token) < _SHORT or not token.isalpha():
            return (token,)
        if len(token) == _SHORT:
            choices = self._short_targets[token[0]]
        else:
            choices = self._by_initial[token[0]]
        limit = 1 if len(token) < _LONG else 2
        candidates = [
            (distance, -fuzz.ratio(token, word), word)
            for word, distance, _ in process.extract(
                token, choices, scorer=OSA.distance, score_cutoff=limit, limit=_CANDIDATES
            )
            if distance <= 1 or word not in self._strict
        ]
        if not candidates:
            return (token,)
        word = min(candidates)[2]
        # A real word is not "corrected" into a safety word: "nose" is not "noose", "guys" not
        # "guns". A rare word that is mostly a typo of a common one still is ("pian", "stoop").
        if word in self._strict:
            frequency = word_frequency()
            if frequency.get(token, 0) * _REAL_WORD_RATIO >= frequency.get(word, 0):
                return (token,)
        return self._split.get(word, (word,))

    def crisis_stem(self, tokens: Sequence[str]) -> bool:
        """Return whether a long unknown token has a crisis word run into it ("imsuicidal")."""
        for token in tokens:
            if len(token) < _STEM_MIN or token in self._known:
                continue
            hit = self._stems.get(token)
            if hit is None:
                hit = (
                    process.extractOne(
                        token,
                        lexicon.CRISIS_STEMS,
                        scorer=fuzz.partial_ratio,
                        score_cutoff=_STEM_CUTOFF,
                    )
                    is not None
                )
                if len(self._stems) >= _CACHE_MAX:
                    self._stems.clear()
                self._stems[token] = hit
            if hit:
                return True
        return False


@dataclass(frozen=True, slots=True)
class _TopicPhrase:
    """One phrasebook keyword or phrasing, normalised."""

    tokens: Pattern
    topic: str
    languages: frozenset[str]
    content: frozenset[str]
    weight: float
    content_weight: float


@dataclass(frozen=True, slots=True)
class _TopicHit:
    """A topic candidate and how strongly and specifically the text matched it."""

    tier: int
    score: float
    length: int
    topic: str
    languages: frozenset[str]

    @property
    def rank(self) -> tuple[int, float, int]:
        """Return the sort key: exact beats phrase beats weak, then the more specific match."""
        return (self.tier, self.score, self.length)


class _Topics:
    """The phrasebook indexed for matching: exact, in order, covered, or one telling word."""

    def __init__(self, phrasebook: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        unknown = sorted(set(phrasebook) - set(INFO_TOPICS))
        if unknown:
            raise ValueError(f"phrasebook has topics that are not info topics: {unknown}")
        owners: dict[Pattern, str] = {}
        languages: dict[Pattern, set[str]] = defaultdict(set)
        for topic in INFO_TOPICS:
            for language, items in phrasebook.get(topic, {}).items():
                for item in items:
                    tokens = normalize(item)
                    if not tokens:
                        continue
                    # The first topic to list a phrasing keeps it; a later duplicate is ignored.
                    owner = owners.setdefault(tokens, topic)
                    if owner == topic:
                        languages[tokens].add(language)
        topics_of: dict[str, set[str]] = defaultdict(set)
        for tokens, topic in owners.items():
            for token in tokens:
                topics_of[token].add(topic)
        self._weights = {
            token: len(token)
            * (_STOPWORD_WEIGHT if token in lexicon.TOPIC_STOPWORDS else 1.0)
            / len(topics)
            for token, topics in topics_of.items()
        }
        self.phrases: list[_TopicPhrase] = []
        for tokens, topic in owners.items():
            content = frozenset(t for t in tokens if t not in lexicon.TOPIC_STOPWORDS)
            self.phrases.append(
                _TopicPhrase(
                    tokens=tokens,
                    topic=topic,
                    languages=frozenset(languages[tokens]),
                    content=content,
                    weight=sum(self._weights[t] for t in tokens),
                    content_weight=sum(self._weights[t] for t in content),
                )
            )
        self._exact = {p.tokens: p for p in self.phrases}
        self._index: dict[str, list[_TopicPhrase]] = defaultdict(list)
        for phrase in self.phrases:
            for token in phrase.content or set(phrase.tokens):
                self._index[token].append(phrase)
        # A content word only one topic uses can carry a short question alone ("dizzy?", "coffee").
        content_words = {t for p in self.phrases for t in p.content}
        self._distinctive: dict[str, str] = {
            token: next(iter(topics_of[token]))
            for token in content_words
            if len(topics_of[token]) == 1
            and (len(token) >= 4 or (token.isdigit() and len(token) >= 3))
        }
        self._strings = [" ".join(p.tokens) for p in self.phrases]

    def vocabulary(self) -> Iterator[Pattern]:
        """Yield every phrase's tokens, for the spelling corrector."""
        return (p.tokens for p in self.phrases)

    def match(self, tokens: Pattern, guessed: frozenset[str] = frozenset()) -> _TopicHit | None:
        """Return the best topic for the text's tokens, or None; guessed words need company."""
        exact = self._exact.get(tokens)
        if exact is not None:
            return _TopicHit(
                _TIER_EXACT, exact.weight, len(exact.tokens), exact.topic, exact.languages
            )
        present = set(tokens)
        best: _TopicHit | None = None
        # In the text's own order, never a set's: equal ranks go to the first found, and every
        # worker process must find the same one (a set's order changes with the hash seed).
        seen: set[Pattern] = set()
        for token in dict.fromkeys(tokens):
            for phrase in self._index.get(token, ()):
                if phrase.tokens in seen:
                    continue
                seen.add(phrase.tokens)
                hit = self._score(phrase, tokens, present, guessed)
                if hit is not None and (best is None or hit.rank > best.rank):
                    best = hit
            weak = self._distinctive.get(token)
            if weak is not None and token not in guessed:
                hit = _TopicHit(_TIER_WEAK, self._weights[token], 1, weak, frozenset())
                if best is None or hit.rank > best.rank:
                    best = hit
        if best is None:
            best = self._within(tokens, seen)
        if best is None and len(tokens) <= _FUZZY_MAX_TOKENS:
            best = self._fuzzy(" ".join(tokens))
        return best

    def _within(self, tokens: Pattern, candidates: Iterable[Pattern]) -> _TopicHit | None:
        """Return a phrase a short question is part of ("can I drive?" in "when can i drive")."""
        present = set(tokens)
        if len(present) < 2 or present <= lexicon.TOPIC_STOPWORDS:
            return None
        best: _TopicHit | None = None
        for phrase in (self._exact[c] for c in candidates):
            if present <= set(phrase.tokens):
                hit = _TopicHit(_TIER_WEAK, phrase.weight, len(tokens), phrase.topic, frozenset())
                if best is None or hit.rank > best.rank:
                    best = hit
        return best

    def _score(
        self,
        phrase: _TopicPhrase,
        tokens: Pattern,
        present: set[str],
        guessed: frozenset[str],
    ) -> _TopicHit | None:
        """Return how a phrase matches the text: in order, or its content words in any order."""
        if _in_order(phrase.tokens, tokens):
            score = phrase.weight * _evidence(len(phrase.content))
            if len(phrase.tokens) > 1 or len(tokens) == 1:
                return _TopicHit(
                    _TIER_PHRASE, score, len(phrase.tokens), phrase.topic, phrase.languages
                )
            if phrase.tokens[0] in guessed:
                return None
            # A lone keyword inside a longer text ("after", "session") says less than a phrasing.
            return _TopicHit(_TIER_WEAK, score / 2, 1, phrase.topic, phrase.languages)
        if (
            not phrase.content
            or not phrase.content <= present
            or phrase.content_weight < _COVER_MIN
        ):
            return None
        score = phrase.content_weight * _evidence(len(phrase.content))
        if len(phrase.content) > 1:
            return _TopicHit(_TIER_PHRASE, score, len(phrase.content), phrase.topic, frozenset())
        if phrase.content <= guessed:
            return None
        return _TopicHit(_TIER_WEAK, score, 1, phrase.topic, frozenset())

    def _fuzzy(self, text: str) -> _TopicHit | None:
        """Return the phrase a short text is a near-spelling of ("how it work"), if any."""
        found = process.extractOne(
            text, self._strings, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF
        )
        if found is None:
            return None
        phrase = self.phrases[found[2]]
        return _TopicHit(
            _TIER_WEAK, phrase.weight, len(phrase.tokens), phrase.topic, phrase.languages
        )


def _evidence(content_words: int) -> float:
    """Return the bonus for matching several content words ("drive after", not just "safe")."""
    return 1.0 + _EXTRA_WORD_BONUS * max(content_words - 1, 0)


def _in_order(phrase: Pattern, tokens: Pattern) -> bool:
    """Return whether phrase occurs in tokens in order, with at most one extra word per gap."""
    last = len(tokens)
    for start, token in enumerate(tokens):
        if token != phrase[0]:
            continue
        position = start
        for wanted in phrase[1:]:
            if position + 1 < last and tokens[position + 1] == wanted:
                position += 1
            elif position + 2 < last and tokens[position + 2] == wanted:
                position += 2
            else:
                break
        else:
            return True
    return False


class Matcher:
    """Classifies inbound texts against the safety lexicon and a content phrasebook."""

    def __init__(
        self,
        phrasebook: Mapping[str, Mapping[str, Sequence[str]]],
        screen: CrisisScreen | None = None,
    ) -> None:
        self._topics = _Topics(phrasebook)
        self._screen = screen if screen is not None else default_screen()
        self._benign = _Phrases(lexicon.BENIGN)
        self._crisis = _Phrases(lexicon.CRISIS)
        self._near = _Near(lexicon.NEAR_CRISIS)
        self._crisis_whole = _Whole(lexicon.CRISIS_WHOLE)
        self._near_emergency = _Near(lexicon.NEAR_EMERGENCY)
        self._emergency = _Phrases(lexicon.EMERGENCY)
        self._emergency_whole = _Whole(lexicon.EMERGENCY_WHOLE)
        self._opt_out_whole = _Whole(lexicon.OPT_OUT_WHOLE)
        self._opt_out = _Phrases(lexicon.OPT_OUT)
        self._near_opt_out = _Near(lexicon.NEAR_OPT_OUT)
        self._opt_in_whole = _Whole(lexicon.OPT_IN_WHOLE)
        self._opt_in = _Phrases(lexicon.OPT_IN)
        self._visit_whole = {a: _Whole(lexicon.APPOINTMENT_WHOLE[a]) for a in lexicon.APPOINTMENT}
        self._visit = {a: _Phrases(lexicon.APPOINTMENT[a]) for a in lexicon.APPOINTMENT}
        safety = [
            *self._crisis.patterns,
            *self._crisis_whole.patterns,
            *self._near.patterns(),
            *self._emergency.patterns,
            *self._near_emergency.patterns(),
        ]
        others = [
            *self._benign.patterns,
            *self._emergency_whole.patterns,
            *self._opt_out_whole.patterns,
            *self._opt_out.patterns,
            *self._near_opt_out.patterns(),
            *self._opt_in_whole.patterns,
            *self._opt_in.patterns,
            *(p for w in self._visit_whole.values() for p in w.patterns),
            *(p for v in self._visit.values() for p in v.patterns),
            *self._topics.vocabulary(),
            *((word,) for word in lexicon.SCORE_WORDS),
        ]
        self._speller = _Speller([*safety, *others], self._crisis.patterns, safety)
        # Loaded now, so no patient's text waits half a second for the dictionaries.
        word_frequency()
        # Classifying is pure and patients send the same few texts ("C", "HELP", "ok thanks")
        # over and over; Intent is frozen, so a remembered answer is safe to share.
        self._remembered = lru_cache(maxsize=CLASSIFY_CACHE_SIZE)(self._classify)

    def classify(self, text: str, *, awaiting_checkin: bool = False) -> Intent:
        """Return what an inbound text asks for; awaiting_checkin lets a bare 1-5 be a score."""
        if len(text) > CLASSIFY_CACHE_MAX_TEXT:
            return self._classify(text, awaiting_checkin)
        return self._remembered(text, awaiting_checkin)

    def _classify(self, text: str, awaiting_checkin: bool) -> Intent:
        """Classify text (see classify), without the cache."""
        raw = normalize(text)
        tokens, guessed = self._speller.correct(raw)
        if not tokens:
            # Emoji alone can still say it ("🔫 😵").
            kind = IntentKind.CRISIS if self._crisis_spelled(text) else IntentKind.FALLBACK
            return Intent(kind)
        joined = " ".join(tokens)
        core = " ".join(_strip_polite(tokens))

        unmasked = self._benign.blank(joined)
        found = (
            self._crisis_whole.get(core) or self._crisis_in(unmasked) or self._crisis_spelled(text)
        )
        if found is not None or self._speller.crisis_stem(raw):
            return self._intent(IntentKind.CRISIS, raw, found)
        found = (
            self._emergency_whole.get(core)
            or self._emergency.first(unmasked)
            or self._near_emergency.first(unmasked.split())
        )
        if found is not None:
            return self._intent(IntentKind.EMERGENCY, raw, found)

        everyday = self._everyday(text, raw, tokens, guessed, unmasked, awaiting_checkin)
        opt_out = everyday.kind is IntentKind.OPT_OUT
        if not everyday.carrier_keyword and self._screen.flags(raw, opt_out=opt_out):
            # "stop texting me, I won't be around to need them" is a crisis first; what the rules
            # made of it (here an opt-out) is still honoured.
            language = everyday.language or _language(raw, None)
            return Intent(IntentKind.CRISIS, language=language, screened=True, beneath=everyday)
        return everyday

    def _everyday(
        self,
        text: str,
        raw: Pattern,
        tokens: Pattern,
        guessed: frozenset[str],
        unmasked: str,
        awaiting_checkin: bool,
    ) -> Intent:
        """Return what the rules make of a text that is no crisis or emergency by its words."""
        joined = " ".join(tokens)
        core = " ".join(_strip_polite(tokens))
        keyword = bare(text)
        if keyword in lexicon.CARRIER_OPT_OUT:
            return Intent(IntentKind.OPT_OUT, carrier_keyword=True)
        found = (
            self._opt_out_whole.get(core)
            or self._opt_out_asked(joined)
            or self._opt_out_closing(text)
        )
        if found is not None or _stop_among_fillers(tokens):
            return self._intent(IntentKind.OPT_OUT, raw, found)
        if keyword in lexicon.CARRIER_OPT_IN:
            return Intent(IntentKind.OPT_IN, carrier_keyword=True)
        found = self._opt_in_whole.get(core) or self._opt_in.first(joined)
        if found is not None:
            return self._intent(IntentKind.OPT_IN, raw, found)

        if awaiting_checkin:
            score = _checkin_score(text)
            if score is not None:
                return Intent(IntentKind.CHECKIN_SCORE, language=_language(raw, None), score=score)

        visit = self._appointment(core, unmasked)
        if visit is not None:
            action, found = visit
            return Intent(
                IntentKind.APPOINTMENT, language=_language(raw, found.language), action=action
            )

        topic = self._topics.match(tokens, guessed)
        if topic is not None:
            hint = next(iter(topic.languages)) if len(topic.languages) == 1 else None
            return Intent(IntentKind.TOPIC, language=_language(raw, hint), topic=topic.topic)
        return Intent(IntentKind.FALLBACK, language=_language(raw, None))

    def crisis_opts_out(self, intent: Intent, text: str) -> bool:
        """Return whether a crisis text also asks to stop texts (CARE.md: a crisis first)."""
        beneath = intent.beneath
        asked = beneath is not None and beneath.kind is IntentKind.OPT_OUT
        return asked or self.mentions_opt_out(text)

    def mentions_opt_out(self, text: str) -> bool:
        """Return whether the text also asks to stop texts, whatever else it says (CARE.md)."""
        tokens, _ = self._speller.correct(normalize(text))
        if self._opt_out_asked(" ".join(tokens)) is not None or _says_stop_keyword(text):
            return True
        return any(self._clause_opt_out(clause) is not None for clause in _CLAUSE.split(text))

    def visit_request(self, text: str) -> AppointmentAction | None:
        """Return the reschedule or call-back a text also asks for, whatever else it says."""
        tokens, _ = self._speller.correct(normalize(text))
        found = self._appointment(" ".join(_strip_polite(tokens)), " ".join(tokens))
        if found is None or found[0] not in (AppointmentAction.RESCHEDULE, AppointmentAction.CALL):
            return None
        return found[0]

    def _opt_out_asked(self, text: str) -> _Found | None:
        """Return the first opt-out in a normalised text that no negation turns around."""
        for found in self._opt_out.finditer(text):
            if not _negated(text[: found.start].split()[-1:], found.language):
                return found
        tokens = text.split()
        if lexicon.OPT_OUT_KEEP.intersection(tokens):
            return None
        for found in self._near_opt_out.finditer(tokens):
            if not _negated(tokens[max(found.start - 1, 0) : found.start], found.language):
                return found
        return None

    def _opt_out_closing(self, text: str) -> _Found | None:
        """Return the opt-out a text's first or last clause is on its own ("..., stop")."""
        clauses = [c for c in _CLAUSE.split(text) if normalize(c)]
        if len(clauses) < 2:
            return None
        if bare(clauses[0]) in lexicon.CARRIER_OPT_OUT:  # "STOP. this phone gets too many"
            return _Found(0, 0, None)
        return self._clause_opt_out(clauses[-1])

    def _clause_opt_out(self, clause: str) -> _Found | None:
        """Return the opt-out one clause of a text is on its own ("please stop"), if it is one."""
        if bare(clause) in lexicon.CARRIER_OPT_OUT:
            return _Found(0, 0, None)
        words, _ = self._speller.correct(normalize(clause))
        return self._opt_out_whole.get(" ".join(_strip_polite(words))) if words else None

    def _crisis_in(self, unmasked: str) -> _Found | None:
        """Return where a normalised, idiom-blanked text sounds like a crisis."""
        return self._crisis.first(unmasked) or self._near.first(unmasked.split())

    def _crisis_spelled(self, text: str) -> _Found | None:
        """Return a crisis the text spells with emoji or digits for letters ("k1ll", "💀")."""
        spelled = crisis_spelling(text, lexicon.MASKED_CRISIS_WORDS)
        if spelled is None:
            return None
        tokens, _ = self._speller.correct(normalize(spelled))
        return self._crisis_in(self._benign.blank(" ".join(tokens)))

    def _intent(self, kind: IntentKind, tokens: Pattern, found: _Found | None) -> Intent:
        """Return an intent of kind with the text's language."""
        return Intent(kind, language=_language(tokens, found.language if found else None))

    def _appointment(self, core: str, text: str) -> tuple[AppointmentAction, _Found] | None:
        """Return the first appointment action the text asks for, skipping negated ones."""
        for action in lexicon.APPOINTMENT_ORDER:
            found = self._visit_whole[action].get(core)
            if found is not None:
                return action, found
        for action in lexicon.APPOINTMENT_ORDER:
            for found in self._visit[action].finditer(text):
                before = text[: found.start].split()[-_NEGATION_WINDOW:]
                if action in _NEGATED_ACTIONS and lexicon.NEGATIONS.intersection(before):
                    continue
                return action, found
        return None


def _negated(before: Sequence[str], language: str | None) -> bool:
    """Return whether the word before an opt-out turns it around ("don't stop the reminders")."""
    negations = lexicon.OPT_OUT_NEGATIONS
    if language == "es":
        negations = negations | lexicon.OPT_OUT_NEGATIONS_ES
    return not negations.isdisjoint(before)


def _stop_among_fillers(tokens: Pattern) -> bool:
    """Return whether a text is STOP said with courtesy or repeated ("no thanks, stop")."""
    keywords = lexicon.OPT_OUT_KEYWORDS
    return any(t in keywords for t in tokens) and all(
        t in keywords or t in lexicon.OPT_OUT_FILLERS for t in tokens
    )


def _says_stop_keyword(text: str) -> bool:
    """Return whether STOP opens the text, or closes it in capitals, as the keyword and not a
    verb ("STOP I want to die", "i want to die STOP"; not "stop the pain", "make it STOP")."""
    words = _RAW_WORD.findall(text)
    if not words:
        return False
    keywords, verb_context = lexicon.OPT_OUT_KEYWORDS, lexicon.STOP_AS_VERB
    first, last = fold(words[0]), fold(words[-1])
    if first in keywords and (len(words) == 1 or fold(words[1]) not in verb_context):
        return True
    return (
        last in keywords
        and words[-1].isupper()
        and any(ch.islower() for ch in text)
        and fold(words[-2]) not in verb_context
    )


def _strip_polite(tokens: Pattern) -> Pattern:
    """Return tokens without leading or trailing courtesy words ("NEXT please", "C thanks")."""
    start, end = 0, len(tokens)
    while start < end and tokens[start] in lexicon.POLITE:
        start += 1
    while start < end:
        if tokens[end - 1] in lexicon.POLITE:
            end -= 1
        elif end - start >= 2 and tokens[end - 2 : end] == ("thank", "you"):
            end -= 2
        else:
            break
    return tokens[start:end] or tokens


def _checkin_score(text: str) -> int | None:
    """Return the 1-5 score a check-in answer gives ("4", "a 2", "2/5", "2 not great"), or None."""
    folded = fold(text)
    leading = _SCORE_LEADING.match(folded)
    if leading is not None:
        return int(leading.group(1))
    tokens = normalize(_SCORE_OUT_OF.sub(r"\1", folded))
    scores = [lexicon.SCORE_WORDS[t] for t in tokens if t in lexicon.SCORE_WORDS]
    if len(scores) != 1:
        return None
    if all(t in lexicon.SCORE_WORDS or t in lexicon.SCORE_FILLERS for t in tokens):
        return scores[0]
    # A leading digit followed by words is a score with a comment, unless a unit follows it.
    if tokens[0].isdigit() and tokens[0] in lexicon.SCORE_WORDS and len(tokens) > 1:
        return None if tokens[1] in lexicon.SCORE_UNITS else scores[0]
    return None


def _language(tokens: Pattern, hint: str | None) -> str | None:
    """Return "en" or "es" when the words clearly say so, else None (the patient's own language)."""
    if len(tokens) == 1 and tokens[0] in lexicon.UNIVERSAL:
        return None
    votes = {
        language: sum(t in lexicon.LANGUAGE_MARKERS[language] for t in tokens)
        for language in LANGUAGES
    }
    if hint in votes:
        votes[hint] += 2
    ranked = [*sorted(votes.items(), key=lambda item: item[1], reverse=True), ("", 0)]
    if ranked[0][1] > ranked[1][1]:
        return ranked[0][0]
    return None


@lru_cache(maxsize=1)
def word_frequency() -> Mapping[str, int]:
    """Return how often each English or Spanish word occurs (pyspellchecker's dictionaries),
    accents folded, the higher count where the languages share a word."""
    from spellchecker import SpellChecker

    counts: dict[str, int] = {}
    for language in LANGUAGES:
        dictionary = SpellChecker(language=language, distance=1).word_frequency.dictionary
        for word, count in dictionary.items():
            key = fold(word)
            counts[key] = max(counts.get(key, 0), int(count))
    return counts


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """Return the matcher built from the shipped content catalog's phrasebook."""
    # Deferred so a Matcher on a literal phrasebook needs no content files, and so the catalog's
    # own checks may import this module without a cycle.
    from messages.catalog import load_catalog

    return Matcher(load_catalog().phrasebook())


@lru_cache(maxsize=1)
def rules_only_matcher() -> Matcher:
    """Return the shipped matcher without the crisis screen: the word rules alone."""
    from messages.catalog import load_catalog

    return Matcher(load_catalog().phrasebook(), CrisisScreen.off())


def classify(text: str, *, awaiting_checkin: bool = False) -> Intent:
    """Return the intent of an inbound text, using the default matcher."""
    return default_matcher().classify(text, awaiting_checkin=awaiting_checkin)
