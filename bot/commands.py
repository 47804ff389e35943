"""Slash commands typed as text (`/write poem about autumn tone:wistful`), for the terminal mode."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.prompts import KINDS

_OPTION = re.compile(r'(?<!\S)(genre|tone|length):("[^"]*"|\S+)', re.IGNORECASE)
LENGTHS = ("short", "medium", "long")


class CommandError(ValueError):
    """The line is not a command we know; the message says how to write it."""


@dataclass(slots=True)
class TypedCommand:
    name: str
    kind: str | None = None
    text: str = ""
    options: dict[str, str] = field(default_factory=dict)


USAGE = (
    "Commands:\n"
    f"  /write KIND about SUBJECT [genre:X] [tone:Y] [length:{'|'.join(LENGTHS)}]   KIND is one of: {', '.join(KINDS)}\n"
    "  /continue [where it should go next]\n"
    "  /audit message|user|flagged|stats|export ...   (moderators' queries: /audit for details)\n"
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
    if name == "audit":  # parsed by bot.audit_commands.parse_audit, which explains its own usage
        return TypedCommand(name, text=rest.strip())
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
        if subject.lower().startswith("about "):
            subject = subject[6:].strip()
        return TypedCommand(name, kind=kind, text=subject, options=options)
    raise CommandError(f"Unknown command /{name}. " + USAGE)
