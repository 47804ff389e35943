"""A group said to be vermin: the plainest dehumanising claim, read by a rule because the toxicity head can miss it.

The head learns claims about groups from template sentences and judges new ones by resemblance; a sentence as plain
as "Asians are soulless insects." or "Black people are apes." scored under its thresholds (2026-12-06). What this
reads is narrow on purpose: a sentence that opens with a group ("Refugees", "All Muslims", "Gay people") and says it
*is* a creature or a disease ("vermin", "a plague"), with at most three words between from a short list of
intensifiers ("nothing but", "no better than", "filthy"). It does not read a negation ("are not vermin"), a report
or condemnation ("Some say refugees are vermin", "Calling refugees vermin is a lie"), a question, a character's
line in quotation marks, or any creature that is not a group of people ("The goblins are vermin").
"""

from __future__ import annotations

import re

from guardrails.text.identity_groups import ADJECTIVES, GROUPS

__all__ = ["dehumanises"]

_CREATURES = (
    "vermin", "rats", "cockroaches", "roaches", "insects", "bugs", "parasites", "leeches", "lice", "maggots", "locusts",
    "termites", "animals", "beasts", "apes", "monkeys", "baboons", "gorillas", "pigs", "swine", "dogs", "mongrels",
    "livestock", "cattle", "savages", "subhumans", "subhuman", "pests", "scum", "filth", "trash", "garbage", "snakes",
    "a disease", "a plague", "a cancer", "a virus", "an infestation", "a pest", "not human", "less than human",
)
_BETWEEN = (
    "all", "just", "nothing but", "no better than", "little more than", "basically", "simply", "truly", "really",
    "such", "like", "filthy", "dirty", "disgusting", "soulless", "worthless", "godless", "stinking", "diseased",
    "savage", "dumb", "stupid", "lazy", "evil", "vile", "greedy", "wild", "mindless", "brainless", "breeding",
)


def _alternatives(words: tuple[str, ...] | list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_GROUP = rf"(?:{_alternatives(GROUPS)}|(?:{_alternatives(ADJECTIVES)}) (?:people|men|women|folk|kids))"
_CLAIM = re.compile(
    rf"^(?:all |most |the )?{_GROUP} (?:are|were|is) (?:(?:{_alternatives(_BETWEEN)}) ){{0,3}}(?:{_alternatives(_CREATURES)})\b",
    re.IGNORECASE,
)


def dehumanises(sentence: str) -> bool:
    """Whether a sentence (one unit, normalised) opens by calling a group of people vermin or a disease."""
    text = sentence.strip()
    return not text.endswith("?") and bool(_CLAIM.match(text))
