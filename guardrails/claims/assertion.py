"""Is a sentence a real-world claim asserted to the reader, or a line inside the story?

A transparent rule-based score (`assertion_score`, 0-1) looks at where the words are: quoted dialogue, a character's
belief or speech ("the wizard believed ..."), fantasy framing, an unreliable narrator framed as wrong ("he was
wrong, of course") and past-tense narration lower it; "studies show", "scientists agree", "it is a fact that",
"did you know", "remember, readers", advice and second person addressed to the reader, and generic present-tense
statements outside quotes raise it.

A false claim stated plainly counts as asserted to the reader unless something marks it as in-story: a bare one-line
output ("Cracking your knuckles causes arthritis.", "Bats are blind.") is judged, not skipped, and when it is the whole
output its past tense is no story's narration ("Walt Disney had his body frozen."); names and periods of real history
("Vikings", "in 1776", "medieval") cancel the past-narration cue too. Fragments of fewer than three words, or three
without a verb ("Silver moon rising."), are no claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from guardrails.text.normalize import normalize
from guardrails.text.units import split_units

__all__ = [
    "ASSERTION_VERSION",
    "AssertionFeatures",
    "WEIGHTS",
    "assertion_features",
    "assertion_score",
    "is_fragment",
    "negated_after_first_clause",
    "speech_units",
    "unit_keys",
]

ASSERTION_VERSION = "assert-rules-3"
"""Bump when the assertion rules change: it is part of the rail's version and of the policy hash."""

MIN_UNIT_WORDS = 3
"""A unit of fewer words is never matched: a poem's fragment or an exclamation is no real-world claim."""

