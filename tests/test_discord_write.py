"""`/write` and `/continue` through a real discord.py client connected to the loopback fake Discord."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.core.app import Core
from bot.discord.bot import StoryloomBot
from storage.models import Delivery, Generation, Request, Verdict
from tests.fakediscord import FAST_CLIENT_OPTIONS
from tests.plugins.bot import REQUEST_ID, records

BENIGN = (
    "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass. "
    "Far out, a fishing boat turned toward the light."
)
def no_pings(fake) -> bool:
    return all(not write.could_ping for write in fake.writes)


async def test_write_is_deferred_streamed_delivered_and_recorded(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = BENIGN
    openai_server.token_delay_s = 0.02
    fake = fake_discord

    r = await fake.slash("write", {"kind": "poem", "about": "a lighthouse keeper"}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)

    assert r.deferred and r.callback.delay < 1.0
    streamed = [edit.content for edit in r.edits if edit.content.endswith("▌")]
    assert streamed, "text should stream into the reply before it is complete"
    assert all(BENIGN.startswith(text.removesuffix(" ▌")) for text in streamed), "only checked text is shown"
    final = r.original.content
    assert final.startswith(BENIGN) and not final.endswith("▌")
    assert no_pings(fake)
    fake.assert_clean()

    request_id = REQUEST_ID.search(final).group(1)
    [request] = await records(storyloom, Request, Request.id == request_id)
    assert (request.status, request.interface, request.user_id, request.guild_id, request.channel_id) == (
        "delivered", "discord", fake.alice.id, fake.guild.id, fake.general.id,
    )
    [generation] = await records(storyloom, Generation, Generation.request_id == request_id)
    assert generation.shown_output == BENIGN
    verdicts = await records(storyloom, Verdict, Verdict.request_id == request_id)
    assert {(v.stage, v.decision) for v in verdicts} == {("input", "pass"), ("output", "pass")}
    [delivery] = await records(storyloom, Delivery, Delivery.request_id == request_id)
    assert delivery.message_id == r.original.id


async def test_a_toxic_output_is_withdrawn_and_the_author_told_privately(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = (
        "The keeper climbed the stairs at dusk. "
        "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash. "
        + "The sea rolled on. " * 30
    )
    fake = fake_discord
    r = await fake.slash("write", {"kind": "story", "about": "a lighthouse keeper"}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: any(m.ephemeral for m in r.followups), timeout=15)

    notice = next(m for m in r.followups if m.ephemeral)
    assert "stopped writing" in notice.content
    assert r.original.deleted, "the public placeholder and any streamed text are removed"
    assert not any("idiot" in write.content for write in fake.writes)
    assert no_pings(fake)
    fake.assert_clean()
    request_id = REQUEST_ID.search(notice.content).group(1)
    [request] = await records(storyloom, Request, Request.id == request_id)
    assert request.status == "blocked"


@pytest.mark.parametrize(
    ("about", "reason"),
    [("\u200b" * 400, "invisible"), ("y" * 1600, "too_long")],
)
async def test_bad_prompts_are_refused_privately_and_recorded(fake_discord, storyloom, about, reason):
    fake = fake_discord
    r = await fake.slash("write", {"kind": "poem", "about": about}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: any(m.ephemeral for m in r.followups))
    assert len(next(m for m in r.followups if m.ephemeral).content) < 300
    fake.assert_clean()
    [request] = await records(storyloom, Request, Request.user_id == fake.alice.id)
    assert (request.status, request.status_reason) == ("rejected", reason)


async def test_mass_mentions_in_prompt_and_output_never_ping(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = "Hear me @everyone and @here: the storm is coming <@123456789012345678>."
    fake = fake_discord
    r = await fake.slash("write", {"kind": "poem", "about": "@everyone a storm"}, user=fake.alice, channel=fake.general)
    # Shown or stopped by the rails (the toxicity head scores this mention-heavy line at its threshold: a known false
    # block, docs/guardrail-judgement.md), nothing may ping.
    await r.wait_done(lambda r: any("Storyloom · request" in m.content for m in r.messages), timeout=15)
    assert no_pings(fake)
    assert all(write.allowed_mentions == {"parse": []} or write.action == "delete" for write in fake.writes)
    fake.assert_clean()


async def test_long_output_is_split_under_the_limit(fake_discord, storyloom, openai_server):
    paragraph = "The tide came in over the black rocks and the gulls cried above the harbour wall. " * 12
    openai_server.scripted_reply = (paragraph.strip() + "\n\n") * 4
    openai_server.token_delay_s = 0.0
    fake = fake_discord
    r = await fake.slash(
        "write", {"kind": "story", "about": "the tide", "length": "long"}, user=fake.alice, channel=fake.general
    )
    await r.wait_done(lambda r: any("AI-generated" in m.content for m in r.messages), timeout=20)
    assert len(r.messages) >= 2
    assert all(len(m.content) <= 2000 for m in r.messages)
    assert "AI-generated" in r.messages[-1].content
    fake.assert_clean()
    request_id = REQUEST_ID.search(r.messages[-1].content).group(1)
    deliveries = await records(storyloom, Delivery, Delivery.request_id == request_id)
    assert sorted(d.message_id for d in deliveries) == sorted(m.id for m in r.messages)


async def test_continue_picks_up_the_authors_last_piece_or_a_linked_one(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    first = await fake.slash("write", {"kind": "poem", "about": "a lighthouse"}, user=fake.alice, channel=fake.general)
    await first.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)
    first_id = REQUEST_ID.search(first.original.content).group(1)

    again = await fake.slash("continue", {"direction": "a storm arrives"}, user=fake.alice, channel=fake.general)
    await again.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)
    link = f"https://discord.com/channels/{fake.guild.id}/{fake.general.id}/{first.original.id}"
    other = await fake.slash("continue", {"message": link}, user=fake.mod, channel=fake.general)
    await other.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)

    continued = await records(storyloom, Request, Request.command == "continue")
    assert [request.parent_request_id for request in continued] == [first_id, first_id]
    assert BENIGN[-40:] in openai_server.chat_requests[-1].body["messages"][-1]["content"]
    fake.assert_clean()


async def test_continue_with_nothing_to_continue_says_so(fake_discord, storyloom):
    fake = fake_discord
    r = await fake.slash("continue", {}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: any(m.ephemeral for m in r.followups))
    assert "nothing of yours to continue" in next(m for m in r.followups if m.ephemeral).content
    fake.assert_clean()


@pytest.mark.slow
async def test_write_on_the_embedded_model_end_to_end(tmp_path, fake_discord, default_rails, smol_engine):
    """The default engine (SmolLM2 on transformers) answers the README's example through Discord."""
    settings = Settings(data_dir=tmp_path, stream_edit_interval_s=0.5)
    core = await Core.start(settings, engine=smol_engine, rails=default_rails)
    fake = fake_discord
    async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
        r = await fake.slash(
            "write", {"kind": "poem", "about": "a lighthouse keeper", "length": "short"}, user=fake.alice, channel=fake.general
        )
        await r.wait_done(lambda r: any("AI-generated" in m.content or m.ephemeral for m in r.messages), timeout=120)
    assert r.callback.delay < 1.0
    fake.assert_clean()
    assert no_pings(fake)
    request_id = REQUEST_ID.search(r.messages[-1].content).group(1)
    [request] = await records(core, Request, Request.id == request_id)
    [generation] = await records(core, Generation, Generation.request_id == request_id)
    await core.close()
    # A 135M model can write something the rail declines; either way the request ends recorded and explained.
    assert request.status in ("delivered", "blocked")
    assert generation.engine == "transformers" and generation.raw_output
    if request.status == "delivered":
        assert generation.output_tokens > 0
        assert generation.shown_output.strip()[:1500] in "\n".join(m.content for m in r.messages)
    else:  # stopped mid-stream: the engine request was cancelled, so there is no token count
        assert generation.finish_reason == "cancelled" or generation.output_tokens > 0


