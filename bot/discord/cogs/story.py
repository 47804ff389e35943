"""Story games in Discord: `/story ...` over `bot.core.story.StoryService`, one session per thread.

`/story start` opens a public thread from its reply (or plays in the thread it is run in) and pins a status
message there, edited as the story changes. Every other command runs in the session's thread. AI turns stream
through the pipeline; several choices are posted one message each with a Vote button, a `DynamicItem` whose
custom_id names the choice set and the choice, so votes keep working after a restart. A timer loop applies the
session timers (idle round-robin turns, votes past their deadline) and posts what happened. No message pings.
"""

from __future__ import annotations

import io
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks
from sqlalchemy import select

from bot.discord.cogs.guardrails import RATING_CHOICES, channel_policy, in_thread, policy_in
from bot.discord.cogs.write import author_of
from bot.core.request import Author, Posted
from bot.discord.delivery import NO_PINGS, InteractionSink, split_for_discord
from bot.discord.moderators import is_moderator
from bot.core.story import MAX_CHOICES, StoryError, StoryService, StoryView, TurnResult
from storage.models import Delivery, StoryMode

if TYPE_CHECKING:
    from bot.discord.bot import StoryloomBot

log = logging.getLogger(__name__)

TIMER_INTERVAL_S = 15.0
NO_MESSAGE_CONTENT = (
    "I can't read plain messages here: the bot runs without the message content intent (the operator switches it "
    "on in the developer portal and sets STORYLOOM_MESSAGE_CONTENT_INTENT=true). Start without messages, and use "
    "/story add."
)
MODE_CHOICES = [app_commands.Choice(name=mode.value, value=mode.value) for mode in StoryMode]


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
        elif view.mode == StoryMode.ROUND_ROBIN:
            lines.append(f"Whose turn: {view.next_player or 'nobody (/story join)'}")
        else:
            lines.append("Whose turn: any player")
    lines.append(f"Lines: {', '.join(view.lines) or 'none'}")
    lines.append(f"Veils: {', '.join(view.veils) or 'none'}")
    if view.status == "open":
        posting = "post here or /story add" if view.take_messages else "/story add"
        lines.append(f"-# /story join · {posting} · /story ai · /story status · /story export")
    return "\n".join(lines)[:2000]


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"storyloom:story-vote:(?P<set>[0-9]+):(?P<choice>[0-9]+)",
):
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
        cog: StoryCog = interaction.client.get_cog("Story")  # type: ignore[attr-defined, assignment]
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
        preview = f"{self.label}\n{text[:1800]} ▌"
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