MIN_CLAIM_WORDS_WITHOUT_VERB = 4
"""A unit of exactly MIN_UNIT_WORDS words is judged only when it has a finite verb ("Bats are blind."): "silver moon
rising" is a poem's fragment, not a claim."""


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_READER_CUES = _rx(
    r"\b(?:(?:recent |many |numerous |scientific |medical )?(?:studies|research|science|scientists|experts|doctors|"
    r"researchers|physicians|nutritionists|the data|evidence|statistics)\s+(?:now\s+|clearly\s+|all\s+)?"
    r"(?:show|shows|showed|prove|proves|proven|agree|agrees|confirm|confirms|say|says|suggest|suggests|have shown|"
    r"has shown|have proven|has proven|found|tell us|recommend|recommends)|it(?:'s| is) (?:a )?(?:(?:scientific|"
    r"medical|proven|well[- ]known|known|historical|simple|plain|established|documented|true) )*fact|"
    r"(?:it is|it's) (?:true|proven|well documented|scientifically proven|a fact) that|fun fact|fact\s*:|"
    r"did you know|remember,|remember that|dear readers?|readers?,|\breaders\b|in real life|in reality|"
    r"in the real world|real[- ]world|take it from me|trust me|note that|keep in mind|(?:pro )?tip\s*:|"
    r"for your (?:health|safety)|you should|you must|make sure|be sure to|don't forget|never forget|"
    r"everyone knows|as we all know|the truth is|the fact is|historians agree|history shows|according to "
    r"(?:science|scientists|experts|doctors|research|studies|the (?:cdc|who|fda|nih))|it has been proven|"
    r"proven fact|scientifically|medically|here(?:'s| is) (?:a|the) (?:real|true) )",
)
_BELIEF = _rx(
    r"\b(?:believed|believes|believing|thought|thinks|was convinced|were convinced|swore|swears|insisted|"
    r"insists|claimed|claims|told|tells|warned|warns|whispered|whispers|muttered|said|announced|declared|"
    r"taught|had heard|heard that|imagined|dreamed|dreamt|feared|fears|hoped|suspected|assured|promised|"
    r"explained|scoffed|grumbled|murmured|shouted|cried|boasted|lectured|preached|proclaimed|repeated|"
    r"was sure|were sure|was certain|were certain|knew that|convinced (?:him|her|them)|maintained|"
    r"legend (?:has|had) it|so the (?:story|legend|tale) (?:goes|went)|the old (?:tales|stories|songs)|"
    r"according to (?:the |an |a |her |his |their |old )?(?:legend|legends|elves|elders?|villagers|prophecy|"
    r"wizard|witch|king|queen|priests?|lore|tale|tales|songs?|scrolls?|grandmother|grandfather|grandma|grandpa|"
    r"uncle|aunt|mother|father|captain|[A-Z][a-z]+)|in (?:her|his|their) (?:mind|opinion|view)|as far as "
    r"(?:she|he|they) knew|every child (?:was|is) taught)",
)
_FANTASY = _rx(
    r"\b(?:wizards?|witch(?:es)?|dragons?|elves|elf|elven|dwarves|dwarf|kingdoms?|realms?|spells?|enchanted|"
    r"enchantment|magic(?:al)?|sorcer\w*|potions?|prophec\w*|goblins?|trolls?|fair(?:y|ies)|oracles?|"
    r"curse[ds]?|spirits?|ghosts?|necromancer\w*|mages?|warlocks?|runes?|amulets?|castle|knights?|"
    r"prince(?:ss)?|kings?|queens?|villagers|village elders?|tavern|pirates?|starship|galaxy|planet \w+|"
    r"in this (?:world|land|realm)|once upon a time|long ago|in the land of|lich|orcs?|sprites?|shaman)\b",
)
_UNRELIABLE = _rx(
    r"\b(?:(?:was|were|is|are) (?:wrong|mistaken|misinformed)|of course (?:it|that|this) (?:wasn't|isn't|was not|"
    r"is not)|wasn't true|isn't true|was not true|is not true|nonsense|superstitio\w*|old wives'? tales?|"
    r"myths?|rumou?rs?|foolish\w*|silly|laughed at|knew better|didn't know|did not know|(?:she|he|they) was wrong|"
    r"or so (?:she|he|they) (?:thought|believed|said)|none of it was true|poor (?:fool|man|woman|child)|"
    r"gullible|naive|misguided|wrong, of course|of course, wrong|rolled (?:her|his|their) eyes|"
    r"the (?:doctor|teacher|healer) (?:sighed|corrected))",
)
_HISTORICAL = _rx(
    r"\b(?:in (?:the )?(?:1[0-9]|20)[0-9]{2}s?|(?:1[0-9]|20)[0-9]{2}|(?:\w+th|\d+(?:st|nd|rd|th)) century|"
    r"middle ages|medieval|ancient (?:romans?|greeks?|egyptians?|times|rome|greece|egypt)|vikings?|"
    r"roman (?:empire|emperors?)|historically|in history|(?:world war|civil war|revolution)\b|founding fathers|"
    r"pilgrims|pharaohs?|napoleon|columbus|einstein|edison|newton|galileo|shakespeare|lincoln|"
    r"george washington|marie antoinette|nero|cleopatra|thomas crapper|henry ford|gladiators?)",
)
"""The past tense of real history ("Vikings wore horned helmets", "Einstein failed maths") is a claim about the world,
not the story's narration."""
_FINITE_VERB = _rx(r"\b(?:is|are|was|were|am|do|does|did|can|can't|cannot|will|won't|has|have|had|\w{3,}(?:s|ed))\b")
_PAST = _rx(r"\b(?:was|were|had|did|could|would|went|came|said|told|felt|knew|saw|took|made|seemed|\w{3,}ed)\b")
_PRESENT = _rx(
    r"\b(?:is|are|am|does|do|don't|doesn't|isn't|aren't|can|can't|cannot|will|won't|causes?|makes?|gives?|"
    r"has|have|helps?|prevents?|cures?|leads? to|means|kills?|protects?|turns?|grows?|becomes?|needs?|"
    r"lets?|stays?|gets?|contains?|happens?|must|should)\b",
)
_NEGATED = _rx(r"\b(?:not|no|never|cannot)\b|n't\b")
_CUE_PREFIX = re.compile(r"^[^:]{0,40}:\s*")
_QUESTION = re.compile(r"\?[\s\"'”’)]*$")
_AUX_NOT = r"(?:is|are|does|do|did|was|were|has|have|can|wo|would|should|could)n't"
_RHETORICAL = _rx(
    rf"^\s*(?:{_AUX_NOT}|did you know)\b"
    rf"|,\s*(?:(?:{_AUX_NOT}|is|are|do|does)\s+\w+|right|eh|you know|no|true|yes)\s*\?[\s\"'”’)]*$"
)
"""A question that asserts all the same: "Isn't it true that ...?", "Did you know ...?", "Bats are blind, aren't
they?"."""


