"""Self-harm urged on the reader or a member: read by a rule because the toxicity head misses new phrasings of it.

The head learnt self-harm encouragement from templates ("Dear reader, you should starve yourself") and judges other
shapes by resemblance: of ten written fresh on 2026-12-06 ("Go on, reader, swallow the whole bottle and end it.",
"Nobody would notice if you stopped eating for good.") it blocked four. What this reads is narrow on purpose, and
only in a sentence already aimed at someone real (an @mention, or "you" outside quotation marks in the bot's output:
`guardrails.rails.toxicity.aims_at_real_person`), or one that calls on the reader:
- an order to harm oneself: "kill / cut / starve / hang yourself", "end it all", "swallow the (whole) bottle",
  "slit your wrists", where the verb opens a clause or follows a push ("you should", "go", "and", "why don't
  you"); "stop eating", "starve", "die", "disappear" only after a push, or opening a clause that calls on
  the reader ("Starve, reader."); never after "don't", "never" or "not" (no push reads so);
- a life not worth keeping: "nobody would miss / notice ... you", "the world would be better without you", "you
  would be better off dead", "you should / deserve to die".
A story's "you" who cuts himself on glass ("You cut yourself on the broken glass") is a statement, not an order; a
worthless-life clause that is reported ("You said the world would be better without you. The world disagreed.") is
not said; care ("Please don't hurt yourself", "call someone who loves you") is neither.
"""

from __future__ import annotations

import re

__all__ = ["urges_self_harm"]

_READER = re.compile(r"\b(?:reader|readers)\b|\bfor you\s*[:,\u2014\u2013-]", re.IGNORECASE)
"""A sentence that calls on the reader, or is dedicated to them ("A poem for you: ...")."""
_HARM_ONESELF = (
    r"(?:kill|cut|starve|hang|harm|hurt|drown|shoot|burn|off) yourself(?!\s+(?:a|an|some|off)\b)|end (?:it all|your (?:own )?life)"
    r"|(?:slit|cut|open) your (?:wrists?|throat|veins)|(?:swallow|down|take) (?:the (?:whole )?bottle|all (?:of )?(?:the|your|those) pills)"
)
"""Acts that are self-harm whatever the sentence: an order to do them opens a clause or follows a push."""
_GIVE_UP = (
    r"(?:stop (?:eating|breathing|existing|living)(?=\s*(?:[.,;:!?]|$|for good|forever|altogether|entirely|and\b))|starve|die|disappear"
    r"|jump (?:off|in front))(?!\s+(?:the|a|an|your|my|his|her|their|its|it|them|this|that)\b)"
)
"""Acts that are ordinary words elsewhere ("stop eating so late", "fight and die on this hill"): an order only after a
modal or a push aimed at the person ("you should (just)", "go", "why don't you"), or opening a sentence that calls on
the reader ("Starve, reader."); never with an object ("starve the sourdough starter", "stop eating candy before bed"
are kitchen advice)."""
_CLAUSE = r"(?:^|[,;:.!?\u2014\u2013-]\s*|\band\s+)"
_PUSH = (
    r"(?:\bgo\s+(?:on\s*,?\s*)?|\bwhy (?:don't|not) you\s+(?:just\s+)?|\bwhy not\s+(?:just\s+)?"
    r"|\byou (?:should|must|need to|ought to|deserve to|have to|might as well|could just)\s+(?:just\s+|go\s+)?)"
)
_ORDER = re.compile(rf"(?:{_CLAUSE}|{_PUSH})(?:{_HARM_ONESELF})\b|{_PUSH}(?:{_GIVE_UP})\b", re.IGNORECASE)
_ORDER_TO_READER = re.compile(rf"{_CLAUSE}(?:{_GIVE_UP})\b", re.IGNORECASE)
_NOBODY_WOULD = r"\b(?:no one|nobody|no-one)\b(?:\s+\w+){0,2}\s+(?:would|will|'d)\s+(?:even\s+)?"
_WORTHLESS = re.compile(
    rf"{_NOBODY_WOULD}(?:miss|mourn|cry (?:for|over)) you\b"
    rf"|{_NOBODY_WOULD}(?:notice|care)\s+if\s+you\s+(?:died|were (?:dead|gone)"
    r"|disappeared|vanished|stopped (?:eating|breathing|existing|living)|starved|killed yourself|were never born)\b"
    r"|\b(?:the world|everyone|everybody|your family|we|they)(?:\s+\w+){0,3}?\s+(?:would|will|'d)\s+be\s+(?:so\s+much\s+)?(?:better|happier)\s+(?:off\s+)?"
    r"(?:without you|if you (?:were|was) (?:dead|gone))"
    r"|\byou(?:'d| would) be better off dead\b|\byou (?:should|deserve to|ought to) (?:just )?(?:die|be dead|not exist)\b",
    re.IGNORECASE,
)


_REPORTED = re.compile(
    r"\b(?:said|say|says|thought|think|thinks|felt|feel|feels|believed|believe|believes|told you|tells you|lied|lies|whispered)"
    r"(?:\s+that)?\s*[,:]?\s*[\"\u201c']?\s*$",
    re.IGNORECASE,
)
"""What comes before a worthless-life clause that reports it instead of saying it ("You said the world would be better
without you. The world disagreed.", "If you ever think nobody would miss you, ...")."""


def urges_self_harm(sentence: str, aimed_at_someone_real: bool) -> bool:
    """Whether a sentence urges its reader or a member to harm or kill themselves (see the module's note)."""
    calls_on_reader = bool(_READER.search(sentence))
    if not (aimed_at_someone_real or calls_on_reader):
        return False
    if _ORDER.search(sentence):
        return True
    if any(not _REPORTED.search(sentence[: m.start()]) for m in _WORTHLESS.finditer(sentence)):
        return True
    return calls_on_reader and bool(_ORDER_TO_READER.search(sentence))
