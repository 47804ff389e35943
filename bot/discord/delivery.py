"""Showing checked text in Discord: streamed edits at most once a second, splits past 2,000 characters, no pings."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from typing import Any

import discord

from bot.core.request import Posted
from bot.logs import REQUEST_ID

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
STREAM_PREVIEW_LIMIT = 1900  # room for the cursor while streaming
MAX_SPLIT_MESSAGES = 3  # past this a file reads better than a wall of messages
NO_PINGS = discord.AllowedMentions.none()


def split_for_discord(text: str, footer: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut at paragraph, line, then word boundaries; the footer ends the last."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) + len(footer) + 1 > limit:
        window = rest[: limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(f"{rest}\n{footer}" if rest else footer)
    return parts


class InteractionSink:
    """Delivers one pipeline run into a deferred interaction's original response."""

    def __init__(
        self,
        interaction: discord.Interaction,
        edit_interval_s: float = 1.0,
        *,
        buttons: Callable[[str], discord.ui.View] | None = None,
    ) -> None:
        self._interaction = interaction
        self._buttons = buttons
        """The buttons under a delivered piece, given its request id (bot/discord/views.py)."""
        self._interval = edit_interval_s
        self._latest = ""
        self._last_edit = 0.0
        self._editing: asyncio.Task[None] | None = None

    async def show(self, text: str) -> None:
        # Never wait on Discord here: the pipeline keeps reading the engine while an edit is in flight.
        self._latest = text
        if self._editing is None or self._editing.done():
            self._editing = asyncio.create_task(self._edit_when_due())

    async def restart(self, note: str) -> None:
        await self.show(note)

    async def _edit_when_due(self) -> None:
        wait = self._last_edit + self._interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        preview = self._latest
        if len(preview) > STREAM_PREVIEW_LIMIT:
            preview = preview[:STREAM_PREVIEW_LIMIT] + "…"
        self._last_edit = time.monotonic()
        try:
            await self._interaction.edit_original_response(content=preview + " ▌", allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.warning("stream edit failed: %s", error)

    async def _stop_streaming(self) -> None:
        if self._editing is not None and not self._editing.done():
            self._editing.cancel()
            try:
                await self._editing
            except asyncio.CancelledError:
                pass

    def _view(self) -> discord.ui.View | None:
        # `Pipeline.run` sets the request id for the task it runs, `deliver` included.
        request_id = REQUEST_ID.get()
        return self._buttons(request_id) if self._buttons is not None and request_id else None

    async def deliver(self, text: str, footer: str) -> list[Posted]:
        await self._stop_streaming()
        channel_id = self._interaction.channel_id
        view = self._view()
        buttons = {"view": view} if view is not None else {}
        parts = split_for_discord(text, footer)
        if len(parts) > MAX_SPLIT_MESSAGES:
            preview = split_for_discord(text, "", STREAM_PREVIEW_LIMIT)[0]
            file = discord.File(io.BytesIO(text.encode()), filename="storyloom.md")
            message = await self._interaction.edit_original_response(
                content=f"{preview}\n… *(the whole text is attached)*\n{footer}",
                attachments=[file],
                allowed_mentions=NO_PINGS,
                **buttons,
            )
            return [Posted(channel_id, message.id, "file")]
        posted = []
        # The buttons go under the last part, beside the disclosure.
        last = {"view": view} if view is not None and len(parts) == 1 else {}
        first = await self._interaction.edit_original_response(content=parts[0], allowed_mentions=NO_PINGS, **last)
        posted.append(Posted(channel_id, first.id, "message"))
        for index, part in enumerate(parts[1:], start=2):
            last = buttons if index == len(parts) else {}
            message = await self._interaction.followup.send(part, wait=True, allowed_mentions=NO_PINGS, **last)
            posted.append(Posted(channel_id, message.id, "message"))
        return posted

    async def refuse(self, message: str, footer: str) -> list[Posted]:
        """A refusal is for the author only: the public placeholder goes, an ephemeral note says why."""
        await self._stop_streaming()
        try:
            await self._interaction.delete_original_response()
        except discord.HTTPException as error:
            log.warning("could not remove the placeholder: %s", error)
        note = await self._interaction.followup.send(
            f"{message}\n{footer}", ephemeral=True, wait=True, allowed_mentions=NO_PINGS
        )
        return [Posted(self._interaction.channel_id, note.id, "notice")]


async def reply(interaction: discord.Interaction, text: str, *, ephemeral: bool = True, **extra: Any) -> None:
    """Answer an interaction in one message that pings nobody: its response, or a follow-up once it has one (a
    deferred command, a second answer). Text past Discord's limit is cut."""
    text = text[:MESSAGE_LIMIT]
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral, allowed_mentions=NO_PINGS, **extra)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=NO_PINGS, **extra)
