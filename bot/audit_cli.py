"""`storyloom audit ...`: the moderators' audit queries for operators, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.config import Settings


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every chain (or the guild's) is intact; otherwise 1, naming the first broken entry."""
    from tqdm import tqdm

    from storage.chain import verify
    from storage.db import create_engine

    async def _verify():  # noqa: ANN202 - storage.chain.Report
        engine = create_engine(settings.effective_database_url)
        try:
            with tqdm(desc="verifying", unit=" entries", disable=args.quiet or not sys.stderr.isatty()) as bar:
                return await verify(engine, args.guild, progress=bar.update, workers=args.workers)
        finally:
            await engine.dispose()

    report = asyncio.run(_verify())
    print(f"{report.chains} chains, {report.entries} entries, {report.records} records checked")
    for head in report.heads.values():
        print(f"  chain {head.chain}: {head.seq} entries, head {head.chain_hash}")
    if report.intact:
        print("intact")
        return 0
    print(f"BROKEN: {report.broken[0]}", file=sys.stderr)
    for broken in report.broken[1:10]:
        print(f"  also: {broken}", file=sys.stderr)
    return 1


def add_audit_commands(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="provenance: verify the hash chains, query and export records")
    actions = audit.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="walk the hash chains; exit 1 naming the first broken entry")
    verify.add_argument("--guild", type=int, default=None, help="only this guild's chain (0: outside any guild)")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1),
        help="processes verifying the whole database's chains side by side (default: the cores, at most 4)",
    )  # fmt: skip
    verify.set_defaults(handler=cmd_verify)

    from bot.audit_commands import add_query_commands  # message, user, flagged, stats, export
    from bot.erasure_cli import add_erase_command

    add_query_commands(actions)
    add_erase_command(actions)