async def test_the_bot_token_reaches_neither_the_logs_nor_the_database(
    fake_discord, storyloom, openai_server, caplog, tmp_path
):
    import logging

    caplog.set_level(logging.DEBUG)
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    r = await fake.slash("write", {"kind": "poem", "about": "a lighthouse"}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)
    await storyloom.recorder.flush()
    assert fake.token not in caplog.text
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("storyloom.sqlite3*"))
    assert stored and fake.token.encode() not in stored


async def test_continue_a_members_own_message_checks_it_like_a_prompt(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    own = await fake.post_message(fake.general, fake.alice, "The lighthouse had been dark for eleven winters.")
    link = f"https://discord.com/channels/{fake.guild.id}/{fake.general.id}/{own.id}"
    r = await fake.slash("continue", {"message": link}, user=fake.alice, channel=fake.general)
    await r.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)
    request_id = REQUEST_ID.search(r.original.content).group(1)
    verdicts = await records(storyloom, Verdict, Verdict.request_id == request_id, Verdict.stage == "input")
    assert {(v.rail, v.decision) for v in verdicts} == {
        ("language", "pass"), ("toxicity", "pass"), ("injection", "pass"), ("dangerous", "pass")
    }
    assert "eleven winters" in openai_server.chat_requests[-1].body["messages"][-1]["content"]

    missing = await fake.slash("continue", {"message": "123456789012345678"}, user=fake.alice, channel=fake.general)
    await missing.wait_done(lambda r: any(m.ephemeral for m in r.followups))
    assert "can't find that message" in next(m for m in missing.followups if m.ephemeral).content
    assert [v.kind for v in fake.violations] == ["unknown_message"], "looking the message up is the only miss"
