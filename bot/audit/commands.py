"""The audit queries outside Discord: `storyloom audit message|user|flagged|stats|export` for operators (every
guild unless `--guild`), and `/audit ...` typed in the terminal mode (the local guild only).

Typed form (terminal mode), options as words or `key:value`:

    /audit message <message link | message id | request id>
    /audit user <user id> [since]
    /audit flagged [category] [since]
    /audit stats [since]
    /audit export [csv|jsonl|prov-json] [since]

`since` is `7d`, `24h`, `90m`, `2w` or a date (`2026-11-01`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.audit.render import PLAIN, card_lines, list_lines, requests_table, stats_lines, stats_tables
from bot.terminal.parser import shorten
from bot.core.numbers import MAX_ID, MAX_LIMIT, argument, discord_id, whole_number
from storage.audit import (
    ALL_GUILDS,
    GuildScope,
    count_requests,
    iter_records,
    list_requests,
    parse_since,
    parse_target,
    provenance_for,
    stats,
)
from storage.export import EXTENSIONS, FORMATS, write_export

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.config import Settings
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


async def answer_lines(database: AsyncEngine, guild: GuildScope, query: AuditQuery) -> list[str]:
    """The plain-text answer to message / user / flagged / stats (export writes a file instead)."""
    if query.action == "message":
        assert query.target is not None
        try:
            target = parse_target(query.target)
        except ValueError as error:
            return [str(error)]
        record = await provenance_for(database, guild, target)
        return [NOT_FOUND] if record is None else card_lines(record, PLAIN)
    if query.action == "stats":
        return stats_lines(await stats(database, guild, since=query.since), PLAIN)
    page = await list_requests(
        database, guild, user_id=query.user_id, since=query.since, flagged=query.action == "flagged",
        category=query.category, limit=query.limit, offset=query.offset,
    )  # fmt: skip
    title = f"Requests by user {query.user_id}" if query.action == "user" else "Flagged requests"
    if query.category:
        title += f" ({query.category})"
    return list_lines(title, page, PLAIN)


# -- terminal mode -----------------------------------------------------------------------------------------------


async def run_typed_audit(core: Core, author: Author, text: str, out: TextIO) -> None:
    """`/audit ...` in the terminal mode: the local guild's records, answered as plain text."""
    from storage.policies import record_action

    try:
        query = parse_audit(text)
    except AuditUsageError as error:
        out.write(f"{error}\n")
        return
    await core.recorder.flush()
    guild = author.guild_id
    details: dict[str, Any] = {"command": query.action, "interface": "local"}
    if query.action == "export":
        folder = Path(core.settings.data_dir) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / export_filename(guild, query.fmt)
        with path.open("w", encoding="utf-8", newline="") as file:
            count = await write_export(iter_records(core.database, guild, since=query.since), query.fmt, file)
        out.write(f"exported {count} records ({query.fmt}) to {path}\n")
        details.update(format=query.fmt, records=count)
    else:
        out.write("\n".join(await answer_lines(core.database, guild, query)) + "\n")
    if query.since_text:
        details["since"] = query.since_text
    await record_action(
        core.database, guild_id=guild, channel_id=author.channel_id, user_id=author.user_id, action="audit_query",
        details=details,
    )  # fmt: skip
    out.flush()


# -- operators' command line -------------------------------------------------------------------------------------


def _scope(args: argparse.Namespace) -> GuildScope:
    return ALL_GUILDS if args.guild is None else args.guild


def _since(args: argparse.Namespace) -> datetime | None:
    try:
        return parse_since(args.since)
    except ValueError as error:
        raise SystemExit(f"storyloom audit: {error}") from None


