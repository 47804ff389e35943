"""`/story` through the real bot and the loopback fake Discord: a session in its own thread with a pinned status,
turns in order, a blocked turn, a line kept by the output rails, a vote on AI choices with persistent buttons (also
across a restart), the vote deadline timer, and the export as a file."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.config import Settings
from bot.core.app import Core
from bot.discord.bot import StoryloomBot
from bot.engines.openai_engine import OpenAIEngine
from storage.models import StorySession, StoryTurn, utcnow
from tests.fakediscord import FAST_CLIENT_OPTIONS, ClientRejected
from tests.plugins.bot import records

AI_1 = "The lighthouse lamp flickered twice. Somewhere below, a bell rang across the dark water."
AI_2 = "Mira found a second key under the stair. It was warm, as if someone had just held it."
AI_3 = "The fog lifted for a moment. Across the bay, a window lit up in the empty house."
SPIDER = "The keeper opened the door. A huge hairy spider crawled across the floor toward her."
INSULT = "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash."
PREMISE = "Two rivals are stranded in a lighthouse during a storm."


@pytest.fixture
def cy(fake_discord):
    """A third player with no special standing; ask for it before `storyloom` so the bot sees the member."""
    user = fake_discord.add_user("cy")
    fake_discord.guild.add_member(user)
    return user


async def story(fake, subcommand: str, options: dict | None = None, *, user, thread, timeout: float = 15):
    r = await fake.slash("story", options or {}, subcommand=subcommand, user=user, channel=thread)
    await r.wait_done(lambda r: r.acknowledged and done(r), timeout=timeout)
    return r


async def until(predicate, timeout: float = 10.0) -> None:
    """Wait for something that is not a change on the fake Discord (the timer loop's own count)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def done(r) -> bool:
    """Answered: something shown, and no placeholder left thinking (a withdrawn one is deleted)."""
    shown = [m for m in r.messages if not m.deleted]
    return bool(shown) and not any(m.loading for m in shown)


def ephemeral(r) -> str:
    return next(m.content for m in r.messages if m.ephemeral)


async def start_story(fake, **options):
    r = await fake.slash(
        "story", {"title": "The Lighthouse", "premise": PREMISE} | options, subcommand="start", user=fake.alice
    )
    await fake.wait_for(lambda: fake.threads_of(fake.general) and fake.pinned(fake.threads_of(fake.general)[0]), 15)
    await r.wait_done()
    (thread,) = fake.threads_of(fake.general)
    return r, thread


def status_of(fake, thread):
    (status,) = fake.pinned(thread)
    return status


def vote_buttons(fake, thread) -> dict[int, tuple]:
    """Choice number -> (message, custom_id) for each Vote button in the thread."""
    found = {}
    for message in fake.channel_messages(thread):
        for row in message.components:
            for button in row["components"]:
                if button.get("custom_id", "").startswith("storyloom:story-vote:"):
                    found[int(button["custom_id"].rsplit(":", 1)[1])] = (message, button["custom_id"])
    return found


def all_disabled(fake, thread) -> bool:
    return all(b.get("disabled") for m, _ in vote_buttons(fake, thread).values() for row in m.components for b in row["components"])


async def click(fake, thread, choice: int, user):
    message, custom_id = vote_buttons(fake, thread)[choice]
    r = await fake.click(message, custom_id, user=user)
    await r.wait_done()
    return r


async def test_a_three_player_story_from_start_to_export(fake_discord, cy, storyloom, openai_server):
    fake = fake_discord
    openai_server.scripted_replies = [SPIDER, AI_1, AI_2, AI_3]
    r, thread = await start_story(fake, lines="spiders", veils="romance")
    assert thread.name == "The Lighthouse" and thread.id == r.original.id, "the thread opens from the bot's reply"
    status = status_of(fake, thread)
    assert "**The Lighthouse** — round-robin, rated PG-13, 0 turns" in status.content
    assert "Players: alice (host)" in status.content and "Whose turn: alice" in status.content
    assert "Lines: spiders" in status.content and "Veils: romance" in status.content

    for player in (fake.mod, cy):
        joined = await story(fake, "join", user=player, thread=thread)
        assert "joined the story" in joined.original.content and not joined.original.ephemeral
    assert "Players: alice (host), mod, cy" in status_of(fake, thread).content

    out_of_turn = await story(fake, "add", {"text": "Cy grabbed the lantern first."}, user=cy, thread=thread)
    assert ephemeral(out_of_turn) == "It's alice's turn."

    # A line is respected: the AI's continuation about spiders never reaches the thread.
    crossed = await story(fake, "ai", user=fake.alice, thread=thread)
    # The streamed preview of the first sentence counts as "shown" until the refusal replaces it (seen under load).
    await crossed.wait_done(lambda r: any(m.ephemeral for m in r.messages), timeout=15)
    notice = ephemeral(crossed)
    assert "spiders" in notice and "line" in notice
    assert not any("hairy spider" in m.content for m in fake.channel_messages(thread) if not m.deleted)

    first = await story(fake, "add", {"text": "Alice climbed the spiral stairs with the last dry match."}, user=fake.alice, thread=thread)
    assert "last dry match" in first.original.content and "— *alice*" in first.original.content
    assert "Whose turn: mod" in status_of(fake, thread).content and "1 turns" in status_of(fake, thread).content

    blocked = await story(fake, "add", {"text": INSULT}, user=fake.mod, thread=thread)
    reason = ephemeral(blocked)
    assert "can't go into the story" in reason and len(reason) < 200
    assert not any(INSULT in m.content for m in fake.channel_messages(thread))
    second = await story(fake, "add", {"text": "The storm rattled the windows while Sam trimmed the wick."}, user=fake.mod, thread=thread)
    assert "— *mod*" in second.original.content and "Whose turn: cy" in status_of(fake, thread).content

    # cy hands the turn to the AI: three choices, one Vote button each.
    asked = await story(fake, "ai", {"choices": 3, "direction": "toward the bell"}, user=cy, thread=thread, timeout=30)
    assert "3 choices are up for a vote" in asked.original.content
    # A veil is respected: every AI turn is told what may happen only off-screen (the lines rail enforces lines).
    sent = openai_server.chat_requests[-1].body["messages"][-1]["content"]
    assert "off-screen" in sent and "romance" in sent and "spiders" in sent
    buttons = vote_buttons(fake, thread)
    assert sorted(buttons) == [1, 2, 3]
    assert [AI_1 in buttons[1][0].content, AI_2 in buttons[2][0].content, AI_3 in buttons[3][0].content] == [True] * 3
    assert "Vote open on 3 AI choices" in status_of(fake, thread).content

    assert "counted (1 of 3" in ephemeral(await click(fake, thread, 1, fake.alice))
    assert "already voted" in ephemeral(await click(fake, thread, 2, fake.alice)), "one vote per player"
    await click(fake, thread, 1, fake.mod)
    closed = await click(fake, thread, 2, cy)
    assert "Everyone voted: choice 1 is the next turn." in closed.original.content
    await fake.wait_for(lambda: all_disabled(fake, thread))
    assert "3 turns" in status_of(fake, thread).content and "Whose turn: alice" in status_of(fake, thread).content
    with pytest.raises(ClientRejected):  # a closed vote's buttons are disabled
        await click(fake, thread, 3, cy)

    ended = await story(fake, "end", user=fake.alice, thread=thread)
    assert "has ended after 3 turns" in ended.original.content
    exported = await story(fake, "export", user=cy, thread=thread)
    (attachment,) = exported.original.attachments
    markdown = attachment.data.decode()
    assert attachment.filename == "story.md" and markdown.startswith("# The Lighthouse\n")
    assert "— *alice*" in markdown and "— *mod*" in markdown and "— *AI · request " in markdown
    assert markdown.index("last dry match") < markdown.index("trimmed the wick") < markdown.index(AI_1)
    assert AI_2 not in markdown and INSULT not in markdown and "spider" not in markdown.replace("spiders", "")
    assert "*The end.*" in markdown and ", ended" in status_of(fake, thread).content

    turns = await records(storyloom, StoryTurn)
    assert sorted(t.status for t in turns) == ["blocked", "kept", "kept", "kept", "not_chosen", "not_chosen"]
    assert not any(write.could_ping for write in fake.writes)
    fake.assert_clean()


async def test_host_and_moderator_commands_and_refusals(fake_discord, cy, storyloom):
    fake = fake_discord
    _, thread = await start_story(fake, mode="free")
    assert "already running here" in ephemeral(await story(fake, "start", {"title": "Again", "premise": "x"}, user=cy, thread=thread))
    assert "no story running here" in ephemeral(await story(fake, "status", user=cy, thread=fake.general))
    await story(fake, "join", user=cy, thread=thread)
    await story(fake, "add", {"text": "Cy lit the lamp."}, user=cy, thread=thread)
    assert "host or a moderator" in ephemeral(await story(fake, "undo", user=cy, thread=thread))
    assert "was taken back" in (await story(fake, "undo", user=fake.mod, thread=thread)).original.content
    assert "host or a moderator" in ephemeral(await story(fake, "kick", {"member": fake.alice}, user=cy, thread=thread))
    kicked = await story(fake, "kick", {"member": cy}, user=fake.alice, thread=thread)
    assert "cy was removed" in kicked.original.content
    assert "removed you" in ephemeral(await story(fake, "join", user=cy, thread=thread))
    assert "0 turns" in status_of(fake, thread).content and "cy" not in status_of(fake, thread).content.split("\n")[1]
    fake.assert_clean()


async def test_a_vote_closes_at_its_deadline_on_the_timer(tmp_path, fake_discord, cy, default_rails, openai_server):
    fake = fake_discord
    openai_server.scripted_replies = [AI_1, AI_2, AI_3]
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2
    )
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    try:
        core = await Core.start(settings, engine=engine, rails=default_rails)
        bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
        async with fake.run_bot(bot):
            _, thread = await start_story(fake, mode="vote")
            await story(fake, "join", user=cy, thread=thread)
            await story(fake, "ai", user=cy, thread=thread, timeout=30)
            await click(fake, thread, 2, fake.alice)

            cog = bot.get_cog("Story")
            assert cog.timers.is_running()
            cog.service.clock = lambda: utcnow() + timedelta(seconds=301)  # the vote's 5 minutes have passed
            await cog.run_timers()  # what the 15 s loop does
            await fake.wait_for(lambda: any("time is up: choice 2" in m.content for m in fake.channel_messages(thread)))
            await fake.wait_for(lambda: "1 turns" in status_of(fake, thread).content)
            assert "Vote open" not in status_of(fake, thread).content
            await fake.wait_for(lambda: all_disabled(fake, thread))
            with pytest.raises(ClientRejected):
                await click(fake, thread, 1, cy)
        assert not cog.timers.is_running(), "the loop stops with the cog"
        await core.close()
    finally:
        await engine.close()
    fake.assert_clean()


