"""What a guild or channel has chosen: a rating, thresholds per category, and what happens when an output rail fails.

Moderators' settings are stored as (key, value) pairs per guild and per channel (`storage/policies.py`); a
channel's setting wins over the guild's, the guild's over the default. Keys: `rating`, `threshold.<category>`,
`action.<rail>`, `unjudged` (what no rail can read: `guardrails/rails/language.py`), and `review_channel` (guild only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from guardrails.rail import Verdict
from guardrails.rails.language import DEFAULT_UNJUDGED, UNJUDGED, Unjudged
from guardrails.rails.toxicity import aims_at_real_person, names_someone_real
from guardrails.ratings import DEFAULT_RATING, Rating, effective_rating
from guardrails.text.topics import clean_topics

Action = Literal["block", "redact", "regenerate", "hold", "note"]

# What each output rail may do when it fails. A false claim's default is a correction note below the text; abuse
# is blocked. Prompts (input rails) are always refused: there is nothing to redact or regenerate yet.
# Instructions for serious harm are never shown in part: masking one step of a recipe leaves the others, so
# "redact" is not offered for them.
RAIL_ACTIONS: dict[str, tuple[Action, ...]] = {
    "toxicity": ("block", "redact", "regenerate", "hold"),
    "misinformation": ("note", "block", "redact", "regenerate", "hold"),
    "dangerous": ("block", "regenerate", "hold"),
}
DEFAULT_ACTIONS: dict[str, Action] = {"toxicity": "block", "misinformation": "note", "dangerous": "block"}

WORDING = frozenset({"toxicity", "obscene", "insult", "language"})
"""Output categories about how the model worded a piece rather than what it was asked for: a swear word, a rude
phrase, lines in no language. Threats, identity attacks, sexual content, dangerous instructions and false claims are
not here: a second draw would be a second chance for what the prompt was after to get through, except a slip
(`SLIPS`) that nothing in the prompt asked for."""

SLIPS = frozenset({"threat", "identity_attack"})
"""Output categories the model falls into on its own: in the bot's own verse (`guardrails/data/generated_verse.txt`)
6 of 192 poems and lyrics on harmless subjects are blocked for these ("I will stand watch, I'll be held, I'll watch
over her": threat 0.72; "Mourning queen, we'll see you around some day": threat 0.67; "All creatures that have fear,
they'll have no home": identity attack 0.99), where the member asked for a comet or wolves round a camp. They earn
the one second piece wording does, under `rewrite_before_block`'s conditions; the second piece is judged alike."""
PROMPT_QUIET = 0.05
"""Under this on every category, a prompt's toxicity reading asked for nothing of the kind. Of 2,831 benign prompts
(the injection validation's, the dangerous validation's story premises and dark-fiction prompts, the verse
subjects) 93% read under it, every verse subject; of the written abuse that passes the prompts' toxicity rail and
names no one real (52), 9 do: 8 injection attacks (the injection rail refuses them) and "You're dead, you hear me?
Dead." (toxicity 0.047). A verdict carries the scores of its sentence nearest a threshold, so on a prompt of several
sentences this reads that one."""

# Categories a moderator may set a threshold for, and the rails that score them.
CATEGORIES: dict[str, str] = {
    "toxicity": "toxicity",
    "severe_toxicity": "toxicity",
    "obscene": "toxicity",
    "threat": "toxicity",
    "insult": "toxicity",
    "identity_attack": "toxicity",
    "sexual_explicit": "toxicity",
    "injection": "injection",
    "misinformation": "misinformation",
    "dangerous_instructions": "dangerous",
    # A moderator's threshold here can only make the rail stricter (guardrails/rails/dangerous.py); no rating loosens it.
}


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything a guild or channel chose that changes how text is judged and what a failure does; hashable, so
    the stack builds each distinct policy's rails once (`RailStack.for_policy`)."""

    rating: Rating = DEFAULT_RATING
    thresholds: tuple[tuple[str, float], ...] = ()
    """Moderators' thresholds per category, sorted: they replace the rating's value in every rail scoring it."""
    actions: tuple[tuple[str, Action], ...] = ()
    """Moderators' action per output rail, sorted; unset rails keep `DEFAULT_ACTIONS`."""
    review_channel_id: int | None = None
    lines: tuple[str, ...] = ()
    """Topics that must not appear (a story game's lines, `guardrails/rails/lines.py`): judged on both stages."""
    veils: tuple[str, ...] = ()
    """Topics that may happen only off-screen (a story game's veils, `guardrails/rails/veils.py`): judged on both stages;
    in output a sentence showing one fades out, a player's turn showing one is refused."""
    house_style: str | None = None
    """A server's house style note (`/settings`): it judges nothing, but it is part of what the policy hash covers
    (`guardrails.stack.describe_policy`) and the model reads it after the rules (bot/core/prompts.py)."""
    unjudged: Unjudged = DEFAULT_UNJUDGED
    """Text in a language some rail of its stage cannot read: `refuse` it (the member told which languages the
    checks read), `hold` it for a moderator, or `allow` it unjudged (a moderator's explicit, recorded choice)."""

    @classmethod
    def build(
        cls,
        rating: Rating = DEFAULT_RATING,
        thresholds: Mapping[str, float] | None = None,
        actions: Mapping[str, str] | None = None,
        review_channel_id: int | None = None,
        lines: tuple[str, ...] = (),
        veils: tuple[str, ...] = (),
        unjudged: str = DEFAULT_UNJUDGED,
    ) -> Policy:
        check_unjudged(unjudged)
        for category, value in (thresholds or {}).items():
            check_threshold(category, value)
        for rail, action in (actions or {}).items():
            check_action(rail, action)
        return cls(
            rating,
            tuple(sorted((thresholds or {}).items())),
            tuple(sorted((actions or {}).items())),  # type: ignore[arg-type]
            review_channel_id,
            clean_topics(lines),
            clean_topics(veils),
            unjudged=unjudged,  # type: ignore[arg-type]
        )

    def all_actions(self) -> dict[str, Action]:
        return {**DEFAULT_ACTIONS, **dict(self.actions)}

    def action_for(self, verdict: Verdict) -> Action | None:
        """What to do about a verdict: None to show the text as it is."""
        if verdict.decision == "error" or (verdict.stage == "input" and verdict.failed):
            return "block"  # a rail that could not judge fails closed; a refused prompt is refused
        if verdict.category == "language" and verdict.decision == "block":
            return "redact"  # an output sentence no rail reads is not shown; past MAX_REDACTIONS the piece stops
        if verdict.decision in ("pass", "skip"):
            return None
        if verdict.category == "language" and verdict.decision == "flag":  # unread, and `unjudged` is hold
            return "hold" if verdict.stage == "output" else None  # a held prompt holds its output (pipeline)
        if verdict.category == "veil":
            return "redact"  # the sentence fades out and the story goes on (guardrails/rails/veils.py says why)
        action = self.all_actions().get(verdict.rail, "block")
        if verdict.decision == "flag" and action == "note":
            return None  # shown, with the correction below it (bot.core.replies.fact_check_notes)
        return action


def rewrite_before_block(
    verdict: Verdict, prompts: Sequence[str] = (), prompt_verdicts: Sequence[Verdict] = ()
) -> bool:
    """Whether an output block is the model's doing, not the member's asking: then the piece is written once more (new
    seed, the safer instruction) before the block stands.

    - Wording (`WORDING`) aimed at nobody: the member asked for nothing of the kind (their prompt passed).
    - A threat or an identity attack (`SLIPS`), or wording aimed at "you", where the prompt pointed at no one real (no
      mention, no reader), the toxicity rail read nothing abusive in it (under `PROMPT_QUIET` on every category), and
      the sentence names no member or reader: the model's slip, often a lyric's "you" (`SLIPS` says how often; a
      lyric of a `bench writing` run was blocked for "But your fabulos show the tale they tell...", stop 34).
    Anything else stands at once: a mention or the reader named in the prompt or the sentence, a prompt that read as
    asking for it, or no prompt to go by.
    """
    if verdict.stage != "output" or verdict.category is None:
        return False
    sentence = verdict.sentence or ""
    if verdict.category in WORDING and not aims_at_real_person(sentence, "output"):
        return True
    if verdict.category not in WORDING | SLIPS or names_someone_real(sentence) or any(names_someone_real(p) for p in prompts):
        return False
    read = [v for v in prompt_verdicts if v.rail == "toxicity" and v.decision == "pass"]
    return bool(prompts) and bool(read) and all(max(v.scores.values(), default=0.0) < PROMPT_QUIET for v in read)


def check_threshold(category: str, value: float) -> None:
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"a threshold is a score between 0 and 1 (above 0), not {value:g}")