def _run(settings: Settings, work: Any) -> Any:
    from storage.db import create_engine

    async def _main() -> Any:
        engine = create_engine(settings.effective_database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(_main())


def cmd_message(args: argparse.Namespace, settings: Settings) -> int:
    try:
        target = parse_target(args.target)
    except ValueError as error:
        print(f"storyloom audit message: {error}", file=sys.stderr)
        return 2

    async def work(engine: AsyncEngine) -> list[str] | None:
        record = await provenance_for(engine, _scope(args), target)
        return None if record is None else card_lines(record, PLAIN)

    lines = _run(settings, work)
    if lines is None:
        where = "any guild" if args.guild is None else f"guild {args.guild}"
        print(f"no Storyloom output for {args.target} in {where}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _cmd_list(args: argparse.Namespace, settings: Settings, *, user_id: int | None, flagged: bool) -> int:
    since = _since(args)
    category = normalise_category(args.category) if getattr(args, "category", None) else None

    async def work(engine: AsyncEngine) -> Any:
        return await list_requests(
            engine, _scope(args), user_id=user_id, since=since, flagged=flagged, category=category,
            limit=args.limit, offset=args.offset,
        )  # fmt: skip

    page = _run(settings, work)
    print(requests_table(page))
    return 0


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    return _cmd_list(args, settings, user_id=args.user, flagged=False)


def cmd_flagged(args: argparse.Namespace, settings: Settings) -> int:
    return _cmd_list(args, settings, user_id=None, flagged=True)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    since = _since(args)
    result = _run(settings, lambda engine: stats(engine, _scope(args), since=since))
    print(stats_tables(result))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the records to a file (or stdout with `-o -`); a progress bar on stderr when it is a terminal."""
    from tqdm import tqdm

    from bot.core.visible import for_terminal

    since = _since(args)
    scope = _scope(args)
    output = args.output or export_filename(scope, args.format)
    if output == "-":  # a terminal sees control characters made visible; a pipe or a file gets the records as stored
        stream: TextIO = for_terminal(sys.stdout) if sys.stdout.isatty() else sys.stdout
    else:
        try:
            stream = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        except OSError as error:
            print(f"storyloom audit export: cannot write {output}: {error.strerror or error}", file=sys.stderr)
            return 2

    async def work(engine: AsyncEngine) -> int:
        total = await count_requests(engine, scope, since=since)
        disable = args.quiet or not sys.stderr.isatty()
        with tqdm(total=total, desc="exporting", unit=" records", file=sys.stderr, disable=disable) as bar:
            return await write_export(iter_records(engine, scope, since=since), args.format, stream, progress=bar.update)

    try:
        count = _run(settings, work)
    finally:
        if output != "-":
            stream.close()
    if output != "-":
        print(f"exported {count} records ({args.format}) to {output}")
    return 0


def add_query_commands(actions: argparse._SubParsersAction) -> None:
    """`message`, `user`, `flagged`, `stats` and `export` under `storyloom audit`."""

    def scoped(parser: argparse.ArgumentParser, *, since: bool = True) -> argparse.ArgumentParser:
        parser.add_argument("--guild", type=discord_id, default=None, help="only this guild (default: every guild)")
        if since:
            parser.add_argument("--since", default=None, help="7d, 24h, 90m, 2w or a date such as 2026-11-01")
        return parser

    message = scoped(actions.add_parser("message", help="the provenance card of one output"), since=False)
    message.add_argument("target", help="a message link, message id, or request id")
    message.set_defaults(handler=cmd_message)

    for name, helptext, handler in (
        ("user", "a member's requests, newest first", cmd_user),
        ("flagged", "requests with a check not passed (block, redact, flag, error)", cmd_flagged),
    ):
        parser = scoped(actions.add_parser(name, help=helptext))
        if name == "user":
            parser.add_argument("user", type=discord_id, help="the member's user id")
        else:
            parser.add_argument("--category", default=None, help="only verdicts of this category (insult, ...)")
        parser.add_argument(
            "--limit", type=argument("--limit", 1, MAX_LIMIT), default=50, help=f"rows to show (default 50, at most {MAX_LIMIT:,})"
        )
        parser.add_argument("--offset", type=argument("--offset", 0, MAX_ID), default=0, help="rows to skip")
        parser.set_defaults(handler=handler)

    scoped(actions.add_parser("stats", help="counts by status, rail and decision, top categories")).set_defaults(
        handler=cmd_stats
    )
    export = scoped(actions.add_parser("export", help="every record to a file: csv, jsonl or prov-json"))
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.add_argument("-o", "--output", default=None, help="file to write (- for stdout; default: a dated name)")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.set_defaults(handler=cmd_export)
