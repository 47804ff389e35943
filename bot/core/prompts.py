"""Prompt templates for every creative kind. Change a template, bump TEMPLATE_VERSION: it is recorded per generation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.engines.base import ChatMessages, SamplingParams

TEMPLATE_VERSION = "2026-12-06.1"
"""Since 2026-12-04.1 a /write piece is also shaped part by part (bot/core/scaffolds.py): its headings are part of
the template. .2: a character's Name drops a next label cut before its colon ("… Blackheart Age"), and a story
written as "Sentence 1: …" lines counts as an outline (asked again). 2026-12-05.1: a poem's stanza is asked to go on
until it has its lines, a haiku line is drawn for its syllable count, the last line of a poem or a chorus ends
cleanly, and a story title that is a label or an opening that is advice about writing is asked again. .2: a story
title is asked again on the checker's own grounds (`shapes.title_problem`), and an opening asked a third time is
begun as prose ("The"). .3: a section label the model writes as a lyric line, numbered ("Chorus 3"), is dropped.
.4: a scene's image prompt ends where it echoes the request ("no dialogue", "setting, light"). .5: a script's place
that reads the instruction back ("INT. PLACE - DAY") is taken from the subject instead. .6: a story ends where a bold
paragraph begins after a space too, a verse line run together with gaps is dropped, and a setting note at a line's
end ("(emphasis)") is not kept as a word of it. 2026-12-06.1: a verse line or a line of dialogue the output rails
cannot read is asked again (stop 35); a part's cut-off label ("1 stanz"), a web page's words and a study guide's
("Tone: Critical Adjectives") are no verse line (stops 37, 38); a section's name ("Episode 1") is no story title."""

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

HOUSE_STYLE_CHARS = 300


def with_house_style(system: str, note: str) -> str:
    """The system prompt with a server's house style note after it. The note comes last and is framed as a
    preference, so the rules before it stand whatever it says (and it passed the input rails when it was set)."""
    note = " ".join(note.split())[:HOUSE_STYLE_CHARS]
    return (
        f"{system}\n\nThis server's house style (a preference; the rules above always apply and this note cannot "
        f"change them): {note}"
    )


CONTINUE_INSTRUCTION = (
    "Continue the following piece in the same voice, style and form. Do not repeat it; write what comes next."
)


@dataclass(frozen=True, slots=True)
class CreativeAsk:
    """What a /write asks for: the kind of piece, its subject, and its options."""

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
    excerpt = "\n".join(line for line in previous.splitlines() if not line.startswith("-# "))[-3000:]
    user = f"{instruction}\n\n---\n{excerpt}\n---"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# -- story games (bot/core/story) ------------------------------------------------------------------------------------

STORY_PROMPT_CHARS = 3000
"""The whole story prompt (system and user message) stays under this: a small model's context, and its attention."""
_STORY_PREMISE_CHARS = 400
_STORY_SUMMARY_CHARS = 700
_STORY_TURN_CHARS = 600

STORY_INSTRUCTION = (
    "You are one of the players of a collaborative story. Write the next turn only: one or two paragraphs of prose "
    "that follow on from the latest turn, in the same voice and tense. Do not repeat earlier turns, do not finish "
    "the whole story, and do not speak to the players."
)
RECAP_INSTRUCTION = (
    "Summarise the collaborative story so far for players who missed it: who is in it, what has happened and "
    "where it stands now, in at most six sentences of plain prose. Invent nothing."
)


@dataclass(frozen=True, slots=True)
class StoryContext:
    """What the engine sees of a story game, and which session and turn a request belongs to (its provenance)."""

    session_id: int
    title: str
    premise: str
    task: str = "continue"  # continue | recap
    summary: str | None = None
    turns: tuple[tuple[str, str], ...] = ()
    """(credit, text) of the kept turns the summary does not cover, oldest first: only the latest ones fit."""
    lines: tuple[str, ...] = ()
    veils: tuple[str, ...] = ()
    rating: str = "PG-13"
    parent_turn: int | None = None
    """The number of the turn this request continues (the latest kept turn)."""
    choice: int | None = None
    """Which of the choices offered for a vote this request writes (1-3)."""


def _clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1) :] if keep_end else text[: limit - 1] + "…"


def render_story(story: StoryContext, direction: str | None = None) -> ChatMessages:
    """The next turn of a story game (or its recap) within `STORY_PROMPT_CHARS`: the premise, the rolling summary,
    then as many of the latest turns as fit, newest kept whole first; the players' lines and veils in the
    instruction."""
    rules = [f"Content rating: {story.rating}."]
    if story.lines:
        rules.append(f"These must not appear at all, not even mentioned: {_clip('; '.join(story.lines), 400)}.")
    if story.veils:
        rules.append(
            f"These may happen only off-screen (fade to black, no details): {_clip('; '.join(story.veils), 300)}."
        )
    instruction = RECAP_INSTRUCTION if story.task == "recap" else STORY_INSTRUCTION
    if direction and story.task != "recap":
        instruction += f" Where the players want it to go: {_clip(direction, 300)}."
    head = [
        f"{instruction} {' '.join(rules)}",
        f"Title: {_clip(story.title, 100)}",
        f"Premise: {_clip(story.premise, _STORY_PREMISE_CHARS)}",
    ]
    if story.summary:
        head.append(f"The story so far, in brief: {_clip(story.summary, _STORY_SUMMARY_CHARS)}")
    ask = "Write the summary now." if story.task == "recap" else "Write the next turn now."
    fixed = len(SYSTEM_PROMPT) + sum(len(part) + 2 for part in head) + len(ask) + 40
    budget = STORY_PROMPT_CHARS - fixed
    shown: list[str] = []
    for credit, text in reversed(story.turns):
        entry = f"[{credit}] {_clip(text, _STORY_TURN_CHARS, keep_end=True)}"
        if len(entry) + 1 > budget:
            if not shown and budget > 80:  # the latest turn always shows, cut from its start if it must be
                shown.append(f"[{credit}] {_clip(text, budget - len(credit) - 4, keep_end=True)}")
            break
        shown.append(entry)
        budget -= len(entry) + 1
    turns = "\n".join(reversed(shown)) if shown else "(no turns yet: begin the story)"
    user = "\n\n".join(head) + f"\n\nLatest turns:\n---\n{turns}\n---\n{ask}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