def negated_after_first_clause(sentence: str) -> bool:
    """Whether a negation follows an affirmative first clause ("bulls are enraged by red, so never wear red"), as
    opposed to a sentence whose first clause is negated ("X has not been shown to ..."): a correction."""
    return bool(_NEGATED.search(sentence)) and not _NEGATED.search(_first_clause(sentence))


def _first_clause(sentence: str) -> str:
    """The sentence up to its first comma or semicolon, after a short "Remember, readers:"-style lead-in."""
    return re.split(r"[,;]", _CUE_PREFIX.sub("", sentence, count=1), maxsplit=1)[0]


_SECOND_PERSON = _rx(r"\b(?:you|your|yours|yourself)\b")
_IMPERATIVE = _rx(r"^\s*(?:always|never|don't|do not|avoid|try|remember|make sure|be sure|stop|eat|drink|take|go)\b")
_QUOTED = re.compile(
    r"\"[^\"]+\"|“[^”]+”|«[^»]+»|‘[^’]+’|(?:^|(?<=[\s(—–-]))'(?:[^']|'(?=[a-z]))+?[,.!?…]'(?=\s|$|[,.;:!?])"
)
_SPEECH_TAG = re.compile(
    r"^(?:(?:[A-Z][\w'-]*|the|her|his|their|my|old|young)\s+){1,4}(?:warned|said|says|whispered|muttered|insisted|"
    r"shouted|cried|asked|replied|answered|added|declared|announced|explained|swore|laughed|sighed|snapped|hissed|"
    r"called|told|growled|murmured|grumbled|lectured|boasted)\b"
)
_CLOSING_QUOTE_END = re.compile(r"[.!?…][\"'”’]\s*$")
_NAMED_SPEAKER = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?\s+(?:believed|thought|said|swore|insisted|claimed|told|"
                            r"warned|whispered|muttered|was convinced|knew|announced|declared|explained)\b")


def speech_units(text: str) -> list[str]:
    """`split_units`, with a speech tag joined back to the dialogue before it: "'Run!' Grandma warned." is one unit
    (the shared splitter cuts a closed quote from a capitalised next word)."""
    units = split_units(text)
    merged: list[str] = []
    for unit in units:
        if merged and _CLOSING_QUOTE_END.search(merged[-1]) and _SPEECH_TAG.match(unit):
            merged[-1] = f"{merged[-1]} {unit}"
        else:
            merged.append(unit)
    return merged


_DISOWNING = _rx(
    r"^(?:(?:at least|or at least|well|but|and)[, ]+)?(?:(?:that's|that is|this is|or so|so) (?:what )?\w+ (?:\w+ )?"
    r"(?:believed|thought|said|claimed|insisted|swore|told|was told|had heard|liked to say)|(?:she|he|they|it|"
    r"[A-Z][a-z]+) (?:was|were) wrong|none of (?:it|this) (?:was|is) true|it wasn't true|it was(?:n't| not) true|"
    r"of course,? (?:it|that|this) (?:wasn't|isn't|was not|is not))"
)


def is_fragment(sentence: str) -> bool:
    """Fewer than MIN_UNIT_WORDS words, or exactly that many without a finite verb: a fragment, not a claim. A bare
    one-line statement ("Bats are blind.", "Cracking your knuckles causes arthritis.") is judged like any other."""
    words = len(sentence.split())
    if words < MIN_UNIT_WORDS:
        return True
    return words < MIN_CLAIM_WORDS_WITHOUT_VERB and not _FINITE_VERB.search(sentence)


