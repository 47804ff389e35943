"""`storyloom discord sync [--guild ID]`: register the bot's slash commands with Discord, once per change of
commands (a start does not: global registration is rate-limited and takes up to an hour to reach every server)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.core.numbers import discord_id


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    import discord

    from bot.discord.bot import sync_commands

    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        print("storyloom discord sync: set DISCORD_TOKEN (the bot's token) first", file=sys.stderr)
        return 2
    try:
        names = asyncio.run(sync_commands(settings, args.guild))
    except discord.HTTPException as error:
        print(f"storyloom discord sync: Discord refused: {error}", file=sys.stderr)
        return 1
    where = "globally" if args.guild is None else f"to guild {args.guild}"
    print(f"registered {len(names)} commands {where}: {', '.join(sorted(names))}")
    return 0


def add_discord_commands(commands: argparse._SubParsersAction) -> None:
    actions = commands.add_parser("discord", help="the Discord bot's registration").add_subparsers(
        dest="action", required=True
    )
    sync = actions.add_parser("sync", help="register the slash commands with Discord (after a change of commands)")
    sync.add_argument("--guild", type=discord_id, default=None, help="only this guild, at once (for development)")
    sync.set_defaults(handler=cmd_sync)
