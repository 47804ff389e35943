"""`storyloom audit erase --user ID [--guild ID]`: the operator erases a member's content (storage/erasure.py)."""

from __future__ import annotations

import argparse
import asyncio

from bot.config import Settings
from bot.core.numbers import discord_id


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    """Erase the member's prompts and outputs (one guild's, or every guild's); print what was erased; exit 0."""
    from storage.db import create_engine
    from storage.erasure import ErasureResult, describe, erase_user

    async def _erase() -> ErasureResult:
        engine = create_engine(settings.effective_database_url)
        if settings.chain_head_log is not None:  # the erasure's chain entries are new heads too
            from storage.head_log import attach

            attach(engine, settings.chain_head_log)
        try:
            return await erase_user(engine, args.user, args.guild, compact=args.compact)
        finally:
            await engine.dispose()

    result = asyncio.run(_erase())
    where = "every guild" if args.guild is None else f"guild {args.guild}"
    if result.erased:
        print(f"erased {describe(result)} of user {args.user} in {where}")
        for chain, erasure_id in sorted(result.erasures.items()):
            print(f"  chain {chain}: {erasure_id}")
    else:
        print(f"nothing left to erase for user {args.user} in {where}")
    if result.in_progress:
        print(f"{result.in_progress} requests still open or held for review were left; run again once they end")
    if result.stories_in_progress:
        print(f"{result.stories_in_progress} story games still running were left (their lines and veils guard them); "
              "run again once they end")  # fmt: skip
    print("digests stay: `storyloom audit verify` still passes")
    return 0


def add_erase_command(actions: argparse._SubParsersAction) -> None:
    """`erase` under `storyloom audit`."""
    erase = actions.add_parser(
        "erase", help="erase a member's prompts and outputs (digests stay, so the chains still verify)"
    )
    erase.add_argument("--user", type=discord_id, required=True, help="the member's Discord user id")
    erase.add_argument("--guild", type=discord_id, default=None, help="only this guild (0: outside any guild); default all")
    erase.add_argument(
        "--compact", action="store_true",
        help="PostgreSQL: rewrite the touched tables (VACUUM FULL) so old row versions leave the files now; "
        "writes to them wait meanwhile",
    )  # fmt: skip
    erase.set_defaults(handler=cmd_erase)
