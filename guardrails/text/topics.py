"""Topics a story game's players name (lines and veils): how a policy keeps them, names them, and matches them
as words in a sentence ("spiders" matches "spider", "spiders"; "harm to animals" needs "harm" and "animal(s)" in
one sentence)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from guardrails.text.normalize import normalize

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 80
WORD_SCORE = 1.0
"""The score a word match gets (above any cosine threshold)."""

_STOPWORDS = frozenset(
    "a an the of to in on at for and or with by from into about any no not all some their his her its "
    "this that these those be being is are was were".split()
)


def clean_topics(topics: Sequence[str]) -> tuple[str, ...]:
    """Topics as a policy keeps them: trimmed, lower-cased, de-duplicated, empty ones dropped, bounded."""
    cleaned = (" ".join(topic.split()).lower()[:MAX_TOPIC_CHARS] for topic in topics)
    return tuple(dict.fromkeys(topic for topic in cleaned if topic))[:MAX_TOPICS]


def topic_digests(topics: Sequence[str]) -> list[str]:
    """Each topic's SHA-256 (hex), in order: how a policy names its lines and veils (see `describe`)."""
    return [hashlib.sha256(topic.encode()).hexdigest() for topic in topics]


def _word_pattern(word: str) -> str:
    stem = word
    if len(word) > 4 and word.endswith("ies"):
        stem = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        stem = word[:-1]
    forms = {re.escape(stem)}
    if stem.endswith("y") and len(stem) > 3:
        forms.add(re.escape(stem[:-1]) + "ies")
    if stem.endswith("e") and len(stem) > 3:
        forms.add(re.escape(stem[:-1]) + "(?:ing|ed)")
    return r"\b(?:" + "|".join(sorted(forms)) + r")(?:s|es|ed|ing|'s)?\b"


def topic_patterns(topic: str) -> list[re.Pattern[str]]:
    """One pattern per content word of `topic`; a sentence matches the topic when it matches all of them."""
    words = [w for w in re.findall(r"[\w'-]+", normalize(topic).lower()) if w not in _STOPWORDS and len(w) > 1]
    return [re.compile(_word_pattern(w), re.IGNORECASE) for w in words]


def word_match(patterns: Sequence[re.Pattern[str]], normalised: str) -> bool:
    """Whether a normalised sentence has every content word of a topic (`topic_patterns`)."""
    return bool(patterns) and all(pattern.search(normalised) for pattern in patterns)
