"""After a crash: each member whose request the previous process left unfinished is told so, in its channel.

A process killed mid-generation (SIGKILL, out of memory, power) can tell nobody; the next start marks what it left
open `interrupted` ("process stopped", storage/db.py). This cog, loaded as the bot starts, posts one short
message per such request from the last `RECENT` (pinging only its author, since the interaction's token died with
the process) and records it as the request's `notice` delivery, so no restart tells anyone twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord.ext import commands
from sqlalchemy import exists, or_, select

from storage.models import Delivery, Request, RequestStatus, utcnow

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

RECENT = timedelta(minutes=15)
"""Older than Discord's interaction lifetime, a notice is noise: the member has long seen it fail."""
MAX_NOTICES = 50
"""A crash under load must not flood the channels: the rest stay recorded as interrupted."""


class RestartNotice(commands.Cog):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        try:
            told = await self.tell_interrupted()
        except Exception:  # telling is a courtesy: it must never stop the bot from starting
            log.exception("could not tell members about requests a previous run left unfinished")
            return
        if told:
            log.info("told %d members that a previous run left their request unfinished", told)

    async def tell_interrupted(self) -> int:
        core = self.bot.core
        query = (
            select(Request.id, Request.guild_id, Request.channel_id, Request.user_id, Request.command)
            .where(
                Request.status == RequestStatus.INTERRUPTED,
                Request.status_reason == "process stopped",
                Request.interface == "discord",
                Request.channel_id.is_not(None),
                Request.updated_at >= utcnow() - RECENT,
                ~exists().where(Delivery.request_id == Request.id),
            )
            .where(or_(Request.instance == core.recorder.instance, Request.instance.is_(None)))  # as mark_interrupted
            .order_by(Request.created_at)
            .limit(MAX_NOTICES)
        )
        async with core.database.connect() as connection:
            rows = (await connection.execute(query)).all()
        told = 0
        for row in rows:
            author = discord.Object(row.user_id)
            mention = discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=[author])
            try:
                message = await self.bot.messageable(row.channel_id, row.guild_id).send(
                    f"<@{row.user_id}> I restarted while writing your `/{row.command}`, so it was not finished and "
                    "nothing more will be added to it. Please run it again.",
                    allowed_mentions=mention,
                )
            except discord.HTTPException as error:
                log.warning("could not tell <@%s> about request %s: %s", row.user_id, row.id, error)
                continue
            core.recorder.delivery(request_id=row.id, channel_id=row.channel_id, message_id=message.id, kind="notice")
            told += 1
        return told


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(RestartNotice(bot))
