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
