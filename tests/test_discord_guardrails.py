"""`/guardrails` through the real bot and the loopback fake Discord: ratings, thresholds and actions per channel or
server, M only where Discord marks the channel age-restricted, this server's misinformation entries, changes recorded
with the new policy hash, members without Manage Server refused; and hold for review with its persistent buttons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core.app import Core
from bot.discord.bot import StoryloomBot
from bot.engines.openai_engine import OpenAIEngine
from guardrails.modeling.toxicity import ToxicityHead
from storage.models import Delivery, ModerationAction, Request, Review
from tests.fakediscord import FAST_CLIENT_OPTIONS, ClientRejected
from tests.plugins.bot import REQUEST_ID, records

STRONG = '"Fuck this ship," Sam swore as the mast cracked. The sea took the rest. They swam for the rocks.'


INSULT = "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash."
WITH_INSULT = f"The keeper climbed the stairs at dusk. {INSULT} The lamp burned until dawn over the quiet harbour."


async def guardrails(fake, subcommand: str, options: dict, channel=None, user=None):
    r = await fake.slash("guardrails", options, subcommand=subcommand, user=user or fake.mod, channel=channel or fake.general)
    await r.wait_done()
    return r


async def set_rating(fake, rating: str, channel, scope: str | None = None, user=None):
    return await guardrails(fake, "set", {"rating": rating} | ({"scope": scope} if scope else {}), channel, user)


async def actions_of(core):
    async with core.database.connect() as connection:
        return (await connection.execute(select(ModerationAction).order_by(ModerationAction.id))).all()


@pytest.fixture
def mod_queue(fake_discord):
    """The moderators' channel; ask for it before `storyloom` so the bot sees it at start."""
    return fake_discord.guild.add_channel("mod-queue")


async def write_in(fake, channel):
    r = await fake.slash("write", {"kind": "story", "about": "a shipwreck"}, user=fake.alice, channel=channel)
    await r.wait_done(lambda r: any("Storyloom · request" in m.content for m in r.messages), timeout=15)
    return r


async def test_m_is_refused_outside_age_restricted_channels(fake_discord, storyloom):
    fake = fake_discord
    refused = await set_rating(fake, "M", fake.general)
    assert "age-restricted" in refused.original.content and refused.original.ephemeral
    accepted = await set_rating(fake, "M", fake.after_dark)
    assert "**M**" in accepted.original.content
    actions = await actions_of(storyloom)
    assert [(a.action, a.channel_id, a.details["changes"], a.user_id) for a in actions] == [
        ("set_guardrails", fake.after_dark.id, {"rating": {"from": None, "to": "M"}}, fake.mod.id)
    ]
    assert actions[0].policy_hash == storyloom.rails.rated("M").policy_hash != storyloom.rails.policy_hash
    fake.assert_clean()


async def test_strong_profanity_passes_at_m_and_is_blocked_at_pg13(fake_discord, storyloom, openai_server):
    openai_server.scripted_reply = STRONG
    fake = fake_discord
    await set_rating(fake, "M", fake.after_dark)

    mature = await write_in(fake, fake.after_dark)
    general = await write_in(fake, fake.general)

    assert mature.original.content.startswith(STRONG.split(" The sea")[0])
    notice = next(m for m in general.messages if m.ephemeral)
    assert "crossed this channel's line" in notice.content and "obscene" in notice.content
    by_id = {
        REQUEST_ID.search(r.messages[-1].content).group(1): r for r in (mature, general)
    }
    rows = await records(storyloom, Request, Request.id.in_(list(by_id)))
    outcome = {by_id[row.id] is mature: (row.status, row.options["rating"], row.policy_hash) for row in rows}
    assert outcome[True][:2] == ("delivered", "M") and outcome[False][:2] == ("blocked", "PG-13")
    assert outcome[True][2] != outcome[False][2], "each verdict is judged under its rating's policy hash"
    fake.assert_clean()


async def test_show_describes_the_rating_and_checks_here(fake_discord, storyloom):
    fake = fake_discord
    await set_rating(fake, "G", fake.general, scope="server")
    r = await fake.slash("guardrails", {}, subcommand="show", user=fake.mod, channel=fake.general)
    await r.wait_done()
    text = r.original.content
    assert r.original.ephemeral and "Rating here: G" in text and "server: G" in text
    assert "toxicity" in text and "injection" in text and "misinformation" in text and "Policy hash" in text
    fake.assert_clean()


async def test_members_without_manage_server_are_refused(fake_discord, storyloom):
    fake = fake_discord
    with pytest.raises(ClientRejected):
        await fake.slash("guardrails", {"rating": "G"}, subcommand="set", user=fake.alice, channel=fake.general)
    r = await fake.slash(
        "guardrails", {"rating": "G"}, subcommand="set", user=fake.alice, channel=fake.general,
        bypass_client_checks=True,
    )
    await r.wait_done()
    assert "manage guild permission" in r.original.content and r.original.ephemeral
    async with storyloom.database.connect() as connection:
        assert (await connection.execute(select(ModerationAction))).all() == []
    fake.assert_clean()


