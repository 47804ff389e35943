"""`/guardrails` through the real bot and the loopback fake Discord: ratings per channel, M only where
Discord marks the channel age-restricted, changes recorded, members without Manage Server refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import ModerationAction, Request
from tests.fakediscord import ClientRejected
from tests.plugins.bot import REQUEST_ID, records

STRONG = '"Fuck this ship," Sam swore as the mast cracked. The sea took the rest. They swam for the rocks.'


async def set_rating(fake, rating: str, channel, scope: str | None = None, user=None):
    options = {"rating": rating} | ({"scope": scope} if scope else {})
    r = await fake.slash("guardrails", options, subcommand="rating", user=user or fake.mod, channel=channel)
    await r.wait_done()
    return r


async def write_in(fake, channel):
    r = await fake.slash("write", {"kind": "story", "about": "a shipwreck"}, user=fake.alice, channel=channel)
    await r.wait_done(lambda r: any("AI-generated" in m.content for m in r.messages), timeout=15)
    return r


async def test_m_is_refused_outside_age_restricted_channels(fake_discord, storyloom):
    fake = fake_discord
    refused = await set_rating(fake, "M", fake.general)
    assert "age-restricted" in refused.original.content and refused.original.ephemeral
    accepted = await set_rating(fake, "M", fake.after_dark)
    assert "**M**" in accepted.original.content
    async with storyloom.database.connect() as connection:
        actions = (await connection.execute(select(ModerationAction))).all()
    assert [(a.action, a.channel_id, a.details["to"], a.user_id) for a in actions] == [
        ("set_rating", fake.after_dark.id, "M", fake.mod.id)
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
        await fake.slash("guardrails", {"rating": "G"}, subcommand="rating", user=fake.alice, channel=fake.general)
    r = await fake.slash(
        "guardrails", {"rating": "G"}, subcommand="rating", user=fake.alice, channel=fake.general,
        bypass_client_checks=True,
    )
    await r.wait_done()
    assert "manage guild permission" in r.original.content and r.original.ephemeral
    async with storyloom.database.connect() as connection:
        assert (await connection.execute(select(ModerationAction))).all() == []
    fake.assert_clean()
