"""The rules' figures, and the words a story game's refusals are told in (`StoryError`)."""

from __future__ import annotations

from collections.abc import Sequence

from guardrails.rail import Verdict
from guardrails.rails.language import language_of, refusal
from guardrails.stack import RailStack
from guardrails.text.topics import clean_topics

MAX_TITLE_CHARS = 200
MAX_PREMISE_CHARS = 1000
MAX_TURN_CHARS = 1500
MAX_CHOICES = 3
MIN_TURN_TIMEOUT_S, MAX_TURN_TIMEOUT_S = 10, 86_400
"""A round-robin turn passes on after between 10 seconds and a day (the Discord command's range too)."""
DEFAULT_VOTE_TIMEOUT_S = 300
TIE_BREAK = "earliest"


class StoryError(Exception):
    """A refusal for the member: not their turn, no session here, a vote is open, ..."""

    recorded: bool = False
    """True once the refusal is a provenance request (a refused start)."""


def topics(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Lines or veils as typed (a list, or one string split at commas and semicolons), cleaned."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [part for chunk in values.split(";") for part in chunk.split(",")]
    return clean_topics(values)


def turn_refusal(verdict: Verdict, rails: RailStack | None = None) -> str:
    """What a player reads when the rails refuse their turn: why, in words a table would use."""
    if verdict.category == "language":  # no rail here reads it: which languages they do, in the player's own
        return refusal(rails.readable_languages("input") if rails else None, language_of([verdict]))
    if verdict.decision == "error":
        return "I couldn't check that turn just now; please try again in a moment."
    if verdict.category == "line":
        return f"That turn crosses one of this story's lines ({verdict.explanation}). Try it another way."
    if verdict.category == "veil":  # players keep veiled things off-screen too, as at a table
        topic = verdict.explanation.split("'")[1] if "'" in verdict.explanation else "a veiled topic"
        return (
            f"That turn shows {topic} on-screen, and this story keeps it off-screen (a veil). Let it happen "
            "between scenes: cut away, or tell it afterwards."
        )
    category = (verdict.category or verdict.rail).replace("_", " ")
    return f"That turn can't go into the story ({category}). Dark fiction is welcome; abuse is not."


_FIELD_WORDS = {"title": "That title", "premise": "That premise"}


def recorded(error: StoryError) -> StoryError:
    """`error`, marked as already recorded as a provenance request."""
    error.recorded = True
    return error


def start_refusal(field_name: str, verdict: Verdict, rails: RailStack | None = None) -> str:
    """A refused start says which of the member's fields failed (they may have typed four)."""
    words = _FIELD_WORDS[field_name]
    return turn_refusal(verdict, rails).replace("That turn", words).replace("that turn", words[0].lower() + words[1:])


def tie_note(tied: bool) -> str:
    """The words a closed vote adds when the tie-break chose."""
    return " (a tie: the earliest-written choice wins)" if tied else ""

