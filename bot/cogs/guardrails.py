"""Moderators' guardrail settings: `/guardrails show` and `/guardrails rating` (Manage Server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery import NO_PINGS
from guardrails.ratings import RATINGS, Rating, effective_rating
from storage.policies import set_rating, stored_ratings

if TYPE_CHECKING:
    from bot.discord_bot import StoryloomBot

RATING_CHOICES = [app_commands.Choice(name=rating, value=rating) for rating in RATINGS]
SCOPE_CHOICES = [app_commands.Choice(name="this channel", value="channel"), app_commands.Choice(name="server", value="server")]


def age_restricted(channel: object) -> bool:
    return bool(getattr(channel, "nsfw", False) or getattr(getattr(channel, "parent", None), "nsfw", False))


async def channel_rating(bot: StoryloomBot, interaction: discord.Interaction) -> Rating:
    """The rating a request from this channel is judged at."""
    if interaction.guild_id is None:
        return effective_rating(None, None, age_restricted=False)
    channel, guild = await stored_ratings(bot.core.database, interaction.guild_id, interaction.channel_id)
    return effective_rating(channel, guild, age_restricted=age_restricted(interaction.channel))


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class GuardrailsCog(
    commands.GroupCog,
    name="Guardrails",
    group_name="guardrails",
    group_description="Content rating and checks for this server",
):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # default_permissions only hides the command in Discord's client; the bot enforces it itself.
        permissions = getattr(interaction.user, "guild_permissions", None)
        if permissions is None or not permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @app_commands.command(name="show", description="The rating and the checks that apply in this channel")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        channel, guild = await stored_ratings(self.bot.core.database, interaction.guild_id, interaction.channel_id)
        rating = effective_rating(channel, guild, age_restricted=age_restricted(interaction.channel))
        rails = self.bot.core.rails.rated(rating)
        lines = [
            f"**Rating here: {rating}** (channel: {channel or 'not set'}, server: {guild or 'not set'}"
            f"{'; age-restricted channel' if age_restricted(interaction.channel) else ''})",
        ]
        for stage, stage_rails in (("Prompts", rails.input_rails), ("Output", rails.output_rails)):
            described = []
            for rail in stage_rails:
                thresholds = rail.describe().get("thresholds") or {}
                shown = ", ".join(f"{name} {value:g}" for name, value in sorted(thresholds.items()))
                described.append(f"{rail.name}" + (f" ({shown})" if shown else ""))
            lines.append(f"{stage}: " + "; ".join(described))
        lines.append(f"Policy hash: `{rails.policy_hash[:16]}`")
        await interaction.response.send_message("\n".join(lines), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="rating", description="Set the content rating for this channel or the server")
    @app_commands.describe(rating="G, PG-13 (default) or M (age-restricted channels only)", scope="Where it applies")
    @app_commands.choices(rating=RATING_CHOICES, scope=SCOPE_CHOICES)
    async def rating(
        self,
        interaction: discord.Interaction,
        rating: app_commands.Choice[str],
        scope: app_commands.Choice[str] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        channel_scope = scope is None or scope.value == "channel"
        if rating.value == "M" and channel_scope and not age_restricted(interaction.channel):
            await interaction.response.send_message(
                "M is only for channels Discord marks age-restricted. Mark this channel first, or pick G or PG-13.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        new_hash = self.bot.core.rails.rated(rating.value).policy_hash  # type: ignore[arg-type]
        previous = await set_rating(
            self.bot.core.database,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id if channel_scope else None,
            rating=rating.value,
            user_id=interaction.user.id,
            policy_hash=new_hash,
        )
        where = "this channel" if channel_scope else "this server"
        note = " It applies only in age-restricted channels; elsewhere PG-13 holds." if rating.value == "M" and not channel_scope else ""
        await interaction.response.send_message(
            f"Rating for {where}: {previous or 'PG-13 (default)'} → **{rating.value}**. Policy hash `{new_hash[:16]}`.{note}",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(GuardrailsCog(bot))