async def test_a_vote_completes_after_a_restart(tmp_path, fake_discord, cy, default_rails, openai_server):
    fake = fake_discord
    openai_server.scripted_replies = [AI_1, AI_2, AI_3]
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2
    )
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    try:
        core = await Core.start(settings, engine=engine, rails=default_rails)
        async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
            _, thread = await start_story(fake, mode="vote")
            await story(fake, "join", user=fake.mod, thread=thread)
            await story(fake, "join", user=cy, thread=thread)
            await story(fake, "ai", user=cy, thread=thread, timeout=30)
            await click(fake, thread, 3, fake.alice)
            await click(fake, thread, 3, fake.mod)
        await core.close()

        core = await Core.start(settings, engine=engine, rails=default_rails)  # a new process, the same database
        async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
            closed = await click(fake, thread, 1, cy)
            assert "Everyone voted: choice 3 is the next turn." in closed.original.content
            await fake.wait_for(lambda: "1 turns" in status_of(fake, thread).content)
            exported = await story(fake, "export", user=cy, thread=thread)
            assert AI_3 in exported.original.attachments[0].data.decode()
        await core.close()
    finally:
        await engine.close()
    fake.assert_clean()


async def test_a_story_started_in_a_thread_is_played_there(fake_discord, storyloom):
    fake = fake_discord
    campfire = await fake.start_thread(fake.general, "Campfire", user=fake.alice)
    r = await story(fake, "start", {"title": "Embers", "premise": "Three friends tell one tale."}, user=fake.alice, thread=campfire)
    assert "starts here" in r.original.content and r.original.channel is campfire
    assert fake.threads_of(fake.general) == [campfire], "no second thread"
    await fake.wait_for(lambda: fake.pinned(campfire))
    assert "**Embers**" in status_of(fake, campfire).content
    assert "Embers" in ephemeral(await story(fake, "status", user=fake.mod, thread=campfire))
    fake.assert_clean()