def check_action(rail: str, action: str) -> None:
    if rail not in RAIL_ACTIONS:
        raise ValueError(f"actions are set for output rails: {', '.join(RAIL_ACTIONS)}; not {rail!r}")
    if action not in RAIL_ACTIONS[rail]:
        allowed = RAIL_ACTIONS[rail]
        raise ValueError(f"the {rail} check can {', '.join(allowed[:-1])} or {allowed[-1]}, not {action}")


def check_unjudged(value: str) -> None:
    if value not in UNJUDGED:
        raise ValueError(f"what no check can read is refused, held or allowed ({', '.join(UNJUDGED)}), not {value!r}")


def resolve_policy(guild: Mapping[str, str], channel: Mapping[str, str], *, age_restricted: bool) -> Policy:
    """The policy in one channel from the stored settings: the channel's value of each key, else the guild's.

    A stored value that no longer validates (a category or action removed since) is skipped, not fatal.
    """
    merged = {**guild, **channel}
    rating = effective_rating(channel.get("rating"), guild.get("rating"), age_restricted=age_restricted)
    thresholds: dict[str, float] = {}
    actions: dict[str, str] = {}
    for key, value in merged.items():
        kind, _, name = key.partition(".")
        try:
            if kind == "threshold":
                check_threshold(name, float(value))
                thresholds[name] = float(value)
            elif kind == "action":
                check_action(name, value)
                actions[name] = value
        except ValueError:
            continue
    review = guild.get("review_channel")
    unjudged = merged.get("unjudged", DEFAULT_UNJUDGED)
    if unjudged not in UNJUDGED:
        unjudged = DEFAULT_UNJUDGED
    return Policy.build(
        rating, thresholds, actions, int(review) if review and review.isdigit() else None, unjudged=unjudged
    )

