"""Prompt templates for every creative kind. Change a template, bump TEMPLATE_VERSION: it is recorded per generation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.engines.base import ChatMessages, SamplingParams

TEMPLATE_VERSION = "2026-11-29.1"

Kind = Literal["story", "poem", "lyrics", "script", "character", "scene"]
Length = Literal["short", "medium", "long"]

KINDS: dict[str, str] = {
    "story": "a short story",
    "poem": "a poem",
    "lyrics": "song lyrics",
    "script": "a screenplay scene",
    "character": "a character sheet",
    "scene": "a scene description for an illustrator",
}

# What each kind should look like on the page: small models follow concrete shape instructions best.
_SHAPES: dict[str, str] = {
    "story": "Tell it in prose with a clear beginning, middle and end. Show, don't tell.",
    "poem": "Write in short lines and stanzas. Use concrete images. No title explanations.",
    "lyrics": "Write verses and a chorus, labelled [Verse 1], [Chorus], [Verse 2]. Make the chorus repeatable.",
    "script": "Use screenplay format: a scene heading (INT./EXT. PLACE - TIME), action lines, and character names "
    "in capitals above their dialogue.",
    "character": "Use these headings: Name, Age, Appearance, Personality, Backstory, Goal, Flaw, A line they would say.",
    "scene": "Describe one still image for an illustrator: setting, lighting, colour palette, composition, "
    "characters' poses and expressions. Present tense, no dialogue.",
}

_MAX_TOKENS: dict[str, int] = {"short": 160, "medium": 320, "long": 640}
_TEMPERATURE: dict[str, float] = {"poem": 0.9, "lyrics": 0.9, "character": 0.7, "scene": 0.7}

SYSTEM_PROMPT = (
    "You are Storyloom, a creative-writing partner for a community of writers. "
    "You write fiction of every genre, including dark themes such as villains, battles and horror, "
    "but you never write abuse aimed at real people, and you do not present false facts as real. "
    "Answer with the piece of writing only: no preface, no notes afterwards."
)

CONTINUE_INSTRUCTION = (
    "Continue the following piece in the same voice, style and form. Do not repeat it; write what comes next."
)


@dataclass(frozen=True, slots=True)
class CreativeAsk:
    kind: str
    about: str
    genre: str | None = None
    tone: str | None = None
    length: str = "medium"


def sampling_for(kind: str, length: str, seed: int) -> SamplingParams:
    return SamplingParams(
        max_tokens=_MAX_TOKENS.get(length, _MAX_TOKENS["medium"]),
        temperature=_TEMPERATURE.get(kind, 0.8),
        top_p=0.95,
        seed=seed,
    )


def render_write(ask: CreativeAsk) -> ChatMessages:
    details = []
    if ask.genre:
        details.append(f"Genre: {ask.genre}.")
    if ask.tone:
        details.append(f"Tone: {ask.tone}.")
    details.append(f"Length: {ask.length}.")
    user = f"Write {KINDS[ask.kind]} about {ask.about}. {' '.join(details)} {_SHAPES[ask.kind]}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def render_continue(previous: str, kind: str | None, direction: str | None) -> ChatMessages:
    instruction = CONTINUE_INSTRUCTION
    if kind in _SHAPES:
        instruction += f" It is {KINDS[kind]}. {_SHAPES[kind]}"
    if direction:
        instruction += f" Where it should go next: {direction}."
    # Only the end of a long piece fits a small model's context, and the ending is what it continues.
    excerpt = previous[-3000:]
    user = f"{instruction}\n\n---\n{excerpt}\n---"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
