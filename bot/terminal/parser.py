"""Slash commands typed as text (`/write poem about autumn tone:wistful`), for the terminal mode."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.prompts import KINDS
from bot.core.numbers import whole_number

_OPTION = re.compile(r'(?<!\S)(genre|tone|length):("[^"]*"|\S+)', re.IGNORECASE)
LENGTHS = ("short", "medium", "long")


def shorten(word: str, limit: int = 40) -> str:
    """A word of the member's quoted back in a message: bounded, whatever they typed."""
    return word if len(word) <= limit else word[: limit - 1] + "…"


class CommandError(ValueError):
    """The line is not a command we know; the message says how to write it."""


@dataclass(slots=True)
class TypedCommand:
    """One typed line: the command, its kind or subcommand, the free text, and `key:value` / `--key` options."""

    name: str
    kind: str | None = None
    text: str = ""
    options: dict[str, str] = field(default_factory=dict)


USAGE = (
    "Commands:\n"
    f"  /write KIND about SUBJECT [genre:X] [tone:Y] [length:{'|'.join(LENGTHS)}]   KIND is one of: {', '.join(KINDS)}\n"
    "  /continue [where it should go next]\n"
    "  /audit message|user|flagged|stats|export ...   (moderators' queries: /audit for details)\n"
    "  /story start|join|leave|status|add|ai|vote|skip|undo|kick|recap|export|end ... [--as NAME]   (/story for details)\n"
    "  /mine [PAGE]   your pieces here     /privacy export   a JSON file of everything stored about you\n"
    "  /help     /quit"
)


def parse(line: str) -> TypedCommand:
    line = line.strip()
    if not line.startswith("/"):
        raise CommandError("Commands start with `/`. " + USAGE)
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    if name in ("help", "quit", "exit"):
        return TypedCommand(name)
    if name == "audit":  # parsed by bot.audit.commands.parse_audit, which explains its own usage
        return TypedCommand(name, text=rest.strip())
    if name == "story":
        return parse_story(rest)
    if name == "mine":
        page = rest.strip() or "1"
        if not page.isdigit() or int(page) < 1:
            raise CommandError("Usage: /mine [PAGE], e.g. /mine 2")
        return TypedCommand(name, text=page)
    if name == "privacy":
        if rest.strip().lower() != "export":
            raise CommandError("Usage: /privacy export (erasure is `storyloom audit erase` for operators)")
        return TypedCommand(name, kind="export")
    options = {key.lower(): value.strip('"') for key, value in _OPTION.findall(rest)}
    rest = _OPTION.sub("", rest).strip()
    if "length" in options and options["length"] not in LENGTHS:
        raise CommandError(f"length must be one of {', '.join(LENGTHS)}.")
    if name == "continue":
        return TypedCommand(name, text=rest, options=options)
    if name == "write":
        kind, _, subject = rest.partition(" ")
        kind = kind.lower()
        if kind not in KINDS:
            raise CommandError(f"What kind of writing? One of: {', '.join(KINDS)}. Example: /write poem about autumn")
        subject = subject.strip()
        if subject.lower() == "about" or subject.lower().startswith("about "):  # `/write poem about`: no subject
            subject = subject[5:].strip()
        return TypedCommand(name, kind=kind, text=subject, options=options)
    raise CommandError(f"Unknown command /{shorten(name)}. " + USAGE)


# -- /story ------------------------------------------------------------------------------------------------------

STORY_SUBCOMMANDS = ("start", "join", "leave", "status", "add", "ai", "vote", "skip", "undo", "kick", "recap", "export", "end")
STORY_USAGE = (
    "Story games (one story per channel; add --as NAME to play as another local player):\n"
    '  /story start TITLE premise:"..." [mode:round-robin|free|vote] [rating:G|PG-13|M] [lines:"a, b"] [veils:"c"]\n'
    "               [timeout:SECONDS] (round-robin turn timeout)\n"
    "  /story join | leave | status | skip | undo | recap | export | end\n"
    "  /story add TEXT            your turn\n"
    "  /story ai [choices:1-3] [where it should go]   an AI turn; several choices go to a vote\n"
    "  /story vote N | vote close\n"
    "  /story kick NAME"
)
_STORY_OPTION = re.compile(r'(?<!\S)(premise|mode|rating|lines|veils|timeout|choices):("[^"]*"|\S+)', re.IGNORECASE)
_AS = re.compile(r'(?<!\S)--as\s+("[^"]*"|\S+)')


def parse_story(rest: str) -> TypedCommand:
    """`/story SUB [text] [key:value ...] [--as NAME]` → name "story", kind SUB, options (with "as")."""
    options: dict[str, str] = {}
    found = _AS.search(rest)
    if found:
        options["as"] = found.group(1).strip('"').strip()
        rest = rest[: found.start()] + rest[found.end() :]
    sub, _, text = rest.strip().partition(" ")
    sub = sub.lower()
    if sub not in STORY_SUBCOMMANDS:
        raise CommandError(STORY_USAGE if not sub else f"Unknown /story {shorten(sub)}. " + STORY_USAGE)
    if sub in ("start", "ai"):
        options.update({key.lower(): value.strip('"') for key, value in _STORY_OPTION.findall(text)})
        text = _STORY_OPTION.sub("", text)
    text = " ".join(text.split()) if sub != "add" else text.strip()
    from bot.core.story.rules import MAX_CHOICES, MAX_TURN_TIMEOUT_S, MIN_TURN_TIMEOUT_S  # the rules' own bounds

    for key, low, high in (("timeout", MIN_TURN_TIMEOUT_S, MAX_TURN_TIMEOUT_S), ("choices", 1, MAX_CHOICES)):
        if key in options:
            try:
                options[key] = str(whole_number(options[key], name=key, low=low, high=high))
            except ValueError as error:
                raise CommandError(str(error)) from None
    if sub == "vote" and text.lower() != "close":
        try:
            text = str(whole_number(text, name="Your vote", low=1, high=MAX_CHOICES))
        except ValueError:
            raise CommandError("Vote with the choice's number: /story vote 2 (or /story vote close).") from None
    return TypedCommand("story", kind=sub, text=text, options=options)
