"""`/audit` and the "Provenance" context menu through the real bot and the loopback fake Discord: cards for a
delivered and a blocked output, a member's requests, flagged ones, stats, exports as attachments, pages, and
isolation between two guilds (recorded), members without the permission refused, the moderator role admitted."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.audit.commands import NOT_FOUND
from guardrails.modeling.toxicity import ToxicityHead
from storage.models import ModerationAction
from tests.fakediscord import ClientRejected, Perm
from tests.plugins.bot import REQUEST_ID

BENIGN = (
    "The keeper climbed the stairs at dusk. He trimmed the wick and wiped the salt from the glass. "
    "Far out, a fishing boat turned toward the light."
)
INSULT = "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash."
TOXIC = f"The keeper climbed the stairs at dusk. {INSULT} " + "The sea rolled on. " * 5
LONG = " ".join(
    f"Night {n} passed over the harbour while the keeper counted the ships that came home through the fog, "
    "and every one of them carried lanterns that swung like small patient moons above the water."
    for n in range(1, 16)
)


@pytest.fixture
def elsewhere(fake_discord):
    """A second guild (ask for it before `storyloom`): its own moderator, and alice as a member there too."""
    fake = fake_discord
    guild = fake.add_guild("Elsewhere", owner=fake.owner)
    keepers = guild.add_role("Keepers", Perm.MANAGE_MESSAGES)
    lobby = guild.add_channel("lobby")
    moderator = fake.add_user("othermod")
    guild.add_member(fake.alice)
    guild.add_member(moderator, keepers)
    return SimpleNamespace(guild=guild, lobby=lobby, mod=moderator)


@pytest.fixture
def helper(fake_discord):
    """A member holding a role with no permissions at all: the server's moderator role, once it is set."""
    fake = fake_discord
    role = fake.guild.add_role("Story helpers")
    user = fake.add_user("helper")
    fake.guild.add_member(user, role)
    return SimpleNamespace(user=user, role=role)


async def write(fake, reply_text: str, openai_server, *, user=None, channel=None):
    openai_server.scripted_reply = reply_text
    r = await fake.slash("write", {"kind": "story", "about": "a lighthouse"}, user=user or fake.alice, channel=channel or fake.general)
    await r.wait_done(lambda r: any("Storyloom · request" in m.content for m in r.messages), timeout=15)
    return r


async def audit(fake, subcommand: str, options: dict | None = None, *, user=None, channel=None, **extra):
    r = await fake.slash("audit", options or {}, subcommand=subcommand, user=user or fake.mod, channel=channel or fake.general, **extra)
    await r.wait_done(lambda r: r.original is not None and not r.original.loading)
    return r


def button(message, label: str) -> dict:
    return next(c for row in message.components for c in row["components"] if c.get("label") == label)


async def whole_card(fake, r) -> str:
    """Every page of a card, turned with its Next button (a card longer than a message is paged)."""
    page, pages = r.original, [r.original.content]
    while "-# page " in page.content and not button(page, "Next").get("disabled"):
        turned = await fake.click(page, button(page, "Next")["custom_id"], user=fake.mod)
        await turned.wait_done()
        pages.append(page.content)
    return "\n".join(pages)


async def actions(core) -> list:
    await core.recorder.flush()
    async with core.database.connect() as connection:
        rows = (await connection.execute(select(ModerationAction).order_by(ModerationAction.id))).all()
    return [row for row in rows if row.action.startswith("audit")]


def private(r) -> None:
    assert r.original.ephemeral and not r.original.pinged, "audit answers are for the moderator alone, pinging no one"
    assert r.writes and not any(write.could_ping for write in r.writes)