def unit_keys(units: list[str]) -> list[tuple[str, bool, bool]]:
    """Per unit: its normalised text, whether the next unit disowns it, and whether it is the whole output (a bare
    one-line statement: its past tense is no story's narration)."""
    keys = []
    alone = len(units) == 1
    for i, unit in enumerate(units):
        following = units[i + 1].strip() if i + 1 < len(units) else ""
        disowned = bool(following and (_DISOWNING.search(following) or (_UNRELIABLE.search(following)
                                                                          and len(following) < 80)))  # fmt: skip
        keys.append((normalize(unit) if unit.strip() else "", disowned, alone))
    return keys


@dataclass(frozen=True, slots=True)
class AssertionFeatures:
    """The cues found in one sentence; `fired` names those that count in `assertion_score`."""

    quoted_fraction: float
    reader_cue: bool
    belief: bool
    fantasy: bool
    unreliable: bool
    past: bool
    present: bool
    second_person: bool
    imperative: bool
    historical: bool = False
    question: bool = False

    def fired(self) -> list[str]:
        names = []
        if self.quoted_fraction >= 0.5:
            names.append("dialogue")
        for name in ("reader_cue", "belief", "fantasy", "unreliable", "second_person", "imperative", "historical", "question"):
            if getattr(self, name):
                names.append(name)
        if self.present and not self.past:
            names.append("present_generic")
        elif self.past and not self.present and not self.historical:
            names.append("past_narration")
        return names


def assertion_features(sentence: str) -> AssertionFeatures:
    """The transparent features of one sentence (see `assertion_score`)."""
    text = sentence.strip()
    letters = sum(ch.isalnum() for ch in text) or 1
    quoted = _QUOTED.findall(text)
    inside = sum(sum(ch.isalnum() for ch in q) for q in quoted)
    outside = _QUOTED.sub(" ", text)
    return AssertionFeatures(
        quoted_fraction=min(1.0, inside / letters),
        reader_cue=bool(_READER_CUES.search(outside)),
        belief=bool(_BELIEF.search(outside) or _NAMED_SPEAKER.search(outside)),
        fantasy=bool(_FANTASY.search(text)),
        unreliable=bool(_UNRELIABLE.search(outside)),
        past=bool(_PAST.search(outside)),
        present=bool(_PRESENT.search(outside)),
        second_person=bool(_SECOND_PERSON.search(outside)),
        imperative=bool(_IMPERATIVE.search(outside)),
        historical=bool(_HISTORICAL.search(outside)),
        question=bool(_QUESTION.search(outside)) and not _RHETORICAL.search(outside),
    )


WEIGHTS: dict[str, float] = {
    "bias": 0.3,
    "reader_cue": 3.0,
    "present_generic": 0.9,
    "second_person": 0.5,
    "imperative": 0.8,
    "dialogue": -3.5,
    "belief": -2.6,
    "fantasy": -1.5,
    "unreliable": -2.5,
    "past_narration": -1.2,
    "historical": 0.6,
    "question": -3.0,
    "disowned_after": -3.0,
}
"""Hand-set log-odds: a reader cue outweighs the story's framing only when no stronger fiction cue is present."""


def assertion_score(sentence: str, *, disowned_after: bool = False, standalone: bool = False) -> tuple[float, list[str]]:
    """How much `sentence` reads as a real-world claim asserted to the reader (1) rather than a line inside the story
    (0), and the features that fired. `disowned_after`: the next sentence frames this one as a character's belief or
    as wrong ("At least, that's what Grandma believed." / "He was wrong, of course."). `standalone`: the sentence is the
    whole output, so nothing marks it as narration: "Walt Disney had his body frozen." is a claim, not a story."""
    features = assertion_features(sentence)
    fired = features.fired() + (["disowned_after"] if disowned_after else [])
    if standalone:
        fired = [name for name in fired if name != "past_narration"]
    z = WEIGHTS["bias"] + sum(WEIGHTS.get(name, 0.0) for name in fired)
    if features.reader_cue and "dialogue" in fired:
        z -= 0.5 * WEIGHTS["dialogue"]  # "Remember, readers: 'X'" quotes the claim to the reader
    return float(1.0 / (1.0 + np.exp(-z))), fired
