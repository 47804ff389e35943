"""What happens to delivered messages afterwards: an edit or a deletion of one of our deliveries, seen on the
gateway, is recorded as a new delivery row (`edited` / `deleted`) and the request is chained again as it now is.

Raw events, so messages sent before a restart (not in discord.py's cache) count too; `Intents.default()` carries
them for guild messages. Only the bot's own account can edit its messages: an edit here is a later change by this
bot or another process holding its token. The pipeline's own last edit lands just before the delivery is recorded;
an edit stamped within `OWN_EDIT_GRACE_S` of the latest row for that message is taken to be that one (or one
already recorded) and skipped. Who deleted a message is not in the event (only Discord's audit log knows).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core import provenance

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

OWN_EDIT_GRACE_S = 2.0


class ProvenanceCog(commands.Cog, name="Provenance"):
    """Edits and deletions of delivered messages, recorded through bot/core/provenance.py."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        self._deleted: set[int] = set()
        """Messages recorded as deleted by this process (the row may not be committed yet)."""

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        author = (payload.data.get("author") or {}).get("id")
        edited = payload.data.get("edited_timestamp")
        if self.bot.user is None or author != str(self.bot.user.id) or not edited:
            return  # someone else's message, or no edit of its text (an embed appearing, a pin)
        if payload.message_id in self._deleted:
            return
        delivered = await provenance.delivered(self.bot.core, payload.message_id, payload.guild_id)
        if delivered is None or delivered.deleted:
            return
        if not provenance.later_edit(delivered, datetime.fromisoformat(edited), timedelta(seconds=OWN_EDIT_GRACE_S)):
            return
        provenance.record_change(self.bot.core, delivered, payload.channel_id, payload.message_id, "edited")

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deleted_one(payload.message_id, payload.channel_id, payload.guild_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        for message_id in sorted(payload.message_ids):
            await self._deleted_one(message_id, payload.channel_id, payload.guild_id)

    async def _deleted_one(self, message_id: int, channel_id: int, guild_id: int | None) -> None:
        if message_id in self._deleted:
            return
        delivered = await provenance.delivered(self.bot.core, message_id, guild_id)
        if delivered is None or delivered.deleted:
            return
        self._deleted.add(message_id)
        provenance.record_change(self.bot.core, delivered, channel_id, message_id, "deleted")


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(ProvenanceCog(bot))
