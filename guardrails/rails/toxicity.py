"""The toxicity rail: scores a user's prompt (input) or generated fiction (output) and blocks abuse.

Two backends score text, both returning per-category probabilities under detoxify's category names
(`guardrails/modeling/toxicity.py`, `guardrails/modeling/detoxify.py`):
- `detoxify`: the real `detoxify.Detoxify` model, when its weights can be loaded (a local checkpoint, or a
  model type already in the torch hub cache or downloadable right now);
- `embedded`: the shared MiniLM sentence encoder plus a small numpy head shipped in `guardrails/models`.

The rail normalises text first (`guardrails.text.normalize`), splits long text into sentences
(`guardrails.text.units`) so one abusive line cannot hide inside a long story, scores every sentence of a batch in
one backend call, and reports the worst.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence

from guardrails.modeling.toxicity import CATEGORIES, DEFAULT_THRESHOLDS, ToxicityBackend
from guardrails.rail import Stage, Verdict, one_line
from guardrails.ratings import DEFAULT_RATING, Rating, thresholds_for
from guardrails.text.dehumanising import dehumanises
from guardrails.text.normalize import normalize
from guardrails.text.profanity import without_expletives
from guardrails.text.self_harm import urges_self_harm
from guardrails.text.units import split_units

__all__ = [
    "PROMPT_TOXICITY_THRESHOLD", "TARGETED_NOTE", "ToxicityRail", "aims_at_real_person", "cast_as_narrator", "frame_tail",
    "lead_in_tail", "names_someone_real",
]

logger = logging.getLogger(__name__)

_SPECIFIC_FIRST = ("identity_attack", "threat", "sexual_explicit", "severe_toxicity", "insult", "obscene", "toxicity")
"""The order in which a failed verdict names its category: the most specific reason first."""

# On prompts: 1.3% of benign validation prompts (role-play and creative requests) score at or over this,
# against 8.3% at the output threshold; abuse recall on prompts is 0.895 here, 0.948 at the output threshold.
PROMPT_TOXICITY_THRESHOLD = 0.9

# Someone real on the receiving end: a Discord mention, or (in generated text) the reader addressed as "you" in
# the narrator's own voice. Characters' lines inside quotation marks address other characters.
# A zero-width space after the @ is how the bot defuses mentions it passes on (bot/core/admission.defuse).
_MENTION = re.compile(r"<@\u200b?[!&]?\d+>|(?<![\w.])@\u200b?(?:everyone|here|[A-Za-z0-9_.]{2,32})\b")
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|«[^»\n]*»|„[^“”\n]*[“”]')
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves)\b", re.IGNORECASE)


def aims_at_real_person(unit: str, stage: Stage) -> bool:
    """Whether a sentence is aimed at a real person: an @mention anywhere, or, in output, "you" outside quotes.

    Prompts speak to the bot in the second person all the time ("you are a bard; write ..."), so there only
    mentions count."""
    if _MENTION.search(unit):
        return True
    return stage == "output" and bool(_SECOND_PERSON.search(_QUOTED.sub(" ", unit)))


READINGS_VERSION = "lead-in-2+cast-2+dehumanising-1+self-harm-1"
"""What the rail reads besides each whole sentence (a fiction frame's tail, a vouching lead-in's tail, on a prompt the
role it casts the bot in and the set-up of the exchange said of the narrator, the words without expletives where strong
language is allowed): part of the policy hash."""

TARGETED_NOTE = " (aimed at a real person: a mention, or the reader)"
"""Added to a verdict's explanation when a sentence was judged as aimed at a real person."""

