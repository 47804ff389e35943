"""What a story game shows in its thread: the pinned status, a Vote button under each AI choice, and the sink that
streams one choice into its own message."""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Any

import discord

from bot.core.request import Posted
from bot.core.story import StoryView
from bot.discord.choices import ROUND_ROBIN
from bot.discord.delivery import MESSAGE_LIMIT, NO_PINGS, STREAM_PREVIEW_LIMIT, split_for_discord

log = logging.getLogger(__name__)


def status_text(view: StoryView) -> str:
    """The pinned status: players, whose turn, turn count, rating, lines, veils."""
    active = [p.name + (" (host)" if p.user_id == view.host_id else "") for p in view.players if p.status == "active"]
    state = "ended" if view.status != "open" else "open"
    lines = [
        f"📖 **{view.title}** — {view.mode}, rated {view.rating}, {view.turn_count} turns, {state}",
        f"Players: {', '.join(active) or 'nobody'}",
    ]
    if view.status == "open":
        if view.vote is not None:
            counts = ", ".join(f"{n}: {c}" for n, c in sorted(view.vote.counts.items()))
            closes = int(view.vote.deadline.timestamp())
            lines.append(f"Vote open on {len(view.vote.choices)} AI choices ({counts}); closes <t:{closes}:R>")
        elif view.mode == ROUND_ROBIN:
            lines.append(f"Whose turn: {view.next_player or 'nobody (/story join)'}")
        else:
            lines.append("Whose turn: any player")
    lines.append(f"Lines: {', '.join(view.lines) or 'none'}")
    lines.append(f"Veils: {', '.join(view.veils) or 'none'}")
    if view.status == "open":
        posting = "post here or /story add" if view.take_messages else "/story add"
        lines.append(f"-# /story join · {posting} · /story ai · /story status · /story export")
    return "\n".join(lines)[:MESSAGE_LIMIT]


def story_file(markdown: str) -> discord.File:
    return discord.File(io.BytesIO(markdown.encode()), filename="story.md")


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:story-vote:(?P<set>[0-9]+):(?P<choice>[0-9]+)",
):
    """Vote for one AI choice; the custom_id names the choice set and the choice, so it works after a restart."""

    def __init__(self, choice_set_id: int, choice: int, *, disabled: bool = False, chosen: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Chosen: {choice}" if chosen else f"Vote {choice}",
                style=discord.ButtonStyle.success if chosen else discord.ButtonStyle.primary,
                custom_id=f"storyloom:story-vote:{choice_set_id}:{choice}",
                disabled=disabled,
            )
        )
        self.choice_set_id = choice_set_id
        self.choice = choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> VoteButton:
        return cls(int(match["set"]), int(match["choice"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Story")  # type: ignore[attr-defined]
        await cog.vote_clicked(interaction, self.choice_set_id, self.choice)


def vote_view(choice_set_id: int, choice: int, *, closed: bool = False, chosen: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(choice_set_id, choice, disabled=closed, chosen=chosen))
    return view


class ChoiceSink:
    """One AI choice streamed into its own message in the thread, labelled; refused ones are withdrawn."""

    def __init__(self, channel: Any, label: str, edit_interval_s: float) -> None:
        self.channel = channel
        self.label = label
        self.interval = edit_interval_s
        self.message: discord.Message | None = None
        self.text = ""
        self.footer = ""
        self.refused: str | None = None
        self._last = 0.0

    def content(self, label: str | None = None) -> str:
        return split_for_discord(f"{label or self.label}\n{self.text}", self.footer)[0]

    async def show(self, text: str) -> None:
        now = time.monotonic()
        if self.message is not None and now - self._last < self.interval:
            return
        self._last = now
        preview = f"{self.label}\n{text[: STREAM_PREVIEW_LIMIT - 100]} ▌"  # room for the label
        try:
            if self.message is None:
                self.message = await self.channel.send(preview, allowed_mentions=NO_PINGS)
            else:
                await self.message.edit(content=preview, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.warning("choice stream edit failed: %s", error)

    async def restart(self, note: str) -> None:
        await self.show(note)

    async def deliver(self, text: str, footer: str) -> list[Posted]:
        self.text, self.footer = text, footer
        if self.message is None:
            self.message = await self.channel.send(self.content(), allowed_mentions=NO_PINGS)
        else:
            self.message = await self.message.edit(content=self.content(), allowed_mentions=NO_PINGS)
        posted = [Posted(self.channel.id, self.message.id, "message")]
        for part in split_for_discord(f"{self.label}\n{self.text}", self.footer)[1:]:  # a long choice goes on
            extra = await self.channel.send(part, allowed_mentions=NO_PINGS)
            posted.append(Posted(self.channel.id, extra.id, "message"))
        return posted

    async def refuse(self, message: str, footer: str) -> list[Posted]:
        self.refused = message
        if self.message is not None:
            try:
                await self.message.delete()
            except discord.HTTPException as error:
                log.warning("could not withdraw a refused choice: %s", error)
            self.message = None
        return []
