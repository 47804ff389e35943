"""A server's own choices (Manage Server, checked by the bot itself; every reply ephemeral): `/settings show | set |
channel | role | exempt | reset`. Defaults for `/write`, a house style note, where the bot answers, who may use it,
the member rate limit and who is exempt. Every change is recorded (`set_settings`, with who, when and the policy
hash it gives this channel), as `/guardrails` changes are; a house style is checked by the input rails first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import server_settings
from bot.core.admission import MAX_OPTION_CHARS, clean_prompt
from bot.core.policies import policy_at, record_policy_hash
from bot.core.prompts import HOUSE_STYLE_CHARS
from bot.core.server_settings import KEYS, ServerChoices, ids, joined
from bot.discord.choices import LENGTH_CHOICES
from bot.discord.context import place
from bot.discord.delivery import reply
from bot.discord.moderators import require_manage_guild

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

MODE_CHOICES = [
    app_commands.Choice(name="everywhere (no list)", value="off"),
    app_commands.Choice(name="only in the listed channels", value="allow"),
    app_commands.Choice(name="everywhere but the listed channels", value="deny"),
]
RESET_CHOICES = [app_commands.Choice(name="everything", value="all")] + [
    app_commands.Choice(name=key.replace("_", " "), value=key) for key in KEYS
]
MAX_RATE_LIMIT = 120


def _shown(key: str, value: str | None) -> str:
    if value is None:
        return "default"
    if key == "channels":
        return ", ".join(f"<#{i}>" for i in sorted(ids(value))) or "none"
    if key in ("roles", "rate_exempt_roles"):
        return ", ".join(f"<@&{i}>" for i in sorted(ids(value))) or "none"
    if key == "house_style":
        return f"“{value}”"
    return value


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SettingsCog(
    commands.GroupCog, name="Settings", group_name="settings", group_description="This server's choices for the bot"
):
    """`/settings`: a server's own choices for the bot, through bot/core/server_settings.py."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_guild(interaction)

    async def _stored(self, interaction: discord.Interaction) -> dict[str, str]:
        assert interaction.guild_id is not None
        return await server_settings.stored(self.bot.core, interaction.guild_id)

    # -- reading ---------------------------------------------------------------------------------------------

    @app_commands.command(name="show", description="This server's defaults, house style, channels, roles and rate limit")
    async def show(self, interaction: discord.Interaction) -> None:
        stored = await self._stored(interaction)
        choices = ServerChoices.from_stored(stored)
        mode = {"allow": "only in", "deny": "everywhere but"}.get(choices.channel_mode or "", "everywhere")
        listed = f" {_shown('channels', stored.get('channels'))}" if choices.channel_mode else ""
        limit = choices.rate_limit or self.bot.core.settings.rate_limit_per_minute
        lines = [
            "**This server's settings**",
            f"Defaults for /write: genre {_shown('genre', stored.get('genre'))} · tone {_shown('tone', stored.get('tone'))}"
            f" · length {_shown('length', stored.get('length'))}",
            f"House style: {_shown('house_style', stored.get('house_style'))}",
            f"Answers: {mode}{listed}",
            f"Who may use it: {_shown('roles', stored.get('roles')) if choices.roles else 'every member'}",
            f"Rate limit: {limit} requests per member per minute"
            + ("" if choices.rate_limit else " (the bot's default)")
            + (f" · exempt: {_shown('rate_exempt_roles', stored.get('rate_exempt_roles'))}" if choices.rate_exempt_roles else ""),
        ]
        policy = await policy_at(self.bot.core, place(interaction))
        lines.append(f"Policy hash here: `{record_policy_hash(self.bot.core, policy)[:16]}`")
        await reply(interaction, "\n".join(lines))

    # -- changing --------------------------------------------------------------------------------------------

    async def _change(self, interaction: discord.Interaction, changes: dict[str, str | None]) -> None:
        """Store `changes`, record them with the policy hash they give this channel, and say what changed."""
        previous, new_hash = await server_settings.change(
            self.bot.core, place(interaction), changes, user_id=interaction.user.id
        )
        described = "\n".join(
            f"- {key.replace('_', ' ')}: {_shown(key, previous[key])} → **{_shown(key, value)}**"
            for key, value in changes.items()
        )
        await reply(interaction, f"Settings for this server:\n{described}\nPolicy hash here `{new_hash[:16]}`.")

    @app_commands.command(name="set", description="Defaults for /write, the house style, where the bot answers, the rate limit")
    @app_commands.describe(
        genre="Default genre for /write when none is given",
        tone="Default tone for /write when none is given",
        length="Default length for /write when none is given",
        house_style="A short note the model reads after its rules, e.g. 'British spelling; no second person'",
        channels="Where the bot answers (the list: /settings channel)",
        rate_limit="Requests per member per minute in this server (0: the bot's default)",
    )
    @app_commands.choices(length=LENGTH_CHOICES, channels=MODE_CHOICES)
    async def set_settings(
        self,
        interaction: discord.Interaction,
        genre: app_commands.Range[str, 1, MAX_OPTION_CHARS] | None = None,
        tone: app_commands.Range[str, 1, MAX_OPTION_CHARS] | None = None,
        length: app_commands.Choice[str] | None = None,
        house_style: app_commands.Range[str, 1, HOUSE_STYLE_CHARS] | None = None,
        channels: app_commands.Choice[str] | None = None,
        rate_limit: app_commands.Range[int, 0, MAX_RATE_LIMIT] | None = None,
    ) -> None:
        changes: dict[str, str | None] = {}
        for key, value in (("genre", genre), ("tone", tone)):
            if value is not None:
                changes[key] = clean_prompt(value) or None
        if length is not None:
            changes["length"] = length.value
        if house_style is not None:
            note = " ".join(clean_prompt(house_style).split())
            if not note:
                await reply(interaction, "The house style has no visible text.")
                return
            failed = await server_settings.house_style_refusal(
                self.bot.core, place(interaction), note, user_id=interaction.user.id
            )
            if failed is not None:
                await reply(interaction, f"That house style didn't pass the checks on prompts ({failed}), so it was not stored.")
                return
            changes["house_style"] = note
        if channels is not None:
            changes["channel_mode"] = None if channels.value == "off" else channels.value
        if rate_limit is not None:
            changes["rate_limit"] = str(rate_limit) if rate_limit else None
        if not changes:
            await reply(interaction, "Nothing to set: give a default, a house style, `channels` or `rate_limit`.")
            return
        await self._change(interaction, changes)

    async def _toggle(
        self, interaction: discord.Interaction, key: str, item_id: int, remove: bool | None, what: str
    ) -> None:
        stored = await self._stored(interaction)
        listed = set(ids(stored.get(key)))
        if remove:
            if item_id not in listed:
                await reply(interaction, f"That {what} is not on the list.")
                return
            listed.discard(item_id)
        else:
            listed.add(item_id)
        await self._change(interaction, {key: joined(listed)})

    @app_commands.command(name="channel", description="Add a channel to (or remove it from) the allow / deny list")
    @app_commands.describe(channel="The channel", remove="Take it off the list")
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, remove: bool | None = None
    ) -> None:
        await self._toggle(interaction, "channels", channel.id, remove, "channel")

    @app_commands.command(name="role", description="Only members with one of these roles may use the bot")
    @app_commands.describe(role="The role", remove="Take it off the list (an empty list lets every member in)")
    async def role(self, interaction: discord.Interaction, role: discord.Role, remove: bool | None = None) -> None:
        await self._toggle(interaction, "roles", role.id, remove, "role")

    @app_commands.command(name="exempt", description="Members with this role have no rate limit here")
    @app_commands.describe(role="The role", remove="Take it off the list")
    async def exempt(self, interaction: discord.Interaction, role: discord.Role, remove: bool | None = None) -> None:
        await self._toggle(interaction, "rate_exempt_roles", role.id, remove, "role")

    @app_commands.command(name="reset", description="Clear one setting, or all of them")
    @app_commands.describe(what="Which setting (default: everything)")
    @app_commands.choices(what=RESET_CHOICES)
    async def reset(self, interaction: discord.Interaction, what: app_commands.Choice[str] | None = None) -> None:
        stored = await self._stored(interaction)
        keys = [key for key in stored if what is None or what.value in ("all", key)]
        if not keys:
            await reply(interaction, "Nothing is set there; the defaults already apply.")
            return
        await self._change(interaction, dict.fromkeys(keys))


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(SettingsCog(bot))