async def test_plain_messages_in_the_thread_are_turns_with_the_message_content_intent(
    tmp_path, fake_discord, cy, default_rails, openai_server
):
    fake = fake_discord
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2,
        message_content_intent=True,
    )  # fmt: skip
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    try:
        core = await Core.start(settings, engine=engine, rails=default_rails)
        bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
        assert bot.intents.message_content
        async with fake.run_bot(bot):
            _, thread = await start_story(fake, messages=True)
            assert "post here or /story add" in status_of(fake, thread).content
            await story(fake, "join", user=cy, thread=thread)
            bot_messages = len(fake.channel_messages(thread))

            turn = await fake.post_message(thread, fake.alice, "Alice climbed the spiral stairs with the last dry match.")
            await fake.wait_for(lambda: "1 turns" in status_of(fake, thread).content)
            assert "Whose turn: cy" in status_of(fake, thread).content
            [kept] = await records(core, StoryTurn)
            assert (kept.text, kept.author_id, kept.status) == (turn.content, fake.alice.id, "kept")

            early = await fake.post_message(thread, fake.alice, "Alice kept talking out of turn.")
            await fake.wait_for(lambda: any(m.replied_to is early for m in fake.channel_messages(thread)))
            reply = next(m for m in fake.channel_messages(thread) if m.replied_to is early)
            assert reply.author is fake.bot_user and reply.content == "It's cy's turn." and not early.deleted
            assert not any(write.could_ping for write in reply.writes), "the refusal pings nobody"

            await fake.post_message(thread, cy, "/story status")  # a command typed as text: not a turn
            await fake.post_message(fake.general, cy, "Meanwhile, in the general channel.")  # not the session's thread
            await fake.post_message(thread, cy, "The storm rattled the windows while Cy trimmed the wick.")
            await fake.wait_for(lambda: "2 turns" in status_of(fake, thread).content)
            turns = await records(core, StoryTurn)
            assert [t.text for t in turns] == [turn.content, "The storm rattled the windows while Cy trimmed the wick."]
            replies = [m for m in fake.channel_messages(thread) if m.replied_to is not None]
            assert len(replies) == 1 and len(fake.channel_messages(thread)) == bot_messages + 5
        await core.close()
    finally:
        await engine.close()
    assert not any(write.could_ping for write in fake.writes)
    fake.assert_clean()


