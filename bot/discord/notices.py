"""After a crash, as the bot starts: each member whose request the previous process left unfinished is told so in
its channel (bot/core/notices.py finds them), pinging only its author since the interaction's token died with the
process."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.core import notices

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)


async def tell_interrupted(bot: StoryloomBot) -> int:
    """How many members were told; telling is a courtesy, so a failure is logged and never stops the start."""
    try:
        told = 0
        for request in await notices.untold(bot.core, "discord"):
            author = discord.Object(request.user_id)
            mention = discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=[author])
            try:
                message = await bot.messageable(request.channel_id, request.guild_id).send(
                    f"<@{request.user_id}> I restarted while writing your `/{request.command}`, so it was not finished "
                    "and nothing more will be added to it. Please run it again.",
                    allowed_mentions=mention,
                )
            except discord.HTTPException as error:
                log.warning("could not tell <@%s> about request %s: %s", request.user_id, request.request_id, error)
                continue
            notices.told(bot.core, request, message.id)
            told += 1
    except Exception:
        log.exception("could not tell members about requests a previous run left unfinished")
        return 0
    if told:
        log.info("told %d members that a previous run left their request unfinished", told)
    return told