# A fiction frame in front of what is really said: "A limerick for @sam: ...", "Short story: ...", "Dear reader, ...",
# "A fable, but it is a fact: ...". Up to ten words before a colon or dash, naming a kind of writing, a mention or
# the reader; or a vocative to the reader before a comma.
_FRAME_WORDS = (
    r"story|stories|poem|poetry|limerick|fable|tale|ballad|sonnet|haiku|lyrics?|song|rhyme|chapter|fiction|verse"
    r"|scene|script|monologue|toast|roleplay|role-play|bedtime|moral|dedicated|fact|truth|true|real|honestly"
)
_FRAME = re.compile(
    r"^\s*(?:[^\n:\"“”]{0,80}?(?:\b(?:" + _FRAME_WORDS + r")\b|@\S+|<@[!&]?\d+>|\breaders?\b)[^\n:\"“”]{0,40}?)(?::|\s[-–—]\s)\s*(?P<tail>\S.*)$"
    r"|^\s*(?:(?:dear|my|oh|o)\s+)?readers?\s*,\s*(?P<vocative>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


# The same frame closed by a comma, where a claim of truth may follow: "Once upon a time, and this is true, <tail>",
# "In this tale, as in real life, <tail>".
_COMMA_FRAME = re.compile(
    r"^\s*[^\n,:\"“”]{0,60}?\b(?:" + _FRAME_WORDS + r"|once upon a time)\b[^\n,:\"“”]{0,40}?,\s*"
    r"(?:(?:and|but|so)?\s*(?:this|it|that)\s+(?:is|was)\s+(?:true|real|a fact|no (?:fairy tale|joke|story|fiction)"
    r"|not (?:fiction|a story|made up))\s*,\s*|(?:just )?as in real life\s*,\s*)?(?P<tail>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


def frame_tail(unit: str) -> str | None:
    """What follows a fiction frame at the start of `unit` ("A poem for @jo: <this>"), or None without one."""
    match = _FRAME.match(unit) or _COMMA_FRAME.match(unit)
    if not match:
        return None
    groups = match.groupdict()
    tail = (groups.get("tail") or groups.get("vocative") or "").strip()
    return tail if len(tail) >= 12 and tail != unit.strip() else None


# A short lead-in that vouches for what follows ("My dad was right, ...", "Ask anyone: ...") dilutes it as a fiction
# frame does ("My dad was right, refugees are violent by nature.": identity attack 0.16, without the lead-in 1.00). One
# that reports, doubts or condemns what follows ("People who say this are wrong: ...", "I was told, ...") is no such
# lead-in: then only the whole sentence is read.
_LEAD_IN = re.compile(r"^\s*(?P<lead>[^\n,:;\"“”()]{2,48}?)\s*[,:]\s+(?P<tail>[^\s\"“”'‘].*)$", re.DOTALL)
_LEAD_IN_WORDS = 7
_DISOWNING = re.compile(
    r"\b(?:not|no|never|nobody|none|wrong|lies?|lying|liars?|myths?|false|untrue|nonsense|rubbish|garbage|bullshit"
    r"|say|says|said|saying|claims?|claimed|claiming|told|tells?|telling|heard|hear|hears|think|thinks|thought"
    r"|believes?|believed|wrote|writes?|written|posted|argues?|argued|insists?|insisted|pretends?|pretended"
    r"|stereotypes?|racist|sexist|bigots?|bigoted|ignorant|disgust\w*|shame\w*|refuse\w*|stop|if|whether|quote\w*"
    r"|jokes?|joking|sarcastic\w*|why|what|who)\b|n't\b",
    re.IGNORECASE,
)
_NOT_A_CLAIM = re.compile(
    r"^(?:but|and|so|yet|or|because|though|although|how|what|why|when|where|who|which|can|could|would|will|do|does"
    r"|give|tell|write|show|help|explain|describe|make|let|please|find|list|create|imagine|pretend|act|generate|compose"
    r"|draft)\b",
    re.IGNORECASE,
)
"""What follows a lead-in that is a question, a request or the rest of a clause ("Quick question: how would I trap
SIGINT in a bash script?", "As an expert, give me ...", "Sorry to bother you, but ..."): no claim to vouch for, and
read alone the head took "trap SIGINT" for abuse (0.98)."""
LEAD_IN_SCREEN = 0.02
"""A lead-in's tail is read only where the whole sentence already scores this much on some category: a third of the
bot's own sentences open with a clause ("As the sun rose, ..."), and narration scores nothing. And it counts only where
it reads as about a group (identity attack >= `LANGUAGE_GROUP_GUARD`): what a lead-in launders is a claim about a
group, while a clause read alone can read as something it is not ("My footsteps on soft carpet, I'll keep walking to
my love where she is": the tail alone scored threat 0.99, a lyric of the bot's own blocked in a fresh clone's
`/write`, 2026-12-06)."""


# "All" in front of a claim about a group vouches for it too, and dilutes it the same way: of 80 hateful claims written
# for the check (10 groups x 8 claims), 83.8% are blocked said plainly and 62.5% with "All" in front ("All Mexicans are
# drug dealers and rapists.": identity attack 0.51; without "All", 1.00); 60 kind ones, 0% either way.
_QUANTIFIER = re.compile(
    r"^\s*(?:(?:almost|nearly|virtually|practically)\s+)?(?:all|most)\s+(?!of\b|the\b|that\b|this\b|is\b|was\b|i\b|we\b|you\b|it\b)"
    r"(?P<tail>[^\W\d_][^\n]*)$",
    re.IGNORECASE,
)


def lead_in_tail(unit: str) -> str | None:
    """What follows a short lead-in that vouches for it ("My dad was right, <this>"), or a leading "All" ("All <this>";
    both: "My dad was right, all <this>"), or None."""
    tail = unit.strip()
    match = _LEAD_IN.match(unit)
    if match and len(match["lead"].split()) <= _LEAD_IN_WORDS and not _DISOWNING.search(match["lead"]):
        tail = match["tail"].strip()
    if quantified := _QUANTIFIER.match(tail):
        tail = quantified["tail"][:1].upper() + quantified["tail"][1:]
    if tail == unit.strip():
        return None
    return tail if len(tail) >= 12 and not tail.endswith("?") and not _NOT_A_CLAIM.match(tail) else None


# A prompt that casts the bot in a role: "For the rest of this chat you're a knight errant." The head learned
# "you're a <noun>" from insults aimed at people and scored that sentence 0.99 toxicity ("You're a knight errant."
# 0.96); with the bot named in the third person, 0.02, while "the narrator is a worthless idiot" still scores 0.99.
# Not "you're the dumbest person I've met": a superlative after "the" ranks the member, it casts no role. A named
# character is a role too ("You are Sherlock Holmes." toxicity 0.95, the judgement file's one blocked role-play prompt).
_CASTING = re.compile(
    r"\byou(?:'re|’re|\s+are)(?:\s+now)?\s+(?=(?:a|an|my|our)\b|the\s+(?!\w+est\b|most\b|least\b)|(?-i:[A-Z][a-z]))",
    re.IGNORECASE,
)
_READER = re.compile(r"\breaders?\b", re.IGNORECASE)


def names_someone_real(prompt: str) -> bool:
    """Whether a prompt points at someone real: a mention, or the reader (on a prompt "you" is the bot)."""
    return bool(_MENTION.search(prompt) or _READER.search(prompt))


# A prompt's set-up of the exchange: what the member will give the bot and what the bot will give back ("I will give
# you a motion and a side.", "You will reply in bullet points."). The head learned "I will <verb> you" from threats and
# read such a set-up as one (threat 0.68; with the bot as "the narrator", 0.03). Only verbs of telling and making: "I
# will find you" and "Go kill yourself" keep their second person.
_SET_UP = re.compile(
    r"^\W*(?:(?:first|then|next|now|after that|each time|every time|whenever|when)\b[^,.;]{0,60},\s*)?"
    r"(?:I(?:'ll|’ll|\s+will|\s+shall|\s+am\s+going\s+to|'m\s+going\s+to)|you(?:'ll|’ll|\s+will|\s+shall|\s+should|\s+must))"
    r"\s+(?:then\s+|only\s+|always\s+|just\s+)?"
    r"(?:give|tell|send|describe|name|provide|share|paste|list|show|ask|read|type|post|supply|offer|hand|pass|upload"
    r"|enter|present|mention|say|reply|respond|answer|write|suggest|recommend|compose|produce|narrate|outline|create"
    r"|generate|explain|summari[sz]e|translate|correct|rate|review|act|stay|pick|choose|play|draft|plan|design|guide"
    r"|teach|grade|critique|rewrite|continue|improvise|invent|propose)\b",
    re.IGNORECASE,
)
# Its commonest direction, said to the bot with no "you" at all: "Stay in character." (toxicity 0.92 read alone; "The
# narrator should stay in character." 0.31), in three of stop 43's persona prompts.
_IN_CHARACTER = re.compile(
    r"^\W*(?:please\s+)?(?:always\s+)?(?:(?:stay|remain|keep)\s+in\s+(?:character|role)|(?:never|don't|do not)\s+break\s+character)\b",
    re.IGNORECASE,
)
_SECOND_PERSON_AS_NARRATOR = (
    (re.compile(r"\byou(?:'re|’re|\s+are)\b", re.IGNORECASE), "the narrator is"),
    (re.compile(r"\byou(?:'ll|’ll)\b", re.IGNORECASE), "the narrator will"),
    (re.compile(r"\byour(?:self|selves)\b", re.IGNORECASE), "itself"),
    (re.compile(r"\byours?\b", re.IGNORECASE), "the narrator's"),
    (re.compile(r"\byou\b", re.IGNORECASE), "the narrator"),
)


def cast_as_narrator(unit: str) -> str | None:
    """A prompt's sentence with the bot said of "the narrator": the role it casts the bot in ("Pretend you're a pirate
    ..." -> "Pretend the narrator is a pirate ...") or, in the set-up of the exchange (`_SET_UP`), every "you" ("I will
    give you a motion." -> "I will give the narrator a motion."), and "Stay in character." as "the narrator should";
    None where it does none of these or names someone real (a mention, the reader).

    On a prompt "you" is the bot (`aims_at_real_person`): what the role is, not the second person, is what to judge."""
    if names_someone_real(unit):
        return None
    cast = _CASTING.sub("the narrator is ", unit)
    if _SET_UP.match(unit):
        for second_person, narrator in _SECOND_PERSON_AS_NARRATOR:
            cast = second_person.sub(narrator, cast)
    elif _IN_CHARACTER.match(cast):
        cast = "the narrator should " + cast.strip()
    return cast if cast != unit else None


_LANGUAGE_CATEGORIES = ("toxicity", "insult")
"""What swearing alone raises: a model trained on tweets reads "this shit is fucked" as offensive. Where strong
language is allowed (M, prompts), these are also scored with the expletives taken out (`without_expletives`) and the
lower score counts, unless the sentence is aimed at a real person or reads as about a group (`LANGUAGE_GROUP_GUARD`);
identity attacks and threats are always judged on the words as written."""
LANGUAGE_GROUP_GUARD = 0.3
"""An identity-attack score at or above this keeps a sentence's swearing in: "Women are too fucking stupid to run
anything." (identity 0.71, under its 0.99 threshold) is hate that the swearing made loud, not narration. Profane
narration and characters' insults written for the check score at most 0.26; chosen on those and on the toxicity
validation's profane tweets (docs/guardrail-judgement.md, stop 31)."""


def _worst(*scored: dict[str, float] | None) -> dict[str, float] | None:
    """Category by category, the highest score among the scorings present."""
    present = [s for s in scored if s]
    if len(present) < 2:
        return present[0] if present else None
    return {category: max(s.get(category, 0.0) for s in present) for category in present[0]}


def _language_allowed(scored: dict[str, float] | None, without_language: dict[str, float] | None) -> dict[str, float] | None:
    """`scored`, with each of `_LANGUAGE_CATEGORIES` lowered to its score without the expletives when that is lower,
    unless `scored` reads as about a group."""
    if not scored or not without_language or scored.get("identity_attack", 0.0) >= LANGUAGE_GROUP_GUARD:
        return scored
    return scored | {c: min(scored[c], without_language[c]) for c in _LANGUAGE_CATEGORIES if c in scored and c in without_language}


class ToxicityRail:
    """Batched toxicity check for prompts (stage "input") and generated text (stage "output").

    `targeted` thresholds judge sentences aimed at a real person (`aims_at_real_person`): they are never looser
    than the PG-13 ones, so a rating or a moderator may loosen what characters say to each other but not abuse
    of a member or the reader.
    """

    name = "toxicity"

    def __init__(
        self,
        backend: ToxicityBackend,
        thresholds: dict[str, float] | None = None,
        targeted: Mapping[str, float] | None = None,
    ) -> None:
        base = dict(getattr(backend, "default_thresholds", None) or DEFAULT_THRESHOLDS)
        base.update(thresholds or {})
        unknown = set(base) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown toxicity categories {sorted(unknown)}")
        self.backend = backend
        self.thresholds = base
        self.targeted = {category: min(value, (targeted or {}).get(category, value)) for category, value in base.items()}

    @property
    def languages(self) -> frozenset[str] | None:
        """Its backend's languages (a backend that declares none is taken as English)."""
        return getattr(self.backend, "languages", frozenset({"en"}))

    def for_prompts(self) -> ToxicityRail:
        """The same model with the looser general-toxicity threshold used on prompts.

        Role-play requests ("Act as a grumpy wizard ...") read like chat to a model trained on tweets (3.7% of
        benign validation prompts score over 0.8), while a prompt that asks for abuse is checked again as output.
        Profanity in a prompt is not judged at all. Identity attacks and threats keep their thresholds.
        """
        looser = {"toxicity": max(self.thresholds.get("toxicity", 0.0), PROMPT_TOXICITY_THRESHOLD)}
        if "obscene" in self.thresholds:
            looser["obscene"] = 1.01  # a member's swearing is not a reason to refuse; the output's language is judged
        # A prompt that names someone by mention is held to the output's line.
        return ToxicityRail(self.backend, {**self.thresholds, **looser}, targeted=self.thresholds)

    def for_rating(self, rating: Rating) -> ToxicityRail:
        """The rail at a channel's rating (`guardrails/ratings.py`): its thresholds move, the targeted ones stay."""
        if rating == DEFAULT_RATING:
            return self
        return ToxicityRail(self.backend, thresholds_for(rating, self.thresholds), targeted=self.targeted)

    def with_thresholds(self, overrides: Mapping[str, float]) -> ToxicityRail:
        known = {category: value for category, value in overrides.items() if category in self.thresholds}
        return ToxicityRail(self.backend, {**self.thresholds, **known}, targeted=self.targeted) if known else self

    def describe(self) -> dict:
        """What a verdict of this rail depends on: part of the policy hash."""
        described = {
            "backend": self.backend.name,
            "version": self.backend.version,
            "readings": READINGS_VERSION,
            "thresholds": dict(self.thresholds),
            "targeted_thresholds": dict(self.targeted),
        }
        encoder = getattr(self.backend, "encoder", None)
        if encoder is not None:
            described["encoder_precision"] = encoder.precision
        return described

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        """One verdict per text. All sentences of the batch go to the backend in one call (and the few vouching
        lead-ins' tails in a second).

        A sentence that opens with a fiction frame ("A limerick for @sam: ...") or a lead-in that vouches for what
        follows ("My dad was right, ...") is also scored without it, and the worse of the two counts: a frame must
        not dilute what follows it (`frame_tail`, `lead_in_tail`). Where strong language is
        allowed (M, prompts), swearing alone does not make a sentence toxic (`_LANGUAGE_CATEGORIES`).
        `latency_ms` is the whole batch's time: that is how long each text waited for its verdict.
        """
        started = time.perf_counter()
        units = [split_units(text) for text in texts]
        try:
            normalised = [[normalize(unit) for unit in text_units] for text_units in units]
            tails = [[normalize(frame_tail(unit) or "") for unit in text_units] for text_units in units]
            # Where strong language is allowed, the sentence (and its frame's tail) without its expletives as well.
            free = [
                [self._without_language(unit, n, t, stage) for unit, n, t in zip(*per_text, strict=True)]
                for per_text in zip(units, normalised, tails, strict=True)
            ]

            def readings() -> list[str]:
                return [x for per_text in (*normalised, *tails) for x in per_text if x] + [
                    x for per_text in free for cleaned in per_text for x in cleaned
                ]

            scores = self._scored({}, readings())

            def screened(i: int, j: int) -> bool:
                return max((scores.get(normalised[i][j]) or {}).values(), default=0.0) >= LEAD_IN_SCREEN

            # A vouching lead-in's tail, where the sentence reads as somewhat toxic already and has no frame; it counts
            # where it reads as about a group.
            lead_in_tails = {
                (i, j): normalize(tail)
                for i, text_units in enumerate(units)
                for j, unit in enumerate(text_units)
                if not tails[i][j] and screened(i, j) and (tail := lead_in_tail(unit))
            }
            # On a prompt, a sentence that casts the bot in a role is read with the role said of "the narrator".
            casts = {
                (i, j): (normalize(cast), normalize(cast_as_narrator(tails[i][j]) or tails[i][j]))
                for i, text_units in enumerate(units)
                for j, unit in enumerate(text_units)
                if stage == "input" and screened(i, j) and (cast := cast_as_narrator(unit))
            }
            scores = self._scored(scores, [*lead_in_tails.values(), *(x for pair in casts.values() for x in pair if x)])
            for (i, j), (cast, cast_tail) in casts.items():
                normalised[i][j], tails[i][j] = cast, cast_tail
                free[i][j] = self._without_language(units[i][j], cast, cast_tail, stage)
            for (i, j), tail in lead_in_tails.items():
                if scores[tail].get("identity_attack", 0.0) >= LANGUAGE_GROUP_GUARD:
                    tails[i][j] = tail
                    free[i][j] = self._without_language(units[i][j], normalised[i][j], tail, stage)
            scores = self._scored(scores, readings())
        except Exception as exc:  # a failed model must not crash the pipeline; the policy decides what "error" means
            logger.exception("toxicity backend %s failed", self.backend.name)
            latency = (time.perf_counter() - started) * 1000
            return [self._error(stage, exc, latency) for _ in texts]
        latency = (time.perf_counter() - started) * 1000

        def scored(unit: str, n: str, tail: str, cleaned: tuple[str, ...]) -> dict[str, float] | None:
            result = _language_allowed(_worst(scores.get(n), scores.get(tail)), _worst(*(scores.get(c) for c in cleaned)))
            if result is None:
                return None
            # The head misses the plainest dehumanising claims ("Asians are soulless insects.") and new phrasings of
            # self-harm urged on the reader ("Nobody would notice if you stopped eating for good."): rules read them.
            if dehumanises(n) or dehumanises(tail):
                result = {**result, "identity_attack": 1.0}
            if urges_self_harm(n, aims_at_real_person(unit, stage)):
                result = {**result, "toxicity": 1.0}
            return result

        return [
            self._verdict(text_units, [scored(*reading) for reading in zip(text_units, norms, text_tails, cleaned, strict=True)], stage, latency)
            for text_units, norms, text_tails, cleaned in zip(units, normalised, tails, free, strict=True)
        ]

    def _scored(self, scores: dict[str, dict[str, float]], readings: list[str]) -> dict[str, dict[str, float]]:
        """`scores` with every reading not yet in it scored, in one backend call."""
        missing = list(dict.fromkeys(x for x in readings if x not in scores))
        return {**scores, **dict(zip(missing, self.backend.score(missing), strict=True))} if missing else scores

    def _without_language(self, unit: str, normalised: str, tail: str, stage: Stage) -> tuple[str, ...]:
        """The sentence (and its frame's tail) without expletives, where strong language is allowed and the sentence
        has some and is aimed at no real person; else nothing."""
        if self.thresholds.get("obscene", 0.0) <= 1.0 or aims_at_real_person(unit, stage):
            return ()
        cleaned = tuple(without_expletives(text) for text in (normalised, tail) if text)
        return cleaned if cleaned and cleaned[0] != normalised else ()

    def _verdict(
        self,
        units: list[str],
        unit_scores: list[dict[str, float] | None],
        stage: Stage,
        latency_ms: float,
    ) -> Verdict:
        worst: tuple[float, int, str] | None = None  # (score minus threshold, unit index, category)
        unit_thresholds = [
            self.targeted if aims_at_real_person(unit, stage) else self.thresholds for unit in units
        ]
        for index, scored in enumerate(unit_scores):
            for category, score in (scored or {}).items():
                threshold = unit_thresholds[index].get(category)
                if threshold is not None and (worst is None or score - threshold > worst[0]):
                    worst = (score - threshold, index, category)
        if worst is None:
            return Verdict(
                rail=self.name, backend=self.backend.name, version=self.backend.version, stage=stage,
                decision="skip", explanation="nothing to score", latency_ms=latency_ms,
            )  # fmt: skip
        margin, index, category = worst
        scored = unit_scores[index] or {}
        thresholds = unit_thresholds[index]
        blocked = margin >= 0
        if blocked:  # name the most specific category that failed: "threat" says more than "toxicity"
            category = next(cat for cat in _SPECIFIC_FIRST if cat in scored and scored[cat] >= thresholds.get(cat, 2.0))
        where = f" in sentence {index + 1} of {len(units)}" if len(units) > 1 else ""
        if thresholds is self.targeted and self.targeted != self.thresholds:
            where += TARGETED_NOTE
        score, threshold = scored[category], thresholds[category]
        explanation = (
            f"{category} {score:.2f} >= threshold {threshold:.2f}{where}"
            if blocked
            else f"all categories below threshold (closest: {category} {score:.2f} < {threshold:.2f}{where})"
        )
        return Verdict(
            rail=self.name,
            backend=self.backend.name,
            version=self.backend.version,
            stage=stage,
            decision="block" if blocked else "pass",
            scores={cat: round(value, 4) for cat, value in scored.items()},
            thresholds={cat: thresholds[cat] for cat in scored if cat in thresholds},
            category=category if blocked else None,
            sentence=units[index] if blocked or len(units) > 1 else None,
            explanation=explanation,
            latency_ms=latency_ms,
        )

    def _error(self, stage: Stage, exc: Exception, latency_ms: float) -> Verdict:
        return Verdict(
            rail=self.name, backend=self.backend.name, version=self.backend.version, stage=stage,
            decision="error", explanation=f"toxicity backend failed: {one_line(exc)}", latency_ms=latency_ms,
        )  # fmt: skip