async def test_thresholds_and_actions_are_set_shown_and_reset(fake_discord, storyloom):
    fake = fake_discord
    r = await guardrails(fake, "set", {"category": "toxicity", "threshold": 0.4, "rail": "toxicity", "action": "redact"})
    assert "threshold.toxicity: default → **0.4**" in r.original.content and "action.toxicity: default → **redact**" in r.original.content
    shown = (await guardrails(fake, "show", {})).original.content
    assert "toxicity 0.4) → redact" in shown and "Set by moderators: toxicity 0.4, toxicity → redact" in shown
    elsewhere = (await guardrails(fake, "show", {}, channel=fake.after_dark)).original.content
    shipped = ToxicityHead.load().thresholds["toxicity"]
    assert f"toxicity {shipped:g}) → block" in elsewhere, "a channel's setting stays in that channel"

    cleared = await guardrails(fake, "reset", {})
    assert "**default**" in cleared.original.content
    (first, second) = await actions_of(storyloom)
    assert first.policy_hash != second.policy_hash and second.policy_hash == storyloom.rails.policy_hash
    fake.assert_clean()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"category": "toxicity"}, "Give both `category` and `threshold`"),
        ({"rail": "toxicity", "action": "note"}, "The toxicity check can block, redact, regenerate or hold, not note."),
        ({"category": "insult", "threshold": 0.5}, "do not score insult"),
        ({"rail": "toxicity", "action": "hold"}, "Hold needs a review channel"),
        ({}, "Nothing to set"),
    ],
)
async def test_settings_that_cannot_work_are_explained_and_not_stored(fake_discord, storyloom, options, says):
    r = await guardrails(fake_discord, "set", options)
    assert says in r.original.content and r.original.ephemeral
    assert await actions_of(storyloom) == []
    fake_discord.assert_clean()


async def test_a_servers_own_false_claim_gets_its_correction(fake_discord, storyloom, openai_server):
    fake = fake_discord
    added = await guardrails(
        fake, "misinfo add",
        {"claim": "Drinking seawater cures a hangover", "correction": "Seawater dehydrates you and makes a hangover worse."},
    )  # fmt: skip
    entry = int(added.original.content.split("**#")[1].split("**")[0])
    listed = (await guardrails(fake, "misinfo list", {})).original.content
    assert f"#{entry}" in listed and "seawater cures" in listed

    openai_server.scripted_reply = (
        "The sailors woke with sore heads. Remember, readers: drinking seawater cures a hangover. The tide went out."
    )
    r = await fake.slash("write", {"kind": "story", "about": "sailors"}, user=fake.alice)
    await r.wait_done(lambda r: any("Storyloom · request" in m.content for m in r.messages), timeout=15)
    assert "Fact check: Seawater dehydrates you" in r.original.content

    assert "no entry #999" in (await guardrails(fake, "misinfo remove", {"entry": 999})).original.content
    assert f"Removed entry #{entry}" in (await guardrails(fake, "misinfo remove", {"entry": entry})).original.content
    assert "No entries" in (await guardrails(fake, "misinfo list", {})).original.content
    assert [a.action for a in await actions_of(storyloom)] == ["misinfo_add", "misinfo_remove"]
    fake.assert_clean()


async def hold_in_general(fake, mod_queue, openai_server):
    await guardrails(fake, "set", {"review_channel": mod_queue, "scope": "server"})
    await guardrails(fake, "set", {"rail": "toxicity", "action": "hold"})
    openai_server.scripted_reply = WITH_INSULT
    r = await fake.slash("write", {"kind": "story", "about": "a lighthouse"}, user=fake.alice)
    await r.wait_done(lambda r: any(m.ephemeral for m in r.messages), timeout=15)
    await fake.wait_for(lambda: fake.channel_messages(mod_queue))
    return r, fake.channel_messages(mod_queue)[-1]


