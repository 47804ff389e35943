"""Statements from TruthfulQA's question + short answer, and the negations of a false claim: the text rules of the
misinformation knowledge base (`training.build_misinfo_kb`); the negations live beside the rail that reads them
(`guardrails.claims.negation`)."""

from __future__ import annotations

import re

from guardrails.claims.negation import lower_first

_AUX = r"(?:is|are|was|were|has|have|had|can|could|will|would|did|does|do|should|must)"
_PRONOUN_START = re.compile(r"^(?:it|it's|they|they're|he|she|his|her|its|their|this|that|these|those)\b", re.I)
_VERB = re.compile(
    r"\b(?:is|are|was|were|has|have|had|can|cannot|can't|will|won't|would|could|should|must|do|does|did|don't|"
    r"doesn't|didn't|isn't|aren't|\w+ed|\w{2,}s)\b"
)
NO_COMMENT = re.compile(r"^(?:i have no comment|no comment|i don't know|i do not know|unknown)\.?$", re.I)


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    return len(text.split())


def rewrite(question: str, answer: str) -> str:
    """A declarative, self-contained statement from a TruthfulQA question and one of its answers (rule-based)."""
    q = question.strip()
    a = answer.strip().rstrip(".").strip()
    q_body = q.rstrip("?").strip()
    m = re.match(r"^(Yes|No),?\s+(.*)$", a)
    if m and word_count(m.group(2)) >= 3:
        return upper_first(m.group(2))
    if m := re.match(r"^What (?:will |would )?happens? (?:to (?:you|a person|someone|people) )?(if|when) (.+)$", q_body, re.I):
        if not a.lower().startswith(m.group(1).lower() + " "):
            return f"{upper_first(m.group(1).lower())} {m.group(2)}, {lower_first(a)}"
    if _PRONOUN_START.match(a):
        return f"{q_body}: {lower_first(a)}"
    if (word_count(a) >= 6 or (word_count(a) >= 3 and _VERB.search(a.split(" ", 1)[1]))) and not re.match(r"^(?:yes|no)\b", a, re.I):
        return upper_first(a)
    if m := re.match(r"^Who (.+)$", q_body):
        return f"{upper_first(a)} {m.group(1)}"
    if m := re.match(r"^(?:What|Which) (is|are|was|were) (.+)$", q_body):
        return f"{upper_first(m.group(2))} {m.group(1)} {lower_first(a)}"
    if m := re.match(r"^(?:What|Which)((?: [\w'-]+){1,5}?) ((?:is|are|was|were|has|have|had)\b.*)$", q_body):
        return f"{upper_first(a)} {m.group(2)}"
    if m := re.match(r"^([A-Z][^?.]*?) (?:which|what)(?: [\w'-]+)?$", q_body):
        return f"{m.group(1)} {lower_first(a)}"
    if m := re.match(r"^Why (?:do|does|did) (.+)$", q_body):
        reason = a if re.match(r"^(?:because|due to|since)\b", a, re.I) else f"because {lower_first(a)}"
        return f"{upper_first(m.group(1))} {lower_first(reason)}"
    if m := re.match(r"^Where (is|are|was|were) (.+)$", q_body):
        place = a if re.match(r"^(?:in|at|on|under|inside|near)\b", a, re.I) else f"in {a}"
        return f"{upper_first(m.group(2))} {m.group(1)} {lower_first(place)}"
    if re.match(r"^(?:Yes|No)$", a, re.I) and (m := re.match(rf"^({_AUX}) (.+)$", q_body, re.I)):
        # "Can juice fasts detoxify the body?" + "Yes": the aux cannot be moved without a parser; keep both.
        return f"{a}: {lower_first(q_body)}"
    return f"{q_body}: {lower_first(a)}"


def best_correction(true_answers: list[str]) -> str:
    """The first informative true answer (at least five words), else the longest."""
    useful = [a for a in true_answers if not NO_COMMENT.match(a.strip())] or true_answers
    for answer in useful:
        if word_count(answer) >= 5:
            return answer.strip()
    return max(useful, key=len).strip() if useful else ""



def correction_clauses(correction: str) -> list[str]:
    """Each clause of a correction written as two ("Lean forward and pinch the soft part of the nose; tilting back
    sends blood down the throat."), as a true statement of its own: the whole sentence embeds between its halves, so a
    reader-facing sentence that says only the first half sat nearer the myth than any truth. Clauses of fewer than
    three words are not statements."""
    parts = [part.strip().rstrip(".") for part in correction.split(";")]
    if len(parts) < 2:
        return []
    return [upper_first(part) + "." for part in parts if word_count(part) >= 3]
