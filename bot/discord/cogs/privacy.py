"""`/privacy forget-me`: any member erases their own prompts and the outputs written for them in this server.
`/privacy export`: any member gets, privately, a JSON file of everything Storyloom stores about them in this server
(requests, every attempt's outputs, verdicts, messages, story games and turns, votes); each export is recorded.

The command answers privately with Erase / Cancel buttons that only the member who asked can press, for two
minutes. Erasing (bot/core/privacy.py) keeps each record's digest, so the provenance log still verifies; the reply
says how much was erased and what stays.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.privacy import describe_export, export_member, forget_member
from bot.discord.delivery import NO_PINGS, reply

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 120.0

ASK = (
    "This erases **your prompts and the outputs written for you in this server** from Storyloom's records "
    "(also what the checks flagged in them). It cannot be undone.\n"
    "What stays: each record's SHA-256 digest (so the provenance log still verifies), your Discord id, times, "
    "statuses and check scores. Messages already posted in channels are not deleted by this."
)
KEPT = (
    "Each record keeps the SHA-256 digest of what was erased, so the provenance log remains verifiable; "
    "your Discord id, times, statuses and check scores stay."
)


class ForgetMeView(discord.ui.View):
    """Erase / Cancel for one member; anyone else pressing is told it is not theirs."""

    def __init__(self, cog: PrivacyCog, interaction: discord.Interaction) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_S)
        self.cog = cog
        self.asked = interaction
        self.user_id = interaction.user.id
        self.guild_id = interaction.guild_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.user_id:
            await reply(interaction, "Only the member who asked can confirm this.")
            return False
        return True

    @discord.ui.button(label="Erase my data", style=discord.ButtonStyle.danger)
    async def erase(self, interaction: discord.Interaction, button: discord.ui.Button[ForgetMeView]) -> None:
        self.stop()
        await interaction.response.edit_message(content="Erasing…", view=None, allowed_mentions=NO_PINGS)
        try:
            text = await self.cog.forget(self.user_id, self.guild_id, interaction.channel_id)
        except Exception:
            log.exception("forget-me failed for %s in %s", self.user_id, self.guild_id)
            text = "Something went wrong on my side and nothing was erased. Please try again."
        await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ForgetMeView]) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was erased.", view=None, allowed_mentions=NO_PINGS)

    async def on_timeout(self) -> None:
        try:
            await self.asked.edit_original_response(
                content="Nothing was erased (no answer within two minutes).", view=None, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException:
            pass  # dismissed, or the token expired: nothing to tidy


@app_commands.guild_only()
class PrivacyCog(
    commands.GroupCog, name="Privacy", group_name="privacy", group_description="Your data in this server"
):
    """`/privacy`: a member's own data here, exported or erased (bot/core/privacy.py)."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="forget-me", description="Erase your prompts and the outputs written for you here")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            ASK, view=ForgetMeView(self, interaction), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="export", description="A file with everything Storyloom stores about you in this server")
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data, file = await export_member(
            self.bot.core, guild_id=interaction.guild_id, channel_id=interaction.channel_id, user_id=interaction.user.id
        )
        await interaction.followup.send(
            f"Everything I store about you in this server: {describe_export(data)}. Only you can see this.",
            file=discord.File(io.BytesIO(file), filename=f"storyloom-{interaction.guild_id}-{interaction.user.id}.json"),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    async def forget(self, user_id: int, guild_id: int | None, channel_id: int | None) -> str:
        """Erase and say what was erased."""
        result, erased = await forget_member(self.bot.core, guild_id=guild_id, channel_id=channel_id, user_id=user_id)
        if result.erased:
            text = f"Erased your prompts and outputs from {erased} in this server. {KEPT}"
        else:
            text = "There was nothing of yours left to erase in this server."
        if result.in_progress:
            text += (
                f"\n{result.in_progress} request(s) still being written or waiting for a moderator were left; "
                "run `/privacy forget-me` again once they are done."
            )
        if result.stories_in_progress:
            text += (
                f"\n{result.stories_in_progress} story game(s) you are in are still running and keep your name and "
                "their settings until they end; run `/privacy forget-me` again then."
            )
        return text


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(PrivacyCog(bot))
