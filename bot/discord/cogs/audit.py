"""Moderators' audit (Manage Messages, or the server's moderator role from `/guardrails set moderator_role:`):
`/audit message | user | flagged | stats | export` and the message context-menu command "Provenance".

Every answer is ephemeral, pings no one, and pages with Previous / Next past one message. Every query is scoped
to the asking guild: a message of another guild gets the same answer as one that does not exist, and the probe
is recorded (`audit_denied`); every use is recorded (`audit_query`), and so is a refused member (`audit_denied`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.audit import queries
from bot.audit.commands import NOT_FOUND, export_filename, normalise_category
from bot.audit.render import DISCORD, card_lines, list_lines, paginate, stats_lines
from bot.core import moderation
from bot.discord.choices import FORMAT_CHOICES
from bot.discord.delivery import NO_PINGS, reply
from bot.discord.moderators import NotModerator, is_moderator
from bot.discord.views import Pager

if TYPE_CHECKING:
    from datetime import datetime

    from bot.discord.bot import StoryloomBot

LIST_LIMIT = 100


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class AuditCog(
    commands.GroupCog,
    name="Audit",
    group_name="audit",
    group_description="Who asked for an output, what the model got, which checks ran (moderators)",
):
    """`/audit` and the "Provenance" message command: moderators' queries over this server's records
    (bot/audit/queries.py), each use recorded."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()
        self.menu = app_commands.ContextMenu(name="Provenance", callback=self.provenance_menu)
        self.menu.guild_only = True
        self.menu.default_permissions = discord.Permissions(manage_messages=True)
        self.menu.add_check(self._allowed)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    # -- who may audit ---------------------------------------------------------------------------------------------

    async def _allowed(self, interaction: discord.Interaction) -> bool:
        """Default permissions only hide the commands in Discord's client: the bot checks for itself."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if await is_moderator(self.bot.core, interaction):
            return True
        command = interaction.command.qualified_name if interaction.command else "audit"
        await self._record(interaction, "audit_denied", {"command": command, "reason": "not a moderator"})
        raise NotModerator()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await self._allowed(interaction)

    # -- shared ----------------------------------------------------------------------------------------------------

    async def _record(self, interaction: discord.Interaction, action: str, details: dict[str, Any]) -> None:
        await moderation.record(
            self.bot.core,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            action=action,
            details=details,
        )

    async def _begin(self, interaction: discord.Interaction) -> None:
        """Acknowledge at once: queries over a large history may take a while."""
        await interaction.response.defer(ephemeral=True, thinking=True)

    async def _send_pages(self, interaction: discord.Interaction, lines: list[str]) -> None:
        pages = paginate(lines)
        if len(pages) == 1:
            await reply(interaction, pages[0])
            return
        await Pager.of(pages, interaction.user.id, not_yours="Only the moderator who asked can page through this.").send(
            interaction
        )

    async def _open(self, interaction: discord.Interaction, since: str | None) -> tuple[int, datetime | None] | None:
        """A listing's start: acknowledged, and its guild and `since` read; None once a bad `since` was answered."""
        await self._begin(interaction)
        try:
            moment = queries.since_of(since)
        except ValueError as error:
            await reply(interaction, f"{error}.")
            return None
        assert interaction.guild_id is not None
        return interaction.guild_id, moment

    async def _card(self, interaction: discord.Interaction, given: str | int) -> None:
        assert interaction.guild_id is not None
        details: dict[str, Any] = {"command": "message", "target": str(given)[:120]}
        try:
            found = await queries.card(self.bot.core, interaction.guild_id, given)
        except ValueError as error:  # not a link, a message id or a request id
            await reply(interaction, str(error))
            return
        if found.record is None:
            if found.elsewhere:
                # The same answer as for nothing at all; the probe across guilds is recorded for the operators.
                await self._record(interaction, "audit_denied", details | {"reason": "another guild's record"})
            else:
                await self._record(interaction, "audit_query", details | {"found": False})
            await reply(interaction, NOT_FOUND)
            return
        await self._record(interaction, "audit_query", details | {"found": True, "request_id": found.record.id})
        await self._send_pages(interaction, card_lines(found.record, DISCORD))

    # -- commands --------------------------------------------------------------------------------------------------

    @app_commands.command(name="message", description="The provenance card of a Storyloom output")
    @app_commands.describe(message="A message link or id, or the request id from an output's footer")
    async def message(self, interaction: discord.Interaction, message: app_commands.Range[str, 1, 200]) -> None:
        await self._begin(interaction)
        await self._card(interaction, message)

    async def provenance_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._begin(interaction)
        await self._card(interaction, message.id)

    @app_commands.command(name="user", description="A member's requests in this server, newest first")
    @app_commands.describe(member="Whose requests", since="How far back: 7d, 24h, or a date such as 2026-11-01")
    async def user(
        self, interaction: discord.Interaction, member: discord.User, since: app_commands.Range[str, 1, 40] | None = None
    ) -> None:
        if (opened := await self._open(interaction, since)) is None:
            return
        guild_id, moment = opened
        page = await queries.requests(self.bot.core, guild_id, user_id=member.id, since=moment, limit=LIST_LIMIT)
        await self._record(
            interaction, "audit_query", {"command": "user", "member": member.id, "since": since, "results": page.total}
        )
        await self._send_pages(interaction, list_lines(f"Requests by {member.mention}", page, DISCORD))

    @app_commands.command(name="flagged", description="Requests with a check not passed: blocked, redacted, flagged, errors")
    @app_commands.describe(
        category="Only this category (insult, threat, misinformation, ...)", since="How far back: 7d, 24h, or a date"
    )
    async def flagged(
        self,
        interaction: discord.Interaction,
        category: app_commands.Range[str, 1, 32] | None = None,
        since: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        if (opened := await self._open(interaction, since)) is None:
            return
        guild_id, moment = opened
        wanted = normalise_category(category) if category else None
        page = await queries.requests(
            self.bot.core, guild_id, flagged=True, category=wanted, since=moment, limit=LIST_LIMIT
        )
        await self._record(
            interaction, "audit_query", {"command": "flagged", "category": wanted, "since": since, "results": page.total}
        )
        title = "Flagged requests" + (f" ({wanted})" if wanted else "")
        await self._send_pages(interaction, list_lines(title, page, DISCORD))

    @app_commands.command(name="stats", description="Counts by status, by check and decision, and the top categories")
    @app_commands.describe(since="How far back: 7d, 24h, or a date such as 2026-11-01 (default: all time)")
    async def stats_command(self, interaction: discord.Interaction, since: app_commands.Range[str, 1, 40] | None = None) -> None:
        if (opened := await self._open(interaction, since)) is None:
            return
        guild_id, moment = opened
        result = await queries.guild_stats(self.bot.core, guild_id, since=moment)
        await self._record(interaction, "audit_query", {"command": "stats", "since": since, "requests": result.requests})
        await self._send_pages(interaction, stats_lines(result, DISCORD))

    @app_commands.command(name="export", description="This server's records as a file: csv, jsonl or prov-json")
    @app_commands.describe(format="csv (default), jsonl, or prov-json (W3C PROV)", since="How far back: 7d, 24h, or a date")
    @app_commands.choices(format=FORMAT_CHOICES)
    async def export(
        self,
        interaction: discord.Interaction,
        format: app_commands.Choice[str] | None = None,  # noqa: A002 - the option's name in Discord
        since: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        if (opened := await self._open(interaction, since)) is None:
            return
        guild_id, moment = opened
        fmt = format.value if format else "csv"
        buffer = io.StringIO(newline="")
        count = await queries.export(self.bot.core, guild_id, fmt, buffer, since=moment)
        data = buffer.getvalue().encode()
        await self._record(
            interaction, "audit_query", {"command": "export", "format": fmt, "since": since, "records": count, "bytes": len(data)}
        )
        limit = getattr(interaction, "filesize_limit", 8 * 1024 * 1024)
        if len(data) > limit:
            await reply(
                interaction,
                f"That export is {len(data) / 1e6:.1f} MB, over this server's {limit / 1e6:.0f} MB upload limit. "
                "Give a shorter `since`, or ask the bot's operator for `storyloom audit export`.",
            )
            return
        period = f" since {since}" if since else ""
        await interaction.followup.send(
            f"{count} records{period} from this server ({fmt}).",
            file=discord.File(io.BytesIO(data), filename=export_filename(guild_id, fmt)),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(AuditCog(bot))