async def test_a_delivered_outputs_card_by_link_and_by_context_menu(fake_discord, storyloom, openai_server):
    fake = fake_discord
    written = await write(fake, BENIGN, openai_server)
    delivered = written.original
    request_id = REQUEST_ID.search(delivered.content).group(1)

    link = f"https://discord.com/channels/{fake.guild.id}/{fake.general.id}/{delivered.id}"
    r = await audit(fake, "message", {"message": link})
    card = r.original.content
    private(r)
    whole = await whole_card(fake, r)
    for expected in (
        f"request `{request_id}` · **delivered**", f"Asked by <@{fake.alice.id}>", f"<#{fake.general.id}>",
        "> a lighthouse", "openai", "seed", "temperature", "input` toxicity/", "output#0` toxicity/",
        "misinformation/", "Policy hash: `", f"message https://discord.com/channels/{fake.guild.id}/{fake.general.id}/{delivered.id}",
        "Chain: entry", "unfiltered: the same as shown", "Shown (",
    ):  # fmt: skip
        assert expected in whole, expected
    assert BENIGN[:60] in card and fake.alice.id not in r.original.pinged.users

    menu = await fake.message_command("Provenance", delivered, user=fake.mod)
    await menu.wait_done(lambda r: r.original is not None and not r.original.loading)
    assert menu.original.ephemeral and menu.original.content == card, "the context menu gives the same card"
    with pytest.raises(ClientRejected):  # hidden from members by default_permissions
        await fake.message_command("Provenance", delivered, user=fake.alice)

    recorded = await actions(storyloom)
    assert [(a.action, a.details["command"], a.details["request_id"], a.user_id) for a in recorded] == [
        ("audit_query", "message", request_id, fake.mod.id), ("audit_query", "message", request_id, fake.mod.id),
    ]  # fmt: skip
    fake.assert_clean()


async def test_a_blocked_outputs_card_by_its_request_id(fake_discord, storyloom, openai_server):
    fake = fake_discord
    written = await write(fake, TOXIC, openai_server)
    notice = next(m for m in written.messages if m.ephemeral)
    request_id = REQUEST_ID.search(notice.content).group(1)
    r = await audit(fake, "message", {"message": request_id})
    card = r.original.content
    private(r)
    assert f"request `{request_id}` · **blocked**" in card and "Why blocked: output toxicity:" in card
    whole = await whole_card(fake, r)
    shipped = ToxicityHead.load().thresholds["toxicity"]
    assert "**block**" in whole and INSULT[:40] in whole and f"/ {shipped:.2f}" in whole
    assert "Shown (" in card and "Model output, unfiltered" in card, "what was shown and what the model wrote"
    assert "notice https://discord.com/channels/" in whole  # two pieces (the second draw): the link is on page 2
    fake.assert_clean()


async def test_user_flagged_and_stats(fake_discord, storyloom, openai_server):
    fake = fake_discord
    delivered = REQUEST_ID.search((await write(fake, BENIGN, openai_server)).original.content).group(1)
    toxic = await write(fake, TOXIC, openai_server)
    blocked = REQUEST_ID.search(next(m for m in toxic.messages if m.ephemeral).content).group(1)

    mine = (await audit(fake, "user", {"member": fake.alice, "since": "24h"})).original.content
    assert "2 requests" in mine and mine.index(blocked[:12]) < mine.index(delivered[:12]), "newest first"
    assert f"Requests by <@{fake.alice.id}>" in mine
    nobody = (await audit(fake, "user", {"member": fake.mod})).original.content
    assert "0 requests" in nobody and "nothing recorded" in nobody

    flagged = (await audit(fake, "flagged", {})).original.content
    assert blocked[:12] in flagged and delivered[:12] not in flagged and "toxicity block" in flagged
    insults = (await audit(fake, "flagged", {"category": "Insult", "since": "7d"})).original.content
    assert "Flagged requests (insult)" in insults
    assert "0 requests" in (await audit(fake, "flagged", {"category": "threat"})).original.content

    shown = (await audit(fake, "stats", {"since": "7d"})).original.content
    assert "Requests: 2 from 1 member" in shown and "delivered 1" in shown and "blocked 1" in shown
    # two toxicity blocks: the model's insult at "you", drawn twice (the second draw a quiet prompt earns)
    assert "toxicity: block 2" in shown and "Top categories (not passed):" in shown

    refused = (await audit(fake, "stats", {"since": "last tuesday"})).original.content
    assert "not a time I understand" in refused
    assert [a.details["command"] for a in await actions(storyloom)] == ["user", "user", "flagged", "flagged", "flagged", "stats"]
    fake.assert_clean()


