"""Views shared by the cogs: a pager through the pages of one private answer (`/audit`, `/mine`), and the buttons
under every delivered piece.

The piece buttons are `DynamicItem`s whose custom_id carries the request id (`storyloom:piece:<action>:<request
id>`), so they work after a restart without the bot remembering any view, in any process sharing the database.
A click goes to the Pieces cog.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import discord

from bot.discord.delivery import NO_PINGS, reply

log = logging.getLogger(__name__)

PAGER_TIMEOUT_S = 10 * 60
"""Past this the buttons go (an interaction's token lasts 15 minutes; the edit that removes them needs it)."""

PageText = Callable[[int], Awaitable[tuple[str, int]]]
"""Page `index` → (its text, how many pages there are now)."""


class Pager(discord.ui.View):
    """Previous / Next through the pages of one ephemeral answer; only the member who asked may turn them."""

    def __init__(self, owner_id: int, page_count: int, page_text: PageText, *, not_yours: str) -> None:
        super().__init__(timeout=PAGER_TIMEOUT_S)
        self.owner_id = owner_id
        self.page_count = page_count
        self.page_text = page_text
        self.not_yours = not_yours
        self.index = 0
        self.message: discord.WebhookMessage | None = None
        self._sync()

    @classmethod
    def of(cls, pages: list[str], owner_id: int, *, not_yours: str) -> Pager:
        """A pager over pages known at once, each with its number under it."""

        async def numbered(index: int) -> tuple[str, int]:
            return f"{pages[index]}\n-# page {index + 1} of {len(pages)}", len(pages)

        return cls(owner_id, len(pages), numbered, not_yours=not_yours)

    async def send(self, interaction: discord.Interaction) -> None:
        """The first page as the (deferred) interaction's private answer, with the buttons under it."""
        text, self.page_count = await self.page_text(0)
        self._sync()
        self.message = await interaction.followup.send(
            text, view=self, ephemeral=True, wait=True, allowed_mentions=NO_PINGS
        )

    def _sync(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= self.page_count - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await reply(interaction, self.not_yours)
            return False
        return True

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.index = max(0, min(self.page_count - 1, self.index + step))
        text, self.page_count = await self.page_text(self.index)
        self._sync()
        await interaction.response.edit_message(content=text, view=self, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        try:
            await self.message.edit(view=None, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:  # dismissed, or the token expired
            log.info("could not remove the page buttons: %s", error)


PIECE_ACTIONS = {
    "continue": ("Continue", None, discord.ButtonStyle.primary),
    "retake": ("Another take", None, discord.ButtonStyle.secondary),
    "up": (None, "👍", discord.ButtonStyle.secondary),
    "down": (None, "👎", discord.ButtonStyle.secondary),
}


class PieceButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:piece:(?P<action>continue|retake|up|down):(?P<id>[0-9a-f]{32})",
):
    """Continue, Another take, 👍 or 👎 under one piece; the Pieces cog acts on a click."""

    def __init__(self, action: str, request_id: str) -> None:
        label, emoji, style = PIECE_ACTIONS[action]
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"storyloom:piece:{action}:{request_id}")
        )
        self.action = action
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> PieceButton:
        return cls(match["action"], match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Pieces")  # type: ignore[attr-defined]
        try:
            await cog.clicked(interaction, self.action, self.request_id)
        except Exception:  # a button has no command tree to catch it: the member still gets a short answer
            log.exception("piece button %s on %s failed", self.action, self.request_id)
            try:
                await reply(interaction, "Something went wrong on my side. Please try again.")
            except discord.HTTPException:
                pass


def piece_view(request_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in PIECE_ACTIONS:
        view.add_item(PieceButton(action, request_id))
    return view
