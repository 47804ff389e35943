"""`storyloom audit ...`: the moderators' audit queries for operators, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.config import Settings
from bot.core.numbers import argument, discord_id


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

    from bot.audit.commands import add_query_commands  # message, user, flagged, stats, export
    from bot.cli.erase import add_erase_command

    add_query_commands(actions)
    add_erase_command(actions)