async def test_exports_arrive_as_attachments(fake_discord, storyloom, openai_server):
    fake = fake_discord
    await write(fake, BENIGN, openai_server)
    await write(fake, TOXIC, openai_server)

    r = await audit(fake, "export", {})
    private(r)
    (attachment,) = r.original.attachments
    assert attachment.filename.endswith(".csv") and "2 records" in r.original.content
    rows = list(csv.DictReader(io.StringIO(attachment.data.decode())))
    assert sorted(row["status"] for row in rows) == ["blocked", "delivered"]
    assert {row["guild_id"] for row in rows} == {str(fake.guild.id)}

    r = await audit(fake, "export", {"format": "jsonl", "since": "1h"})
    lines = [json.loads(line) for line in r.original.attachments[0].data.decode().splitlines()]
    assert len(lines) == 2 and all(line["verdicts"] for line in lines)

    r = await audit(fake, "export", {"format": "prov-json"})
    (attachment,) = r.original.attachments
    document = json.loads(attachment.data)
    assert attachment.filename.endswith(".prov.json")
    assert {"entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith", "wasAttributedTo"} <= set(document)
    assert f"storyloom:member_{fake.alice.id}" in document["agent"]
    fake.assert_clean()


async def test_a_long_card_pages_for_its_moderator_only(fake_discord, storyloom, openai_server):
    fake = fake_discord
    written = await write(fake, LONG, openai_server)
    delivered = next(m for m in written.messages if "AI-generated" in m.content)
    r = await audit(fake, "message", {"message": str(written.original.id)})
    page = r.original
    pages = int(page.content.rsplit(" of ", 1)[1])
    assert pages >= 2 and page.content.endswith(f"-# page 1 of {pages}") and all(len(w.content) <= 2000 for w in r.writes)
    assert page.ephemeral and not any(write.could_ping for write in r.writes)
    assert button(page, "Previous").get("disabled") and not button(page, "Next").get("disabled")
    first = page.content

    turned = await fake.click(page, button(page, "Next")["custom_id"], user=fake.mod)
    await turned.wait_done()
    assert turned.callback.type == 7 and page.content != first and f"page 2 of {pages}" in page.content
    assert not button(page, "Previous").get("disabled")

    someone_else = await fake.click(page, button(page, "Previous")["custom_id"], user=fake.alice)
    await someone_else.wait_done()
    assert "Only the moderator who asked" in someone_else.original.content and someone_else.original.ephemeral
    assert f"page 2 of {pages}" in page.content, "unchanged by someone else's click"

    back = await fake.click(page, button(page, "Previous")["custom_id"], user=fake.mod)
    await back.wait_done()
    assert page.content == first and button(page, "Previous").get("disabled")
    for _ in range(pages - 1):
        turned = await fake.click(page, button(page, "Next")["custom_id"], user=fake.mod)
        await turned.wait_done()
    assert page.content.endswith(f"page {pages} of {pages}") and button(page, "Next").get("disabled")
    assert f"/{delivered.id}" in page.content, "the last page ends with the messages and the chain"
    fake.assert_clean()


