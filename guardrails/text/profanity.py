"""Profanity by strength, for the `obscene` category: the sentence encoder sees topic and tone, not swear words.

Scores: 1.0 strong (the f-word and c-word families), 0.6 moderate, 0.3 mild, 0.0 none. Ratings decide what
passes (`guardrails/ratings.py`): G blocks all three, PG-13 the strong ones, M none. Text arrives normalised
(`guardrails.text.normalize`), so obfuscated spellings match too.
"""

from __future__ import annotations

import re

_STRONG = re.compile(r"\b(?:\w*fuck\w*|fck\w*|cunts?|motherfuck\w*|cocksuck\w*)\b", re.IGNORECASE)
_MODERATE = re.compile(
    r"\b(?:shit\w*|bullshit|bitch\w*|asshole\w*|arsehole\w*|bastards?|dickheads?|piss(?:ed)?|prick)\b", re.IGNORECASE
)
_MILD = re.compile(r"\b(?:damn\w*|hell|crap\w*|bloody|bugger)\b", re.IGNORECASE)


def profanity_score(text: str) -> float:
    if _STRONG.search(text):
        return 1.0
    if _MODERATE.search(text):
        return 0.6
    if _MILD.search(text):
        return 0.3
    return 0.0


# Swearing as emphasis, not a word for a person: "this shit is fucked", "the goddamn key". Words that name or insult a
# person ("bitch", "cunt", "bastard", "prick", "motherfucker") are not here: taking them out would take out what a
# sentence says about someone.
_EXPLETIVE = re.compile(
    r"\b(?:(?:clusterfuck|fuck)(?:s|ed|ing|in)?|fck(?:s|ed|ing|in)?|shit(?:s|ty|ting|ted)?|bullshit|goddamn(?:ed|it)?"
    r"|damn(?:ed|ing|it)?|hell|crap(?:py|s)?|bloody|bugger(?:ed)?|piss(?:ed|es|ing)?)\b",
    re.IGNORECASE,
)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


def without_expletives(text: str) -> str:
    """`text` with its swearing-as-emphasis taken out: what is left is what a sentence says once strong language is
    allowed ("Everything was fucked: the car, the map." -> "Everything was: the car, the map.")."""
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(_EXPLETIVE.sub("", text).split()))
