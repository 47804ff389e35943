"""`/privacy forget-me` and what happens to delivered messages afterwards, through the real bot and the loopback
fake Discord: the member confirms with a button only they can press, their content is erased and the chain still
verifies; a moderator deleting a delivered message, or a later edit of it, is recorded as a delivery row."""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from storage.chain import ERASED, verify
from storage.models import ChainEntry, Delivery, Generation, ModerationAction, Request
from tests.plugins.bot import REQUEST_ID, records

ALICE_PROMPT = "a lighthouse keeper named Corvina"
MOD_PROMPT = "a clockmaker in Ostrava"
BENIGN = (
    "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass. "
    "Far out, a fishing boat turned toward the light."
)


async def write(fake, user, about: str):
    r = await fake.slash("write", {"kind": "poem", "about": about}, user=user, channel=fake.general)
    await r.wait_done(lambda r: r.original is not None and "AI-generated" in r.original.content, timeout=15)
    return r, REQUEST_ID.search(r.original.content).group(1)


def button(message, label: str) -> str:
    [row] = message.components
    return next(component["custom_id"] for component in row["components"] if component["label"] == label)


async def assert_intact(core) -> None:
    await core.recorder.flush()
    report = await verify(core.database)
    assert report.intact, report.broken


async def test_forget_me_erases_the_members_content_after_they_confirm(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    _, alice_request = await write(fake, fake.alice, ALICE_PROMPT)
    _, mod_request = await write(fake, fake.mod, MOD_PROMPT)

    asked = await fake.slash("privacy", subcommand="forget-me", user=fake.alice, channel=fake.general)
    await asked.wait_done()
    prompt = asked.original
    assert prompt.ephemeral and "cannot be undone" in prompt.content and "digest" in prompt.content

    intruder = await fake.click(prompt, button(prompt, "Erase my data"), user=fake.mod)
    await intruder.wait_done()
    assert any("Only the member who asked" in m.content and m.ephemeral for m in intruder.messages)
    [request] = await records(storyloom, Request, Request.id == alice_request)
    assert request.prompt == ALICE_PROMPT, "someone else's click erases nothing"

    confirmed = await fake.click(prompt, button(prompt, "Erase my data"), user=fake.alice)
    await confirmed.wait_done(lambda r: "Erased your prompts" in prompt.content)

    assert "1 request (1 prompt, 1 generation" in prompt.content
    assert "remains verifiable" in prompt.content and not prompt.components, "the buttons are gone"
    [request] = await records(storyloom, Request, Request.id == alice_request)
    [generation] = await records(storyloom, Generation, Generation.request_id == alice_request)
    assert request.prompt.startswith(ERASED) and request.user_name.startswith(ERASED)
    assert generation.shown_output.startswith(ERASED) and generation.rendered_prompt.startswith(ERASED)
    [untouched] = await records(storyloom, Request, Request.id == mod_request)
    assert untouched.prompt == MOD_PROMPT
    [action] = await records(storyloom, ModerationAction, ModerationAction.action == "erase_user")
    assert (action.user_id, action.guild_id, action.details["user_id"]) == (fake.alice.id, fake.guild.id, fake.alice.id)
    assert await records(storyloom, ChainEntry, ChainEntry.kind == "erasure", ChainEntry.chain == fake.guild.id)
    await assert_intact(storyloom)

    again = await fake.slash("privacy", subcommand="forget-me", user=fake.alice, channel=fake.general)
    await again.wait_done()
    await (await fake.click(again.original, button(again.original, "Erase my data"), user=fake.alice)).wait_done(
        lambda r: "nothing of yours left" in again.original.content
    )
    cancelled = await fake.slash("privacy", subcommand="forget-me", user=fake.mod, channel=fake.general)
    await cancelled.wait_done()
    await (await fake.click(cancelled.original, button(cancelled.original, "Cancel"), user=fake.mod)).wait_done()
    assert cancelled.original.content == "Nothing was erased."
    [untouched] = await records(storyloom, Request, Request.id == mod_request)
    assert untouched.prompt == MOD_PROMPT
    assert all(not write.could_ping for write in fake.writes)
    fake.assert_clean()


async def test_a_moderator_deleting_a_delivered_message_is_recorded(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    first, first_request = await write(fake, fake.alice, "a harbour")
    second, second_request = await write(fake, fake.alice, "a tide")
    third, third_request = await write(fake, fake.alice, "a gull")

    await fake.delete_message(first.original, user=fake.mod)
    await fake.bulk_delete([second.original, third.original], user=fake.mod)

    async def kinds(request_id: str) -> list[str]:
        return [row.kind for row in await records(storyloom, Delivery, Delivery.request_id == request_id)]

    for request_id in (first_request, second_request, third_request):
        for _ in range(100):
            if "deleted" in await kinds(request_id):
                break
            await asyncio.sleep(0.05)
        assert await kinds(request_id) == ["message", "deleted"]
    [deleted] = await records(storyloom, Delivery, Delivery.request_id == first_request, Delivery.kind == "deleted")
    assert (deleted.message_id, deleted.channel_id) == (first.original.id, fake.general.id)
    entries = await records(storyloom, ChainEntry, ChainEntry.record_id == first_request)
    assert len(entries) >= 2, "the request was chained again with its deletion"
    await assert_intact(storyloom)
    fake.assert_clean()


async def test_a_later_edit_of_a_delivered_message_is_recorded(fake_discord, storyloom, openai_server, monkeypatch):
    # The running bot loaded its own copy of the cog module (load_extension): patch that one, by name.
    monkeypatch.setattr(sys.modules["bot.discord.cogs.provenance"], "OWN_EDIT_GRACE_S", 0.3)
    openai_server.scripted_reply = BENIGN
    fake = fake_discord
    r, request_id = await write(fake, fake.alice, "a harbour")
    await asyncio.sleep(0.5)
    assert [row.kind for row in await records(storyloom, Delivery, Delivery.request_id == request_id)] == ["message"], (
        "the pipeline's own streaming and final edits are not later edits"
    )

    # Only the bot's account can edit its messages: here another process holding its token does.
    url = f"{fake.api_base}/channels/{fake.general.id}/messages/{r.original.id}"
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        response = await session.patch(url, json={"content": "edited later"}, headers=headers)
        assert response.status == 200

    for _ in range(100):
        rows = await records(storyloom, Delivery, Delivery.request_id == request_id)
        if len(rows) == 2:
            break
        await asyncio.sleep(0.05)
    assert [(row.kind, row.message_id) for row in rows] == [("message", r.original.id), ("edited", r.original.id)]
    await assert_intact(storyloom)
    fake.assert_clean()