@app_commands.guild_only()
class StoryCog(commands.GroupCog, name="Story", group_name="story", group_description="Write one story together"):
    def __init__(self, bot: StoryloomBot) -> None:
        self.bot = bot
        self.service = StoryService(bot.core)
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(VoteButton)
        self.timers.start()

    async def cog_unload(self) -> None:
        self.timers.cancel()
        self.bot.remove_dynamic_items(VoteButton)

    # -- helpers -------------------------------------------------------------------------------------------------

    async def _author(self, interaction: discord.Interaction) -> Author:
        return author_of(interaction, await channel_policy(self.bot, interaction))

    async def _moderator(self, interaction: discord.Interaction) -> bool:
        return await is_moderator(self.bot.core, interaction)

    @staticmethod
    async def _say(interaction: discord.Interaction, text: str, *, ephemeral: bool = True, **extra: Any) -> None:
        text = text[:2000]
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=ephemeral, allowed_mentions=NO_PINGS, **extra)
        else:
            await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=NO_PINGS, **extra)

    async def _refuse(self, interaction: discord.Interaction, error: StoryError) -> None:
        """A refusal is short and for the member alone; a public placeholder goes first."""
        if interaction.response.is_done():
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                pass
        await self._say(interaction, str(error))

    async def refresh(self, view: StoryView | None) -> None:
        """Edit the session's pinned status message to match `view`."""
        if view is None or view.status_message_id is None:
            return
        channel = self.bot.messageable(view.thread_id or view.channel_id or 0, None)
        try:
            await channel.get_partial_message(view.status_message_id).edit(content=status_text(view), allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.info("could not update the status of story %s: %s", view.id, error)

    async def _refresh_id(self, session_id: int) -> None:
        await self.refresh(await self.service.view(session_id))

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @app_commands.command(name="start", description="Start a story: a thread for it, you host and play first")
    @app_commands.describe(
        title="The story's title",
        premise="Where it starts, e.g. two rivals stranded in a lighthouse",
        mode="round-robin (default): turns in join order; free: anyone any time; vote: AI turns are voted on",
        rating="At most the channel's rating",
        lines="Topics that must never appear, separated by commas",
        veils="Topics that may happen only off-screen, separated by commas",
        timeout="Seconds before an idle round-robin turn passes on",
        messages="Plain messages in the story's thread are turns too (needs the message content intent)",
    )
    @app_commands.choices(mode=MODE_CHOICES, rating=RATING_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 100],
        premise: app_commands.Range[str, 1, 1000],
        mode: app_commands.Choice[str] | None = None,
        rating: app_commands.Choice[str] | None = None,
        lines: app_commands.Range[str, 0, 500] | None = None,
        veils: app_commands.Range[str, 0, 500] | None = None,
        timeout: app_commands.Range[int, 10, 86400] | None = None,
        messages: bool = False,
    ) -> None:
        if messages and not self.bot.intents.message_content:
            await self._say(interaction, NO_MESSAGE_CONTENT)
            return
        await interaction.response.defer(thinking=True)
        author = await self._author(interaction)
        here_in_thread = in_thread(interaction.channel)
        opened: list[Any] = []

        async def open_thread() -> int:
            reply = await interaction.edit_original_response(
                content=f"📖 **{' '.join(title.split())}** starts in the thread below: /story join there to play.",
                allowed_mentions=NO_PINGS,
            )
            thread = await reply.create_thread(name=" ".join(title.split())[:100], auto_archive_duration=1440)
            opened.append(thread)
            return thread.id

        try:
            view = await self.service.start(
                author, title, premise, mode=mode.value if mode else StoryMode.ROUND_ROBIN,
                rating=rating.value if rating else None, lines=lines, veils=veils, turn_timeout_s=timeout,
                thread_id=interaction.channel_id if here_in_thread else None,
                open_thread=None if here_in_thread else open_thread, take_messages=messages,
            )  # fmt: skip
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        thread = opened[0] if opened else interaction.channel
        status = await thread.send(status_text(view), allowed_mentions=NO_PINGS)
        try:
            await status.pin()
        except discord.HTTPException as error:
            log.info("could not pin the status of story %s: %s", view.id, error)
        await self.service.set_status_message(view.id, status.id)
        if here_in_thread:
            await interaction.edit_original_response(
                content=f"📖 **{view.title}** starts here: /story join to play.", allowed_mentions=NO_PINGS
            )

    @app_commands.command(name="join", description="Join the story in this thread")
    async def join(self, interaction: discord.Interaction) -> None:
        await self._simple(interaction, lambda a: self.service.join(a), "{name} joined the story.")

    @app_commands.command(name="leave", description="Leave the story in this thread")
    async def leave(self, interaction: discord.Interaction) -> None:
        await self._simple(interaction, lambda a: self.service.leave(a), "{name} left the story.")

    @app_commands.command(name="status", description="Players, whose turn it is, an open vote, lines and veils")
    async def status(self, interaction: discord.Interaction) -> None:
        try:
            view = await self.service.status(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._say(interaction, status_text(view))
        await self.refresh(view)

    @app_commands.command(name="kick", description="Remove a player (host or moderator)")
    @app_commands.describe(member="The player to remove")
    async def kick(self, interaction: discord.Interaction, member: discord.Member) -> None:
        moderator = await self._moderator(interaction)
        await self._simple(
            interaction,
            lambda a: self.service.kick(a, member.id, moderator=moderator),
            f"{member.display_name} was removed from the story by {{name}}.",
        )

    async def _simple(self, interaction: discord.Interaction, call: Any, said: str) -> None:
        try:
            view = await call(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._say(interaction, said.format(name=interaction.user.display_name), ephemeral=False)
        await self.refresh(view)

    @app_commands.command(name="end", description="End the story and post it (host or moderator)")
    async def end(self, interaction: discord.Interaction) -> None:
        author = await self._author(interaction)
        try:
            view = await self.service.end(author, moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self.refresh(view)
        markdown = await self.service.export(session_id=view.id)
        await self._say(
            interaction, (f"{view.note}\n" if view.note else "") + f"📖 **{view.title}** has ended after {view.turn_count} turns. The story:",
            ephemeral=False, file=_story_file(markdown),
        )  # fmt: skip

    @app_commands.command(name="export", description="The story so far as a Markdown file")
    async def export(self, interaction: discord.Interaction) -> None:
        try:
            markdown = await self.service.export(await self._author(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._say(interaction, "The story so far:", ephemeral=False, file=_story_file(markdown))

    # -- turns ---------------------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Write your turn")
    @app_commands.describe(text="Your turn: a few sentences")
    async def add(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 1500]) -> None:
        await interaction.response.defer(thinking=True)  # the rails take a moment
        try:
            result = await self.service.add_turn(await self._author(interaction), text)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        if result.status != "kept" or result.turn is None:
            await self._refuse(interaction, StoryError(result.message))
            return
        await interaction.edit_original_response(
            content=split_for_discord(result.turn.text, f"— *{result.turn.author_name}*")[0], allowed_mentions=NO_PINGS
        )
        await self._refresh_here(interaction)

    @app_commands.command(name="skip", description="Pass the turn (yours, or the host passes anyone's)")
    async def skip(self, interaction: discord.Interaction) -> None:
        try:
            result = await self.service.skip(await self._author(interaction), moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._say(interaction, result.message, ephemeral=False)
        await self._refresh_here(interaction)

    @app_commands.command(name="undo", description="Take back the latest turn (host or moderator)")
    async def undo(self, interaction: discord.Interaction) -> None:
        try:
            result = await self.service.undo(await self._author(interaction), moderator=await self._moderator(interaction))
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._say(interaction, result.message, ephemeral=False)
        await self._refresh_here(interaction)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A member's plain message in a session thread that takes messages is their turn, by `/story add`'s rules.
        A refusal is a short reply that pings nobody; the message stays. Bots, commands and other places are ignored."""
        channel = message.channel
        if message.author.bot or message.guild is None or not in_thread(channel):
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        text = message.content.strip()
        addressed = text.startswith("<@") and self.bot.user in message.mentions
        if not text or text.startswith(("/", "!")) or addressed:
            return  # no content (no intent, or only attachments), or meant as a command
        if not await self.service.takes_messages(message.guild.id, channel.id):
            return
        policy = await policy_in(self.bot, message.guild.id if message.guild else None, message.channel, message.channel.id)
        author = Author(
            interface="discord", user_id=message.author.id, user_name=str(message.author),
            guild_id=message.guild.id, channel_id=channel.id, policy=policy,
        )  # fmt: skip
        try:
            result = await self.service.add_turn(author, text)
            refusal = None if result.status == "kept" else result.message
        except StoryError as error:
            refusal = str(error)
        if refusal is not None:
            try:
                await message.reply(refusal[:300], allowed_mentions=NO_PINGS, mention_author=False)
            except discord.HTTPException as error:
                log.info("could not answer a refused story message: %s", error)
            return
        try:
            await self.refresh(await self.service.status(author))
        except StoryError:
            pass

    async def _refresh_here(self, interaction: discord.Interaction) -> None:
        try:
            view = await self.service.status(await self._author(interaction))
        except StoryError:
            return
        await self.refresh(view)

    @app_commands.command(name="ai", description="An AI turn; several choices go to a vote")
    @app_commands.describe(choices="How many continuations to choose from (1-3)", direction="Where it should go")
    async def ai(
        self,
        interaction: discord.Interaction,
        choices: app_commands.Range[int, 1, MAX_CHOICES] | None = None,
        direction: app_commands.Range[str, 0, 300] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        author = await self._author(interaction)
        moderator = await self._moderator(interaction)
        try:
            count = self.service.choice_count((await self.service.status(author)).mode, choices)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        interval = self.bot.core.settings.stream_edit_interval_s
        sinks: list[ChoiceSink] = []
        thread = interaction.channel

        def sink_for(index: int) -> Any:
            if count == 1:
                return InteractionSink(interaction, interval)
            sinks.append(ChoiceSink(thread, f"**Choice {index}**", interval))
            return sinks[-1]

        try:
            result = await self.service.ai_turn(author, count, direction, moderator=moderator, sink_for=sink_for)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        if count == 1:  # the turn streamed into the reply (or its refusal went to the member alone)
            await self._refresh_here(interaction)
            return
        delivered = [sink for sink in sinks if sink.message is not None]
        if result.kept is not None:  # only one choice passed: it is the turn
            for sink in delivered:
                await sink.message.edit(content=sink.content("**AI turn**"), allowed_mentions=NO_PINGS)
            await interaction.edit_original_response(content=result.message, allowed_mentions=NO_PINGS)
        elif result.choices:
            view = await self.service.status(author)
            set_id = view.vote.choice_set_id if view.vote is not None else 0
            for choice in result.choices:  # matched by request: a choice the rails refused leaves no message
                sink = next((sink for sink in delivered if f"`{choice.request_id}`" in sink.footer), None)
                if sink is None or sink.message is None or choice.choice_index is None:
                    continue
                await sink.message.edit(
                    content=sink.content(f"**Choice {choice.choice_index}**"),
                    view=vote_view(set_id, choice.choice_index),
                    allowed_mentions=NO_PINGS,
                )
            closes = f" The vote closes <t:{int(view.vote.deadline.timestamp())}:R>." if view.vote else ""
            await interaction.edit_original_response(
                content=f"{len(result.choices)} choices are up for a vote: press Vote under the one you want "
                f"(one vote each).{closes}",
                allowed_mentions=NO_PINGS,
            )
        else:
            await self._refuse(interaction, StoryError(result.message[:300]))
        await self._refresh_here(interaction)

    @app_commands.command(name="recap", description="An AI summary of the story so far")
    async def recap(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        sink = InteractionSink(interaction, self.bot.core.settings.stream_edit_interval_s)
        try:
            await self.service.recap(await self._author(interaction), sink)
        except StoryError as error:
            await self._refuse(interaction, error)

    @app_commands.command(name="vote", description="Vote for an AI choice, or close the vote (host or moderator)")
    @app_commands.describe(choice="The choice's number", close="Close the vote now (host or moderator)")
    async def vote(
        self,
        interaction: discord.Interaction,
        choice: app_commands.Range[int, 1, MAX_CHOICES] | None = None,
        close: bool = False,
    ) -> None:
        author = await self._author(interaction)
        try:
            before = await self.service.status(author)
            if close:
                result = await self.service.close_vote(author, moderator=await self._moderator(interaction))
            elif choice is None:
                raise StoryError("Give a choice's number, or close:True to close the vote.")
            else:
                result = await self.service.vote(author, choice)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._said_vote(interaction, before, result)

    # -- votes ---------------------------------------------------------------------------------------------------

    async def vote_clicked(self, interaction: discord.Interaction, choice_set_id: int, choice: int) -> None:
        author = await self._author(interaction)
        try:
            before = await self.service.status(author)
            if before.vote is None or before.vote.choice_set_id != choice_set_id:
                raise StoryError("That vote has closed.")
            result = await self.service.vote(author, choice)
        except StoryError as error:
            await self._refuse(interaction, error)
            return
        await self._said_vote(interaction, before, result)

    async def _said_vote(self, interaction: discord.Interaction, before: StoryView, result: Any) -> None:
        await self._say(interaction, result.message, ephemeral=not result.closed)
        if result.closed and before.vote is not None and result.chosen is not None:
            await self._close_buttons(before, result.chosen.choice_index)
        await self.refresh(await self.service.view(before.id))

    async def _close_buttons(self, before: StoryView, chosen: int | None) -> None:
        """Disable the closed vote's buttons (the messages the pipeline recorded for each choice)."""
        assert before.vote is not None
        by_request = {c.request_id: c.choice_index for c in before.vote.choices}
        await self.bot.core.recorder.flush()
        async with self.bot.core.database.connect() as connection:
            rows = (
                await connection.execute(
                    select(Delivery.request_id, Delivery.channel_id, Delivery.message_id).where(
                        Delivery.request_id.in_([r for r in by_request if r]), Delivery.kind == "message"
                    )
                )
            ).all()
        first: dict[str, Any] = {}
        for row in sorted(rows, key=lambda row: row.message_id or 0):  # the button sits on a choice's first message
            first.setdefault(row.request_id, row)
        for row in first.values():
            index = by_request[row.request_id]
            channel = self.bot.messageable(row.channel_id, None)
            try:
                await channel.get_partial_message(row.message_id).edit(
                    view=vote_view(before.vote.choice_set_id, index or 0, closed=True, chosen=index == chosen)
                )
            except discord.HTTPException as error:
                log.info("could not close vote buttons: %s", error)

    # -- timers --------------------------------------------------------------------------------------------------

    @tasks.loop(seconds=TIMER_INTERVAL_S)
    async def timers(self) -> None:
        await self.run_timers()

    @timers.before_loop
    async def _before_timers(self) -> None:
        await self.bot.wait_until_ready()

    @timers.error
    async def _timers_failed(self, error: BaseException) -> None:
        log.exception("story timers failed", exc_info=error)

    async def run_timers(self) -> None:
        """Apply due timers: an idle round-robin turn passes on, a vote past its deadline closes. Posts the outcome."""
        for session_id in await self.service.due():
            before = await self.service.view(session_id)
            try:
                result = await self.service.expire(session_id)
            except Exception:  # one broken session must not stop the others
                log.exception("could not expire story %s", session_id)
                continue
            if result is None or before is None:
                continue
            await self._announce(before, result)
            await self._refresh_id(session_id)

    async def _announce(self, before: StoryView, result: TurnResult) -> None:
        channel = self.bot.messageable(before.thread_id or before.channel_id or 0, None)
        try:
            await channel.send(result.message, allowed_mentions=NO_PINGS)
        except discord.HTTPException as error:
            log.info("could not post a timer's outcome for story %s: %s", before.id, error)
        if before.vote is not None and result.turn is not None and result.turn.choice_index is not None:
            await self._close_buttons(before, result.turn.choice_index)


def _story_file(markdown: str) -> discord.File:
    return discord.File(io.BytesIO(markdown.encode()), filename="story.md")


async def setup(bot: StoryloomBot) -> None:
    await bot.add_cog(StoryCog(bot))