async def test_a_story_taking_messages_is_refused_without_the_intent(fake_discord, storyloom):
    fake = fake_discord
    r = await fake.slash(
        "story", {"title": "The Lighthouse", "premise": PREMISE, "messages": True}, subcommand="start", user=fake.alice
    )
    await r.wait_done()
    notice = ephemeral(r)
    assert "message content intent" in notice and "STORYLOOM_MESSAGE_CONTENT_INTENT" in notice and len(notice) < 300
    assert fake.threads_of(fake.general) == []
    fake.assert_clean()


async def test_an_idle_round_robin_turn_passes_on_through_the_timer_loop(tmp_path, fake_discord, cy, default_rails, openai_server):
    """The cog's `tasks.loop` (not a direct call) passes an idle turn on: a 10 s timeout, the service's clock moved
    past it, the loop's interval shortened so the test need not wait 15 s. It passes once, not at every tick."""
    fake = fake_discord
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2
    )
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    try:
        core = await Core.start(settings, engine=engine, rails=default_rails)
        bot = StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)
        async with fake.run_bot(bot):
            _, thread = await start_story(fake, timeout=10)
            await story(fake, "join", user=cy, thread=thread)
            assert "Whose turn: alice" in status_of(fake, thread).content
            cog = bot.get_cog("Story")
            cog.service.clock = lambda: utcnow() + timedelta(seconds=11)  # alice has been idle past her 10 s
            cog.timers.change_interval(seconds=0.1)  # wakes the sleeping loop (or sets its pace before its first run)
            before = cog.timers.current_loop
            await fake.wait_for(lambda: any("alice's turn timed out and passed on" in m.content for m in fake.channel_messages(thread)))
            await fake.wait_for(lambda: "Whose turn: cy" in status_of(fake, thread).content)
            await until(lambda: cog.timers.current_loop >= before + 5)  # more ticks: nothing else is due
            timed_out = [m for m in fake.channel_messages(thread) if "timed out" in m.content]
            assert len(timed_out) == 1 and "Whose turn: cy" in status_of(fake, thread).content
            turn = await story(fake, "add", {"text": "Cy caught the lantern as it fell."}, user=cy, thread=thread)
            assert "— *cy*" in turn.original.content
            turns = await records(core, StoryTurn)
            assert [(t.author_name, t.status, t.reason) for t in turns] == [("alice", "skipped", "timeout"), ("cy", "kept", None)]
        await core.close()
    finally:
        await engine.close()
    assert not any(write.could_ping for write in fake.writes)
    fake.assert_clean()


