"""The negations of a false claim, made by rule: "It is a myth that X.", "It is not true that X." and, where the verb is
easy to find, X with "not". The knowledge base's builder adds them to each common entry's true statements, and the
rail reads them as answering only a sentence that negates too (`guardrails.rails.misinfo`)."""

from __future__ import annotations

import re

__all__ = ["NEGATION_CUE", "lower_first", "negations"]

NEGATION_CUE = re.compile(r"\b(?:not|no|never|cannot|myth|untrue)\b|n't\b", re.IGNORECASE)
"""A sentence that says a myth is not so. The rule-made negations among an entry's true statements ("It is a myth
that X.", "X does not Y.": `negations`) embed next to the myth itself (MiniLM barely sees a "not"),
so they answer only such a sentence: for one that affirms they were a coin toss against the myth it restates."""

_COMMON_FIRST_WORDS = frozenset(
    "a an the this that these those there it it's its they they're their you you're you'll your we our he she his "
    "her if when because since in on at no yes nothing nobody everyone everybody people some all most many every "
    "any one only more less just eating drinking wearing cracking swallowing reading men women children humans "
    "scientists doctors experts studies research".split()
)


def lower_first(text: str) -> str:
    """Lower-case the first letter only when the first word is a common word, never a name ("Rome", "Einstein")."""
    first = text.split(" ", 1)[0].lower().rstrip(",")
    if first in _COMMON_FIRST_WORDS and text[:1].isupper():
        return text[0].lower() + text[1:]
    return text


_NEGATION = re.compile(r"\b(?:not|no|never|nothing|cannot|can't|won't|don't|doesn't|isn't|aren't|wasn't|weren't)\b", re.I)
_AUX_FIRST = re.compile(r"^(.+?\b(?:is|are|was|were|can|will|should|must|do|does|did|has|have))\b (.+)$")
_VERB_S = re.compile(r"^(.+?) (\w+?)(ies|es|s)\b (.+)$")
_THIRD_PERSON_VERBS = frozenset(
    "cause make give kill cure prevent stay turn help protect lead keep burn destroy spread mean lower raise need "
    "flush warm seal boil strike drain shrink grow stop get".split()
)


def negations(claim: str) -> list[str]:
    """True statements made from a false claim by rule, so that "X does not cause Y" counts as the truth and not as the
    myth it shares its words with (MiniLM barely sees a "not"): "It is a myth that X." and, where the verb is easy to
    find, the claim with "not" after its first auxiliary or as "does not" + verb."""
    body = claim.strip().rstrip(".")
    lowered = lower_first(body)
    out = [f"It is a myth that {lowered}.", f"It is not true that {lowered}."]
    if _NEGATION.search(body):
        return out
    if m := _AUX_FIRST.match(body):
        out.append(f"{m.group(1)} not {m.group(2)}.")
    elif (m := _VERB_S.match(body)) and (stem := m.group(2) + ("y" if m.group(3) == "ies" else "")) in _THIRD_PERSON_VERBS:
        out.append(f"{m.group(1)} does not {stem} {m.group(4)}.")
    elif (m := _VERB_S.match(body)) and (stem := m.group(2) + m.group(3)[:-1]) in _THIRD_PERSON_VERBS:
        out.append(f"{m.group(1)} does not {stem} {m.group(4)}.")
    return out
