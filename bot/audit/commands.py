"""Typed audit commands: their grammar (shared with `storyloom audit`, bot/cli/audit.py), the words the front ends
answer with, and `/audit ...` typed in the terminal mode (the local guild only).

Typed form (terminal mode), options as words or `key:value`:

    /audit message <message link | message id | request id>
    /audit user <user id> [since]
    /audit flagged [category] [since]
    /audit stats [since]
    /audit export [csv|jsonl|prov-json] [since]

`since` is `7d`, `24h`, `90m`, `2w` or a date (`2026-11-01`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.audit import queries
from bot.audit.render import PLAIN, card_lines, list_lines, stats_lines
from bot.core import moderation
from bot.core.numbers import MAX_ID, MAX_LIMIT, whole_number
from bot.terminal.parser import shorten
from storage.audit import ALL_GUILDS, GuildScope, parse_since
from storage.export import EXTENSIONS, FORMATS

if TYPE_CHECKING:
    from bot.core.app import Core
    from bot.core.request import Author

SUBCOMMANDS = ("message", "user", "flagged", "stats", "export")
AUDIT_USAGE = (
    "  /audit message LINK|ID   /audit user USER_ID [since]   /audit flagged [category] [since]\n"
    "  /audit stats [since]     /audit export [csv|jsonl|prov-json] [since]      (since: 7d, 24h, 2026-11-01)\n"
    "  options as the command line writes them work too: --since 7d --limit 3 --offset 10 --category insult"
)
NOT_FOUND = "I have no Storyloom output for that in this server."
_USER = re.compile(r"^<?@?!?([0-9]{1,19})>?$")
_OPTION = re.compile(r"^(since|category|format|user|target|limit|offset):(.+)$", re.IGNORECASE)
_FLAG = re.compile(r"^--(since|category|format|limit|offset)(?:=(.+))?$", re.IGNORECASE)


class AuditUsageError(ValueError):
    """The typed audit command is not one we understand; the message says how to write it."""


@dataclass(slots=True)
class AuditQuery:
    """A typed audit command, parsed: the subcommand and its target, filters and page."""

    action: str
    target: str | None = None
    user_id: int | None = None
    category: str | None = None
    fmt: str = "csv"
    since: datetime | None = None
    since_text: str | None = None
    limit: int = 50
    offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _is_since(token: str) -> bool:
    try:
        return parse_since(token) is not None
    except ValueError:
        return False


def normalise_category(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def parse_audit(text: str) -> AuditQuery:
    """`message <id>`, `user <id> [since]`, ... (the words after `/audit`): options as `key:value`, or as the
    command line writes them (`--since 7d`, `--limit=3`), so one grammar serves the terminal and `storyloom audit`."""
    tokens = text.split()
    if not tokens or tokens[0].lower() not in SUBCOMMANDS:
        raise AuditUsageError("Audit commands:\n" + AUDIT_USAGE)
    action, rest = tokens[0].lower(), tokens[1:]
    query = AuditQuery(action)
    positional: list[str] = []
    while rest:
        token = rest.pop(0)
        flag = _FLAG.match(token)
        if flag is not None:
            if flag.group(2) is None and not rest:
                raise AuditUsageError(f"`--{flag.group(1).lower()}` needs a value.\n" + AUDIT_USAGE)
            token = f"{flag.group(1)}:{flag.group(2) if flag.group(2) is not None else rest.pop(0)}"
        elif token.startswith("--"):
            name = token[2:].partition("=")[0]
            shown = f"`--{name}`" if re.fullmatch(r"[A-Za-z][A-Za-z-]{0,19}", name) else "that option"  # never echo a ping
            raise AuditUsageError(f"I don't know {shown}.\n" + AUDIT_USAGE)
        option = _OPTION.match(token)
        if option is None:
            positional.append(token)
            continue
        key, value = option.group(1).lower(), option.group(2)
        if key == "since":
            query.since_text = value
        elif key == "category":
            query.category = normalise_category(value)
        elif key == "format":
            query.fmt = value.lower()
        elif key in ("limit", "offset"):
            low, high = (1, MAX_LIMIT) if key == "limit" else (0, MAX_ID)
            try:
                setattr(query, key, whole_number(value, name=key, low=low, high=high))
            except ValueError as error:
                raise AuditUsageError(str(error)) from None
        else:
            positional.insert(0, value)
    if action == "message":
        if len(positional) != 1:
            raise AuditUsageError("Usage: /audit message <message link, message id or request id>")
        query.target = positional[0]
    elif action == "user":
        user = _USER.match(positional[0]) if positional else None
        if user is None or int(user.group(1)) > MAX_ID:
            raise AuditUsageError("Usage: /audit user <user id> [since] [--limit N]")
        positional.pop(0)
        query.user_id = int(user.group(1))
    for token in positional if action != "message" else []:
        if action == "export" and token.lower() in FORMATS:
            query.fmt = token.lower()
        elif _is_since(token) and query.since_text is None:
            query.since_text = token
        elif action == "flagged" and query.category is None:
            query.category = normalise_category(token)
        else:
            raise AuditUsageError(f"I don't understand `{shorten(token)}` here.\n" + AUDIT_USAGE)
    if query.fmt not in FORMATS:
        raise AuditUsageError(f"Export formats: {', '.join(FORMATS)}.")
    try:
        query.since = parse_since(query.since_text)
    except ValueError as error:
        raise AuditUsageError(str(error)) from None
    return query


def export_filename(guild: GuildScope, fmt: str, *, now: datetime | None = None) -> str:
    where = "all" if guild is ALL_GUILDS else f"guild-{guild if guild is not None else 0}"
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"storyloom-audit-{where}-{stamp}.{EXTENSIONS[fmt]}"


async def answer_lines(core: Core, guild_id: int | None, query: AuditQuery) -> list[str]:
    """The plain-text answer to message / user / flagged / stats (export writes a file instead)."""
    if query.action == "message":
        assert query.target is not None
        try:
            found = await queries.card(core, guild_id, query.target)
        except ValueError as error:
            return [str(error)]
        return [NOT_FOUND] if found.record is None else card_lines(found.record, PLAIN)
    if query.action == "stats":
        return stats_lines(await queries.guild_stats(core, guild_id, since=query.since), PLAIN)
    page = await queries.requests(
        core, guild_id, user_id=query.user_id, since=query.since, flagged=query.action == "flagged",
        category=query.category, limit=query.limit, offset=query.offset,
    )  # fmt: skip
    title = f"Requests by user {query.user_id}" if query.action == "user" else "Flagged requests"
    if query.category:
        title += f" ({query.category})"
    return list_lines(title, page, PLAIN)


# -- terminal mode -----------------------------------------------------------------------------------------------


async def run_typed_audit(core: Core, author: Author, text: str, out: TextIO) -> None:
    """`/audit ...` in the terminal mode: the local guild's records, answered as plain text."""
    try:
        query = parse_audit(text)
    except AuditUsageError as error:
        out.write(f"{error}\n")
        return
    guild = author.guild_id
    details: dict[str, Any] = {"command": query.action, "interface": "local"}
    if query.action == "export":
        folder = Path(core.settings.data_dir) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / export_filename(guild, query.fmt)
        with path.open("w", encoding="utf-8", newline="") as file:
            count = await queries.export(core, guild, query.fmt, file, since=query.since)
        out.write(f"exported {count} records ({query.fmt}) to {path}\n")
        details.update(format=query.fmt, records=count)
    else:
        out.write("\n".join(await answer_lines(core, guild, query)) + "\n")
    if query.since_text:
        details["since"] = query.since_text
    await moderation.record(
        core, guild_id=guild, channel_id=author.channel_id, user_id=author.user_id, action="audit_query",
        details=details,
    )  # fmt: skip
    out.flush()