async def test_skip_recap_and_leave_through_discord(fake_discord, cy, storyloom, openai_server):
    """`/story skip` (your own turn; the host passes another's; a player cannot), `/story recap` (streamed, kept as
    the rolling summary), `/story leave` by the host (the host role passes to the longest-standing player)."""
    fake = fake_discord
    recap_text = "So far: Alice climbed to the lamp room while the storm rose, and Cy kept watch below."
    openai_server.scripted_replies = [recap_text]
    _, thread = await start_story(fake)
    await story(fake, "join", user=cy, thread=thread)
    await story(fake, "join", user=fake.mod, thread=thread)
    assert "Players: alice (host), cy, mod" in status_of(fake, thread).content

    assert "Nothing to recap yet." == ephemeral(await story(fake, "recap", user=cy, thread=thread))
    skipped = await story(fake, "skip", user=fake.alice, thread=thread)
    assert skipped.original.content == "alice's turn was skipped." and not skipped.original.ephemeral
    await fake.wait_for(lambda: "Whose turn: cy" in status_of(fake, thread).content)
    await story(fake, "add", {"text": "Cy kept watch below while the storm rose."}, user=cy, thread=thread)
    await fake.wait_for(lambda: "Whose turn: mod" in status_of(fake, thread).content)
    refused = await story(fake, "skip", user=cy, thread=thread)
    assert ephemeral(refused) == "Only the host or a moderator can skip another player's turn."
    passed = await story(fake, "skip", user=fake.alice, thread=thread)
    assert passed.original.content == "mod's turn was skipped."
    await fake.wait_for(lambda: "Whose turn: alice" in status_of(fake, thread).content)

    recap = await story(fake, "recap", user=cy, thread=thread, timeout=30)
    assert recap_text in recap.original.content and "AI-generated by Storyloom" in recap.original.content
    assert "Cy kept watch below" in openai_server.chat_requests[-1].body["messages"][-1]["content"]
    [session] = await records(storyloom, StorySession)
    assert session.summary == recap_text and session.summary_through == 2

    left = await story(fake, "leave", user=fake.alice, thread=thread)
    assert left.original.content == "alice left the story."
    await fake.wait_for(lambda: "Players: cy (host), mod" in status_of(fake, thread).content)
    assert "Whose turn: cy" in status_of(fake, thread).content, "the leaver's turn passed on too"
    assert "Join the story first" in ephemeral(await story(fake, "add", {"text": "Alice again."}, user=fake.alice, thread=thread))
    ended = await story(fake, "end", user=cy, thread=thread)  # cy is the host now
    assert "has ended after 1 turns" in ended.original.content
    turns = await records(storyloom, StoryTurn)
    assert [(t.author_name, t.status) for t in turns] == [("alice", "skipped"), ("cy", "kept"), ("mod", "skipped")]
    assert not any(write.could_ping for write in fake.writes)
    fake.assert_clean()
