"""Languages the rails cannot read, through the real bot and the loopback fake Discord: refused by default at every
rating (the member told in their language which languages the checks read), `/guardrails set unjudged` to hold or
allow (shown in `/guardrails show`, in the policy hash, recorded), and counted in `/audit stats`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from guardrails.rails.language import REFUSALS
from storage.models import Request, Verdict
from tests.plugins.bot import REQUEST_ID, records
from tests.test_discord_guardrails import actions_of, guardrails, mod_queue, set_rating  # noqa: F401 (a fixture)

ROWS = list(csv.DictReader((Path(__file__).parent / "data" / "multilingual_abuse.csv").open(encoding="utf-8")))
# The kinds of text the issue found passing every rail: a threat with a mention and a knife, a slur at a member,
# hate against a group, injection, in four languages.
HOSTILE = [row for row in ROWS if row["kind"] != "benign" and row["language"] in ("es", "de", "fr", "zh")]
SPANISH_STORY = "El farero subió la escalera al anochecer. Limpió la sal del cristal. Un barco giró hacia la luz."


async def write(fake, about: str, channel=None, locale: str = "en-US", user=None):
    r = await fake.slash(
        "write", {"kind": "story", "about": about}, user=user or fake.alice, channel=channel or fake.general, locale=locale
    )
    await r.wait_done(lambda r: any("Storyloom · request" in m.content for m in r.messages), timeout=15)
    return r


@pytest.mark.slow
async def test_hostile_non_english_prompts_are_refused_at_every_rating(fake_discord, storyloom, openai_server):
    fake = fake_discord
    await set_rating(fake, "G", fake.general)
    await set_rating(fake, "M", fake.after_dark)
    teens = fake.guild.add_channel("teens")  # PG-13: the default
    # one member trying every text in a minute: the pipeline's limiter and the one shared across processes
    storyloom.pipeline.rate_limiter.per_minute = storyloom.settings.rate_limit_per_minute = 100
    for channel in (fake.general, teens, fake.after_dark):
        for row in HOSTILE:
            r = await write(fake, row["text"], channel)
            notice = next(m for m in r.messages if m.ephemeral)
            assert notice.content.startswith(REFUSALS[row["language"]].format(languages="English")), row
            assert not any(row["text"][:20] in m.content for m in fake.channel_messages(channel))
    assert openai_server.chat_requests == [], "nothing unjudged reached the engine"
    requests = await records(storyloom, Request)
    assert len(requests) == 3 * len(HOSTILE) and {r.status for r in requests} == {"blocked"}
    assert {r.options["rating"] for r in requests} == {"G", "PG-13", "M"}
    fake.assert_clean()


async def test_benign_non_english_gets_one_clear_sentence_in_the_members_language(fake_discord, storyloom, openai_server):
    fake = fake_discord
    r = await write(fake, "Escribe un poema sobre un faro en una noche de tormenta.", locale="de")
    notice = next(m for m in r.messages if m.ephemeral)
    assert notice.content.startswith(REFUSALS["es"].format(languages="English")), "what they typed wins"
    request_id = REQUEST_ID.search(notice.content).group(1)
    (request,) = await records(storyloom, Request, Request.id == request_id)
    assert (request.status, request.status_reason) == ("blocked", "input language: language")
    assert openai_server.chat_requests == []
    fake.assert_clean()


async def test_allow_is_a_moderators_recorded_choice_shown_and_hashed(fake_discord, storyloom, openai_server):
    fake = fake_discord
    before = (await (guardrails(fake, "show", {}))).original.content
    assert "Languages the checks read: prompts English, output English. Any other: **refuse**" in before
    changed = await guardrails(fake, "set", {"unjudged": "allow"})
    assert "unjudged: default → **allow**" in changed.original.content
    after = (await guardrails(fake, "show", {})).original.content
    assert "Any other: **allow** (set by a moderator" in after
    assert after.split("Policy hash: ")[1] != before.split("Policy hash: ")[1]
    (action,) = await actions_of(storyloom)
    assert action.details["changes"] == {"unjudged": {"from": None, "to": "allow"}}

    openai_server.scripted_reply = SPANISH_STORY
    r = await write(fake, "Escribe un poema sobre un faro en una noche de tormenta.", locale="es-ES")
    assert r.original.content.startswith("El farero subió la escalera")
    assert "Write your answer in Spanish" in openai_server.chat_requests[-1].body["messages"][-1]["content"]
    request_id = REQUEST_ID.search(r.messages[-1].content).group(1)
    verdicts = await records(storyloom, Verdict, Verdict.request_id == request_id, Verdict.rail == "language")
    assert verdicts and all(v.decision == "pass" and "allowed unjudged" in v.explanation for v in verdicts)
    assert {v.policy_hash for v in verdicts} == {action.policy_hash}

    stats = await fake.slash("audit", {}, subcommand="stats", user=fake.mod, channel=fake.general)
    await stats.wait_done(lambda r: r.original is not None and not r.original.loading)
    assert "Languages no check here reads: " in stats.original.content and "es allowed" in stats.original.content
    fake.assert_clean()


async def test_hold_needs_a_review_channel_and_sends_it_there(fake_discord, mod_queue, storyloom, openai_server):
    fake = fake_discord
    refused = await guardrails(fake, "set", {"unjudged": "hold"})
    assert "Hold needs a review channel" in refused.original.content and await actions_of(storyloom) == []
    await guardrails(fake, "set", {"review_channel": mod_queue, "scope": "server"})
    held = await guardrails(fake, "set", {"unjudged": "hold"})
    assert "**hold**" in held.original.content

    openai_server.scripted_reply = SPANISH_STORY
    r = await fake.slash("write", {"kind": "story", "about": "Un poema sobre el mar."}, user=fake.alice)
    await r.wait_done(lambda r: any(m.ephemeral for m in r.messages), timeout=15)
    assert "waiting for a moderator" in next(m for m in r.messages if m.ephemeral).content
    await fake.wait_for(lambda: fake.channel_messages(mod_queue))
    post = fake.channel_messages(mod_queue)[-1]
    assert "El farero" in post.content and not post.pinged
    assert not any("El farero" in m.content for m in fake.channel_messages(fake.general)), "nothing shown while held"
    fake.assert_clean()
