"""A comparison told the other way round from a known false claim: "Sound travels faster through water than through
air." against the myth "Sound travels faster in air than in water.". MiniLM embeds the two at 0.98 (word order
barely moves a mean-pooled sentence embedding), so by similarity alone the truth matched the myth it corrects."""

from __future__ import annotations

import re

__all__ = ["COMPARISON_VERSION", "reverses_comparison"]

COMPARISON_VERSION = "than-1"
"""Part of the misinformation rail's version (and so of the policy hash)."""

_THAN = re.compile(r"\bthan\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FUNCTION_WORDS = frozenset(
    "a an the in into inside through on onto at of to by for with from as and or is are was were be been being do "
    "does did it its it's they them their there this that these those".split()
)


def _sides(text: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """The content words before and after the one "than" of a comparison, or None."""
    parts = _THAN.split(text.lower())
    if len(parts) != 2:
        return None
    left, right = (frozenset(w for w in _WORD.findall(part) if w not in _FUNCTION_WORDS) for part in parts)
    return (left, right) if left and right else None


def reverses_comparison(sentence: str, claim: str) -> bool:
    """Whether `sentence` compares the same two things as `claim` in the same words, the two swapped: "Hares can run
    faster than tortoises." against "Tortoises can run faster than hares.", "Humans' mouths are cleaner than dogs'
    mouths." against "Dogs' mouths are cleaner than humans' mouths.". The rest must match word for word, so a swap
    that also swaps the comparative ("Water carries sound slower than air.") restates the claim and is not this."""
    ours, theirs = _sides(sentence), _sides(claim)
    if ours is None or theirs is None:
        return False
    (our_left, our_right), (their_left, their_right) = ours, theirs
    # What each puts after "than" that the other does not: the two things compared ("dogs" / "humans" of "... mouths").
    ours_only, theirs_only = our_right - their_right, their_right - our_right
    if not ours_only or not theirs_only or not (ours_only <= their_left and theirs_only <= our_left):
        return False
    return our_left - theirs_only == their_left - ours_only