async def test_guilds_never_see_each_others_records_and_probes_are_recorded(
    fake_discord, elsewhere, storyloom, openai_server
):
    fake = fake_discord
    theirs = await write(fake, BENIGN, openai_server, channel=elsewhere.lobby)
    their_message = theirs.original
    their_request = REQUEST_ID.search(their_message.content).group(1)
    ours = await write(fake, TOXIC, openai_server)
    our_request = REQUEST_ID.search(next(m for m in ours.messages if m.ephemeral).content).group(1)

    answers = []
    for given in (
        str(their_message.id),
        f"https://discord.com/channels/{elsewhere.guild.id}/{elsewhere.lobby.id}/{their_message.id}",
        f"https://discord.com/channels/{fake.guild.id}/{fake.general.id}/{their_message.id}",
        their_request,
        "123456789012345678",  # nothing at all
        "0" * 32,
    ):
        answers.append((await audit(fake, "message", {"message": given})).original.content)
    assert answers == [NOT_FOUND] * 6, "another guild's record reads exactly like no record"

    menu = await fake.message_command("Provenance", their_message, user=elsewhere.mod)
    await menu.wait_done(lambda r: r.original is not None and not r.original.loading)
    assert f"request `{their_request}`" in menu.original.content, "their own moderator sees it"
    theirs_flagged = (await audit(fake, "flagged", {}, user=elsewhere.mod, channel=elsewhere.lobby)).original.content
    assert "0 requests" in theirs_flagged and our_request[:12] not in theirs_flagged
    their_stats = (await audit(fake, "stats", {}, user=elsewhere.mod, channel=elsewhere.lobby)).original.content
    assert "Requests: 1 from 1 member" in their_stats
    export = await audit(fake, "export", {"format": "jsonl"}, user=elsewhere.mod, channel=elsewhere.lobby)
    exported = [json.loads(line)["request"]["id"] for line in export.original.attachments[0].data.decode().splitlines()]
    assert exported == [their_request]
    alice_there = (await audit(fake, "user", {"member": fake.alice}, user=elsewhere.mod, channel=elsewhere.lobby)).original.content
    assert their_request[:12] in alice_there and our_request[:12] not in alice_there

    recorded = await actions(storyloom)
    denied = [a for a in recorded if a.action == "audit_denied"]
    assert [(a.guild_id, a.user_id, a.details["reason"]) for a in denied] == [
        (fake.guild.id, fake.mod.id, "another guild's record")
    ] * 4
    assert str(their_message.id) in denied[0].details["target"] and denied[3].details["target"] == their_request
    misses = [a for a in recorded if a.action == "audit_query" and a.details.get("found") is False]
    assert len(misses) == 2 and all(a.guild_id == fake.guild.id for a in misses)
    assert all(a.guild_id == elsewhere.guild.id for a in recorded if a.user_id == elsewhere.mod.id)
    fake.assert_clean()


async def test_members_without_the_permission_are_refused_and_recorded(fake_discord, storyloom):
    fake = fake_discord
    with pytest.raises(ClientRejected):  # hidden by default_permissions in Discord's client
        await fake.slash("audit", {}, subcommand="stats", user=fake.alice)
    r = await fake.slash("audit", {}, subcommand="stats", user=fake.alice, bypass_client_checks=True)
    await r.wait_done()
    assert "Only moderators can use that" in r.original.content and r.original.ephemeral
    r = await fake.slash("audit", {"message": "123"}, subcommand="message", user=fake.alice, bypass_client_checks=True)
    await r.wait_done()
    assert "Only moderators can use that" in r.original.content and "request" not in r.original.content
    recorded = await actions(storyloom)
    assert [(a.action, a.user_id, a.details) for a in recorded] == [
        ("audit_denied", fake.alice.id, {"command": "audit stats", "reason": "not a moderator"}),
        ("audit_denied", fake.alice.id, {"command": "audit message", "reason": "not a moderator"}),
    ]
    fake.assert_clean()


async def test_the_servers_moderator_role_may_audit(fake_discord, helper, storyloom):
    fake = fake_discord
    before = await fake.slash("audit", {}, subcommand="stats", user=helper.user, bypass_client_checks=True)
    await before.wait_done()
    assert "Only moderators can use that" in before.original.content

    set_role = await fake.slash("guardrails", {"moderator_role": helper.role}, subcommand="set", user=fake.mod)
    await set_role.wait_done()
    assert "moderator_role" in set_role.original.content

    after = await audit(fake, "stats", {}, user=helper.user, bypass_client_checks=True)
    assert "Audit stats" in after.original.content and "Requests: 0" in after.original.content
    fake.assert_clean()
