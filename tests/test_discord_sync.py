"""`storyloom discord sync`: the bot's commands registered with Discord, with no core started behind them."""

from __future__ import annotations

from bot.config import Settings
from bot.discord.bot import sync_commands


async def test_discord_sync_registers_every_command_globally_or_in_one_guild(fake_discord) -> None:
    settings = Settings(discord_token=fake_discord.token)
    names = await sync_commands(settings)
    assert {"write", "continue", "story", "audit", "guardrails", "settings", "mine", "privacy", "help"} <= set(names)
    assert "Provenance" in names  # the message command
    assert {key[1] for key in fake_discord.commands if key[0] is None} == set(names)

    assert sorted(await sync_commands(settings, fake_discord.guild.id)) == sorted(names)
    assert {key[1] for key in fake_discord.commands if key[0] == fake_discord.guild.id} == set(names)
