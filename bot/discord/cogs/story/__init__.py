"""Story games in Discord: `/story ...` over `bot.core.story.StoryService`, one session per thread.

`/story start` opens a public thread from its reply (or plays in the thread it is run in) and pins a status
message there, edited as the story changes. Every other command runs in the session's thread. AI turns stream
through the pipeline; several choices are posted one message each with a Vote button, a `DynamicItem` whose
custom_id names the choice set and the choice, so votes keep working after a restart. A timer loop applies the
session timers (idle round-robin turns, votes past their deadline) and posts what happened. No message pings.

The cog is assembled from mixins, one per part of the game: lifecycle.py (start to end), turns.py (members' and
the AI's turns), votes.py (votes and timers); base.py holds what they share, views.py what they show.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from bot.core.story import StoryService

from .lifecycle import LifecycleMixin
from .turns import TurnsMixin
from .views import VoteButton
from .votes import VotesMixin

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot


@app_commands.guild_only()
class StoryCog(
    VotesMixin,
    TurnsMixin,
    LifecycleMixin,  # last of the mixins, first in the command list (discord.py walks the bases in reverse)
    commands.GroupCog,
    name="Story",
    group_name="story",
    group_description="Write one story together",
):
    """`/story`: one shared story per thread."""

    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        super().__init__()

    @cached_property
    def service(self) -> StoryService:  # type: ignore[override]
        """The game's rules over the bot's core (made at first use: the cog is also built to list its commands)."""
        return StoryService(self.bot.core)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(VoteButton)
        self.timers.start()

    async def cog_unload(self) -> None:
        self.timers.cancel()
        self.bot.remove_dynamic_items(VoteButton)


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(StoryCog(bot))
