"""`storyloom audit ...`: the hash chains' checks and the moderators' audit queries for operators, from the command
line: `verify`, `head`, `message`, `user`, `flagged`, `stats`, `export` (every guild unless `--guild`), `erase`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.audit.commands import export_filename, normalise_category
from bot.audit.render import PLAIN, card_lines, requests_table, stats_tables
from bot.config import Settings
from bot.core.numbers import MAX_ID, MAX_LIMIT, argument, discord_id
from storage.audit import ALL_GUILDS, GuildScope, count_requests, iter_records, list_requests, parse_since, parse_target, provenance_for, stats
from storage.export import FORMATS, write_export

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every chain (or the guild's) is intact; otherwise 1, naming the first broken entry."""
    from tqdm import tqdm

    from storage.chain import verify
    from storage.db import create_engine

    expect = expected_heads(args)
    if expect is None:
        return 2

    async def _verify():  # noqa: ANN202 - storage.chain.Report
        engine = create_engine(settings.effective_database_url)
        try:
            with tqdm(desc="verifying", unit=" entries", disable=args.quiet or not sys.stderr.isatty()) as bar:
                return await verify(engine, args.guild, progress=bar.update, expect=expect, workers=args.workers)
        finally:
            await engine.dispose()

    report = asyncio.run(_verify())
    if report.intact and report.chains == 0:  # a guild (or a database) that never recorded anything
        print("no records" + (f" for guild {args.guild}" if args.guild is not None else "") + ": nothing to verify")
        return 0
    print(f"{report.chains} chains, {report.entries} entries, {report.records} records checked")
    for head in report.heads.values():
        print(f"  chain {head.chain}: {head.seq} entries, head {head.chain_hash}")
    for pinned in report.pinned:
        print(f"  expected head in place: chain {pinned.chain} entry {pinned.seq}")
    if report.intact:
        print("intact")
        return 0
    print(f"BROKEN: {report.broken[0]}", file=sys.stderr)
    for broken in report.broken[1:10]:
        print(f"  also: {broken}", file=sys.stderr)
    return 1


def expected_heads(args: argparse.Namespace) -> list[str] | None:
    """The heads `--expect-head` and `--expect-heads-from` name, checked for form; None (said why) when one is not."""
    from storage.chain import parse_pin
    from storage.head_log import last_heads

    expect = list(args.expect_head or [])
    try:
        for path in args.expect_heads_from or []:
            heads = last_heads(Path(path))
            expect += [pin for chain, pin in heads.items() if args.guild is None or chain == args.guild]
        for text in expect:
            parse_pin(text)
    except (OSError, ValueError) as error:
        print(f"storyloom audit verify: {error}", file=sys.stderr)
        return None
    return expect


def cmd_head(args: argparse.Namespace, settings: Settings) -> int:
    """Print each chain's head (or the guild's) as `CHAIN:SEQ:HASH`, to keep outside the database."""
    from storage.chain import current_heads
    from storage.db import create_engine
    from storage.head_log import pin

    async def _heads():  # noqa: ANN202 - list[storage.chain.Link]
        engine = create_engine(settings.effective_database_url)
        try:
            return await current_heads(engine, args.guild)
        finally:
            await engine.dispose()

    heads = asyncio.run(_heads())
    if not heads:
        print("no records" + (f" for guild {args.guild}" if args.guild is not None else ""))
        return 0
    for head in heads:
        print(pin(head.chain, head.seq, head.chain_hash))
    return 0


def add_audit_commands(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="provenance: verify the hash chains, query and export records")
    actions = audit.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="walk the hash chains; exit 1 naming the first broken entry")
    verify.add_argument("--guild", type=discord_id, default=None, help="only this guild's chain (0: outside any guild)")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.add_argument(
        "--expect-head", action="append", metavar="CHAIN:SEQ:HASH",
        help="a head kept elsewhere (`storyloom audit head`): it must still be in its chain (repeatable)",
    )  # fmt: skip
    verify.add_argument(
        "--expect-heads-from", action="append", metavar="FILE",
        help="a head log (STORYLOOM_CHAIN_HEAD_LOG): the last head of each chain in it must still be in place",
    )  # fmt: skip
    verify.add_argument(
        "--workers", type=argument("--workers", 1, 64), default=min(4, os.cpu_count() or 1),
        help="processes verifying the whole database's chains side by side (default: the cores, at most 4)",
    )  # fmt: skip
    verify.set_defaults(handler=cmd_verify)
    head = actions.add_parser("head", help="print each chain's head (CHAIN:SEQ:HASH) to keep outside the database")
    head.add_argument("--guild", type=discord_id, default=None, help="only this guild's chain (0: outside any guild)")
    head.set_defaults(handler=cmd_head)

    from bot.cli.erase import add_erase_command

    add_query_commands(actions)
    add_erase_command(actions)


# -- the audit queries ------------------------------------------------------------------------------------------


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