async def test_a_held_piece_is_posted_for_its_author_when_a_moderator_approves(
    fake_discord, mod_queue, storyloom, openai_server
):
    fake = fake_discord
    r, post = await hold_in_general(fake, mod_queue, openai_server)
    notice = next(m for m in r.messages if m.ephemeral)
    assert "waiting for a moderator" in notice.content
    assert not any(INSULT in m.content for m in fake.channel_messages(fake.general)), "nothing shown while held"
    assert INSULT in post.content and "Held for review" in post.content and not post.pinged

    refused = await fake.click(post, post.components[0]["components"][0]["custom_id"], user=fake.alice)
    await refused.wait_done()
    assert "Only moderators" in refused.original.content

    approve = next(c["custom_id"] for row in post.components for c in row["components"] if c["label"] == "Approve")
    click = await fake.click(post, approve, user=fake.mod)
    await click.wait_done()
    await fake.wait_for(lambda: any(INSULT in m.content for m in fake.channel_messages(fake.general)))
    posted = next(m for m in fake.channel_messages(fake.general) if INSULT in m.content)
    assert posted.pinged.users == {fake.alice.id} and not posted.pinged.roles and not posted.pinged.everyone
    assert "Approved" in post.content and all(c.get("disabled") for row in post.components for c in row["components"])

    request_id = REQUEST_ID.search(notice.content).group(1)
    (request,) = await records(storyloom, Request, Request.id == request_id)
    (review,) = await records(storyloom, Review, Review.request_id == request_id)
    deliveries = await records(storyloom, Delivery, Delivery.request_id == request_id, Delivery.kind == "message")
    assert request.status == "delivered" and (review.status, review.decided_by) == ("approved", fake.mod.id)
    assert [d.message_id for d in deliveries] == [posted.id]
    assert (await actions_of(storyloom))[-1].details == {"review": review.id, "request_id": request_id, "author_told": True}

    with pytest.raises(ClientRejected):  # decided buttons are disabled
        await fake.click(post, approve, user=fake.mod)
    fake.assert_clean()


async def test_a_rejected_piece_is_never_shown_and_its_author_is_told_in_private(
    fake_discord, mod_queue, storyloom, openai_server
):
    fake = fake_discord
    r, post = await hold_in_general(fake, mod_queue, openai_server)
    reject = next(c["custom_id"] for row in post.components for c in row["components"] if c["label"] == "Reject")
    await (await fake.click(post, reject, user=fake.mod)).wait_done()
    await fake.wait_for(lambda: fake.dm_messages(fake.alice))
    (dm,) = fake.dm_messages(fake.alice)
    assert "decided not to post it" in dm.content and INSULT not in dm.content
    assert not any(INSULT in m.content for m in fake.channel_messages(fake.general))
    request_id = REQUEST_ID.search(dm.content).group(1)
    (request,) = await records(storyloom, Request, Request.id == request_id)
    assert (request.status, request.status_reason) == ("blocked", f"review #{(await records(storyloom, Review))[0].id}: rejected")
    fake.assert_clean()


async def test_review_buttons_work_after_a_restart(tmp_path, fake_discord, mod_queue, default_rails, openai_server):
    fake = fake_discord
    settings = Settings(
        data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url], stream_edit_interval_s=0.2
    )
    engine = OpenAIEngine.from_settings(settings)
    await engine.start()
    try:
        core = await Core.start(settings, engine=engine, rails=default_rails)
        async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
            _, post = await hold_in_general(fake, mod_queue, openai_server)
        await core.close()

        core = await Core.start(settings, engine=engine, rails=default_rails)  # a new process, the same database
        async with fake.run_bot(StoryloomBot(settings, core=core, sync_commands=True, **FAST_CLIENT_OPTIONS)):
            approve = next(c["custom_id"] for row in post.components for c in row["components"] if c["label"] == "Approve")
            await (await fake.click(post, approve, user=fake.mod)).wait_done()
            await fake.wait_for(lambda: any(INSULT in m.content for m in fake.channel_messages(fake.general)))
        (review,) = await records(core, Review)
        assert review.status == "approved"
        await core.close()
    finally:
        await engine.close()
    fake.assert_clean()


@pytest.fixture
def story_helper(fake_discord):
    """A member whose only standing is a role the server names as its moderator role (no Discord permissions)."""
    role = fake_discord.guild.add_role("Story helper")
    user = fake_discord.add_user("helper")
    fake_discord.guild.add_member(user, role)
    return role, user


async def test_the_servers_moderator_role_may_decide_held_pieces(
    fake_discord, mod_queue, story_helper, storyloom, openai_server
):
    fake = fake_discord
    role, helper = story_helper
    _, post = await hold_in_general(fake, mod_queue, openai_server)
    approve = next(c["custom_id"] for row in post.components for c in row["components"] if c["label"] == "Approve")
    before = await fake.click(post, approve, user=helper)
    await before.wait_done()
    assert "Only moderators" in before.original.content

    await guardrails(fake, "set", {"moderator_role": role, "scope": "server"})
    await (await fake.click(post, approve, user=helper)).wait_done()
    (review,) = await records(storyloom, Review)
    assert (review.status, review.decided_by) == ("approved", helper.id)
    fake.assert_clean()


async def test_a_thread_follows_its_parent_channels_settings(fake_discord, storyloom):
    fake = fake_discord
    await set_rating(fake, "G", fake.general)
    thread = await fake.start_thread(fake.general, "side quest", user=fake.alice)
    shown = (await guardrails(fake, "show", {}, channel=thread)).original.content
    assert "Rating here: G" in shown and "channel: G" in shown
    await guardrails(fake, "set", {"rail": "toxicity", "action": "redact"}, channel=thread)
    assert "→ redact" in (await guardrails(fake, "show", {}, channel=fake.general)).original.content
    fake.assert_clean()
