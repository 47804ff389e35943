"""Story games (bot/core/story) below any front end: the real pipeline, rails and SQLite, a scripted OpenAI server."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.terminal.parser import CommandError, parse
from bot.core.request import Author
from bot.core.prompts import STORY_PROMPT_CHARS, StoryContext, render_story
from bot.core.story import StoryError, StoryService
from storage.models import Generation, Request, StoryChoiceSet, StorySession, StoryTurn, StoryVote, Verdict
from tests.test_pipeline import make_core, rows  # noqa: F401 - the fixture

GUILD, CHANNEL = 7, 55
ADA = Author("discord", 1, "ada", GUILD, CHANNEL, exempt_from_rate_limit=True)
BO = replace(ADA, user_id=2, user_name="bo")
CY = replace(ADA, user_id=3, user_name="cy")

AI_1 = "The lighthouse lamp flickered twice. Somewhere below, a bell rang across the dark water."
AI_2 = "Mira found a second key under the stair. It was warm, as if someone had just held it."
AI_3 = "The fog lifted for a moment. Across the bay, a window lit up in the empty house."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _three_players(service: StoryService, **start) -> int:
    view = await service.start(ADA, "The Lighthouse", "Two rivals are stranded in a lighthouse during a storm.", **start)
    await service.join(BO)
    await service.join(CY)
    return view.id


async def test_round_robin_from_start_to_export(make_core, openai_server):
    openai_server.scripted_reply = AI_1
    core = await make_core(openai_server)
    clock = Clock()
    service = StoryService(core, clock=clock)
    session_id = await _three_players(service, turn_timeout_s=60, lines="spiders", veils="romance")

    view = await service.status(BO)
    assert [p.name for p in view.players] == ["ada", "bo", "cy"] and view.next_player == "ada"
    with pytest.raises(StoryError, match="ada's turn"):
        await service.add_turn(BO, "Bo grabbed the lantern.")
    first = await service.add_turn(ADA, "Ada climbed the spiral stairs with the last dry match.")
    assert first.status == "kept" and (await service.status(ADA)).next_player == "bo"
    # Not "Bo followed, counting the steps out loud to annoy her.": the dangerous rail's tuned encoder blocks it
    # (0.9996: steps, and harm aimed at a person); docs/dangerous-instructions.md. This test is about turn order.
    await service.add_turn(BO, "Bo followed her up, humming to keep his nerve.")
    assert (await service.status(ADA)).next_player == "cy"

    clock.advance(61)  # cy is away: the turn passes on at the front end's timer, or at the next call
    assert await service.due() == [session_id]
    expired = await service.expire(session_id)
    assert expired.status == "skipped" and expired.turn.author_name == "cy"
    assert await service.due() == []
    view = await service.status(ADA)
    assert view.next_player == "ada"
    with pytest.raises(StoryError, match="ada's turn"):
        await service.add_turn(CY, "Cy woke up too late.")

    ai = await service.ai_turn(ADA)  # ada hands her turn to the AI
    assert ai.kept is not None and ai.kept.text == AI_1 and ai.kept.author_id is None
    assert (await service.status(ADA)).next_player == "bo"
    sent = openai_server.chat_requests[-1].body["messages"]
    prompt = sent[-1]["content"]
    assert "Two rivals are stranded" in prompt and "humming to keep his nerve" in prompt
    assert "must not appear at all, not even mentioned: spiders" in prompt and "off-screen" in prompt and "romance" in prompt
    assert len(json.dumps(sent)) < STORY_PROMPT_CHARS + 200

    [request] = await rows(core, Request, Request.id == ai.kept.request_id)
    assert request.command == "story" and request.options["story_session"] == session_id
    assert request.options["parent_turn"] == 2 and request.options["rating"] == "PG-13"
    turns = await rows(core, StoryTurn, StoryTurn.session_id == session_id)
    by_number = {t.number: t for t in turns}
    assert [t.status for t in turns] == ["kept", "kept", "skipped", "kept"]
    assert by_number[3].author_id == 3 and by_number[3].reason == "timeout"
    assert by_number[4].parent_turn_id == by_number[2].id and by_number[2].parent_turn_id == by_number[1].id
    assert by_number[2].request_id == request.parent_request_id, "the AI request links the member's turn it continues"
    [human] = await rows(core, Request, Request.id == by_number[1].request_id)
    assert (human.command, human.status, human.user_id) == ("story_turn", "delivered", 1)

    ended = await service.end(ADA)
    assert ended.status == "ended"
    markdown = await service.export(ADA)
    assert markdown.startswith("# The Lighthouse\n")
    assert "**Premise:** Two rivals" in markdown and "**Rating:** PG-13" in markdown
    assert "spiders" in markdown and "romance" in markdown
    assert "— *ada*" in markdown and "— *bo*" in markdown and f"— *AI · request {ai.kept.request_id}*" in markdown
    assert markdown.index("last dry match") < markdown.index("humming to keep his nerve") < markdown.index("bell rang")
    assert "Cy woke up" not in markdown


async def test_a_vote_on_three_choices_ties_to_the_earliest(make_core, openai_server):
    openai_server.scripted_replies = [AI_1, AI_2, AI_3]
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = await _three_players(service, mode="free")
    await service.add_turn(BO, "The storm shook the glass.")

    ai = await service.ai_turn(CY, choices=3)
    assert [c.text for c in ai.choices] == [AI_1, AI_2, AI_3] and ai.kept is None
    assert [c.choice_index for c in ai.choices] == [1, 2, 3]
    with pytest.raises(StoryError, match="vote is open"):
        await service.add_turn(ADA, "Ada writes while the vote is open.")
    assert (await service.vote(ADA, 3)).closed is False
    with pytest.raises(StoryError, match="already voted"):
        await service.vote(ADA, 2)
    await service.vote(BO, 2)
    result = await service.vote(CY, 1)
    assert result.closed and result.chosen.text == AI_1, "one vote each: the tie goes to the earliest-generated choice"

    turns = {t.choice_index: t for t in await rows(core, StoryTurn, StoryTurn.session_id == session_id) if t.choice_index}
    assert {i: t.status for i, t in turns.items()} == {1: "kept", 2: "not_chosen", 3: "not_chosen"}
    assert len({t.request_id for t in turns.values()}) == 3
    [choice_set] = await rows(core, StoryChoiceSet, StoryChoiceSet.session_id == session_id)
    assert (choice_set.status, choice_set.tie_break, choice_set.closed_by) == ("closed", "earliest", "all_voted")
    assert len(await rows(core, StoryVote, StoryVote.choice_set_id == choice_set.id)) == 3
    for turn in turns.values():
        [request] = await rows(core, Request, Request.id == turn.request_id)
        assert request.options["choice"] == turn.choice_index and request.options["story_session"] == session_id
    markdown = await service.export(ADA)
    assert AI_1 in markdown and AI_2 not in markdown and AI_3 not in markdown


async def test_a_blocked_human_turn_is_refused_and_recorded(make_core, openai_server):
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = await _three_players(service, mode="free")
    result = await service.add_turn(BO, "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash.")
    assert result.status == "blocked" and "can't go into the story" in result.message and len(result.message) < 200
    [turn] = await rows(core, StoryTurn, StoryTurn.session_id == session_id)
    assert turn.status == "blocked" and turn.reason.startswith("input toxicity")
    [request] = await rows(core, Request, Request.id == turn.request_id)
    assert request.status == "blocked" and request.command == "story_turn"
    verdicts = await rows(core, Verdict, Verdict.request_id == turn.request_id)
    assert ("toxicity", "block") in {(v.rail, v.decision) for v in verdicts}
    assert (await service.status(ADA)).turn_count == 0 and "idiot" not in await service.export(ADA)
    assert openai_server.chat_requests == []


async def test_a_line_is_respected_on_both_stages(make_core, openai_server):
    openai_server.scripted_reply = "The keeper opened the door. A huge hairy spider crawled across the floor toward her."
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = await _three_players(service, mode="free", lines=["spiders", "drowning"])

    ai = await service.ai_turn(ADA)
    assert ai.kept is None and "lines" in ai.message and "spiders" in ai.message
    [outcome] = ai.outcomes
    assert outcome.status == "blocked"
    blocked = [v for v in await rows(core, Verdict, Verdict.request_id == outcome.request_id) if v.decision == "block"]
    assert [(v.stage, v.rail, v.category) for v in blocked] == [("output", "lines", "line")]
    assert "'spiders'" in blocked[0].explanation and "spider" in blocked[0].sentence
    [request] = await rows(core, Request, Request.id == outcome.request_id)
    assert request.status_reason == "output lines: line"

    paraphrase = await service.add_turn(BO, "The water closed over his head and he could not breathe.")
    assert paraphrase.status == "blocked" and "drowning" in paraphrase.message, "the meaning match, no shared word"
    fine = await service.add_turn(BO, "Bo lit the lamp and the room filled with warm light.")
    assert fine.status == "kept"
    assert await rows(core, StoryTurn, StoryTurn.session_id == session_id, StoryTurn.status == "kept")

    # The lines are part of the policy hash; a session without lines judges under the channel's own hash.
    [session] = await rows(core, StorySession, StorySession.id == session_id)
    policy = service.policy_for(ADA, session)
    assert core.rails.for_policy(policy).policy_hash != core.rails.policy_hash
    assert core.rails.for_policy(replace(policy, lines=())).policy_hash == core.rails.policy_hash


async def test_undo_and_kick(make_core, openai_server):
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = await _three_players(service)
    await service.add_turn(ADA, "Ada lit the lamp.")
    await service.add_turn(BO, "Bo dropped the oil can down the stairs.")
    with pytest.raises(StoryError, match="host or a moderator"):
        await service.undo(CY)
    undone = await service.undo(ADA)
    assert undone.turn.text.startswith("Bo dropped") and undone.status == "undone"
    view = await service.status(ADA)
    assert view.turn_count == 1 and view.next_player == "bo", "an undone turn returns to its writer"
    await service.undo(CY, moderator=True)
    view = await service.status(ADA)
    assert view.turn_count == 0 and view.next_player == "ada"
    await service.add_turn(ADA, "Ada lit the lamp again.")

    with pytest.raises(StoryError, match="host or a moderator"):
        await service.kick(CY, 2)
    view = await service.kick(ADA, 2)
    assert [(p.name, p.status) for p in view.players] == [("ada", "active"), ("bo", "kicked"), ("cy", "active")]
    assert view.next_player == "cy", "the kicked player's turn passes on"
    with pytest.raises(StoryError, match="Join the story"):
        await service.add_turn(BO, "Bo sneaks back in.")
    with pytest.raises(StoryError, match="removed you"):
        await service.join(BO)
    statuses = [t.status for t in await rows(core, StoryTurn, StoryTurn.session_id == session_id)]
    assert statuses == ["undone", "undone", "kept"]


async def test_a_new_service_on_the_same_database_continues_mid_vote(make_core, openai_server):
    openai_server.scripted_replies = [AI_1, AI_2, AI_3]
    core = await make_core(openai_server)
    first = StoryService(core)
    await _three_players(first, mode="vote")
    ai = await first.ai_turn(ADA)  # vote mode: choices by default
    assert [c.text for c in ai.choices] == [AI_1, AI_2, AI_3]
    await first.vote(ADA, 2)
    await first.vote(BO, 2)

    restarted = await make_core(openai_server)  # the same SQLite file, a new process's worth of state
    second = StoryService(restarted)
    view = await second.status(CY)
    assert view.vote is not None and view.vote.counts[2] == 2 and set(view.vote.voters) == {1, 2}
    with pytest.raises(StoryError, match="already voted"):
        await second.vote(BO, 1)
    result = await second.vote(CY, 1)
    assert result.closed and result.chosen.choice_index == 2
    assert (await second.status(ADA)).turn_count == 1


async def test_a_vote_past_its_deadline_closes_at_the_next_call(make_core, openai_server):
    openai_server.scripted_replies = [AI_1, AI_2]
    core = await make_core(openai_server)
    clock = Clock()
    service = StoryService(core, clock=clock)
    await _three_players(service, mode="free", vote_timeout_s=120)
    await service.ai_turn(BO, choices=2)
    await service.vote(CY, 2)
    clock.advance(121)
    view = await service.status(ADA)
    assert view.vote is None and view.turn_count == 1 and view.recent[-1].text == AI_2
    with pytest.raises(StoryError, match="no vote open"):
        await service.vote(ADA, 1)


def test_the_story_prompt_stays_within_its_budget():
    long_turns = tuple((f"p{n}", "The tide came in again and again. " * 40) for n in range(30))
    story = StoryContext(1, "T" * 300, "premise " * 300, summary="summary " * 400, turns=long_turns, lines=("a" * 80,) * 20)
    messages = render_story(story, "somewhere " * 100)
    total = sum(len(m["content"]) for m in messages)
    assert total <= STORY_PROMPT_CHARS
    assert "p29" in messages[-1]["content"] and "p0]" not in messages[-1]["content"], "the latest turns fit, not the oldest"


def test_story_commands_parse():
    command = parse('/story start The Lighthouse premise:"two rivals, one lamp" mode:free lines:"spiders; drowning" --as bo')
    assert (command.name, command.kind, command.text) == ("story", "start", "The Lighthouse")
    assert command.options == {"as": "bo", "premise": "two rivals, one lamp", "mode": "free", "lines": "spiders; drowning"}
    assert parse("/story add  The door creaked. --as cy").text == "The door creaked."
    assert parse("/story ai choices:3 toward the storm").options == {"choices": "3"}
    with pytest.raises(CommandError, match="Unknown /story"):
        parse("/story dance")
    with pytest.raises(CommandError, match="choice's number"):
        parse("/story vote two")


async def test_terminal_story_commands(make_core, openai_server):
    from bot.terminal.repl import run_command

    openai_server.scripted_replies = [AI_1, AI_2, AI_3]
    core = await make_core(openai_server)
    me = Author("local", 1, "ada", 1, None, exempt_from_rate_limit=True)
    out = io.StringIO()
    script = [
        '/story start The Lighthouse premise:"Two rivals are stranded in a lighthouse." lines:spiders',
        "/story join --as bo",
        "/story join --as cy",
        "/story add Bo jumps the queue. --as bo",
        "/story add Ada lit the lamp.",
        "/story add Bo polished the lens. --as bo",
        "/story skip --as cy",
        "/story ai choices:3 toward the bell",
        "/story vote 1",
        "/story vote 2 --as bo",
        "/story vote close --as bo",
        "/story vote close",
        "/story status",
        "/story end",
        "/story export",
    ]
    for line in script:
        out.write(f"> {line}\n")
        await run_command(core, me, parse(line), out)
    text = out.getvalue()
    assert "Story 1 started." in text and "Lines: spiders" in text
    assert "It's ada's turn." in text
    assert "cy's turn was skipped." in text
    assert "-- choice 3 --" in text and "3 choices are up for a vote" in text
    assert "Only the host or a moderator can close the vote" in text
    assert "Vote closed: choice 1 is the next turn (a tie: the earliest-written choice wins)." in text
    assert "— *ada*" in text and "— *bo*" in text and "— *AI · request " in text
    assert text.index("Ada lit the lamp.") < text.index("Bo polished the lens.") < text.rindex(AI_1)


async def test_a_players_forget_me_erases_their_turns_and_the_story_says_so(make_core, openai_server):
    from storage.chain import verify
    from storage.erasure import erase_user

    core = await make_core(openai_server)
    service = StoryService(core, clock=Clock())
    await _three_players(service, mode="free")
    await service.add_turn(BO, "Bo counted the steps out loud, forty-one, forty-two.")
    await service.add_turn(ADA, "Ada lit the last dry match.")
    await core.recorder.flush()

    await erase_user(core.database, BO.user_id)

    exported = await service.export(ADA)
    assert "forty-one" not in exported and "[erased at its author's request]" in exported
    assert "Ada lit the last dry match." in exported
    assert (await verify(core.database)).intact


async def test_an_ai_turn_is_derived_from_the_turn_it_continues_in_prov(make_core, openai_server):
    from prov import model as prov_model  # the W3C PROV reference implementation for Python

    from storage.audit import iter_records
    from storage.export import export_bytes

    openai_server.scripted_reply = AI_1
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = (await service.start(ADA, "The Lighthouse", "Two rivals are stranded in a lighthouse.", mode="free")).id
    human = await service.add_turn(ADA, "Ada climbed the spiral stairs with the last dry match.")
    ai = await service.ai_turn(ADA)
    assert ai.kept is not None and ai.kept.number == 2
    await core.recorder.flush()

    data, count = await export_bytes(iter_records(core.database, GUILD), "prov-json")
    assert count == 3  # the story's start (a request since it is judged), the member's turn and the AI's
    document = prov_model.ProvDocument.deserialize(content=data.decode(), format="json")
    entities = {str(e.identifier): e for e in document.get_records(prov_model.ProvEntity)}
    turn_id = f"storyloom:story_{session_id}_turn_1"
    turn = entities[turn_id]
    assert {str(v) for v in turn.get_attribute("storyloom:storySession")} == {str(session_id)}
    assert {str(v) for v in turn.get_attribute("prov:type")} == {"storyloom:StoryTurn"}
    assert set(turn.get_attribute("storyloom:requestId")) == {human.turn.request_id}
    derivations = [
        (str(d.get_attribute("prov:generatedEntity").pop()), str(d.get_attribute("prov:usedEntity").pop()))
        for d in document.get_records(prov_model.ProvDerivation)
    ]
    outputs = [used_by for used_by, used in derivations if used == turn_id]
    [generation] = await rows(core, Generation, Generation.request_id == ai.kept.request_id)
    assert outputs == [f"storyloom:output_{generation.id}"]
    output = entities[outputs[0]]
    assert {str(v) for v in output.get_attribute("storyloom:storySession")} == {str(session_id)}
    assert all(used in entities for _, used in derivations), "every derivation names a declared entity"


async def test_the_rail_variants_per_policy_are_bounded_least_recently_used_first():
    """Every session's lines make a policy variant; past the bound the least recently used one is let go (its
    batchers closed once nothing runs on it), and a check already holding it still finishes."""
    from guardrails.policy import Policy
    from guardrails.rails.lines import LinesRail
    from guardrails.stack import MAX_VARIANTS, RailStack

    assert MAX_VARIANTS == 256
    base = RailStack([LinesRail(["unused"])], [LinesRail(["unused"])], max_variants=3)
    policies = [Policy.build(lines=(f"topic{n}",)) for n in range(5)]
    first = [base.for_policy(p) for p in policies[:3]]
    assert base.variants == 3 and base.for_policy(policies[0]) is first[0], "built once, and now the most recent"
    held = first[1]  # a request took this variant before it is evicted: its check must still finish
    checking = asyncio.create_task(held.check("input", "topic1 everywhere"))
    base.for_policy(policies[3])  # evicts policies[1], the least recently used
    assert base.variants == 3 and held._retired and not first[0]._retired
    verdicts = await checking
    assert [v.decision for v in verdicts] == ["pass", "block"] and "topic1" in verdicts[1].explanation, (
        "an evicted variant still judges what it was given"
    )
    await asyncio.sleep(0)
    await asyncio.gather(*list(base._retiring))
    assert all(b._task is None for b in held._batchers.values()), "closed after its last check"
    base.for_policy(policies[4])  # evicts policies[2]
    assert base.for_policy(policies[1]) is not held, "an evicted policy is built again when it comes back"
    assert base.variants == 3
    for n in range(600):
        base.for_policy(Policy.build(lines=(f"many{n}",)))
    assert base.variants == 3
    await base.close()


async def test_two_bot_processes_on_one_database_take_turns_on_a_session(make_core, openai_server, database_url):
    """Two services, each with its own core (its own engine pool, recorder, in-process locks), as two bot processes
    sharing one database: the same turn sent to both at once is kept once, a vote closed by both at once closes
    once. Each change claims the session row first (storage/stories.py `claim`)."""
    openai_server.scripted_replies = [AI_1, AI_2]
    first = StoryService(await make_core(openai_server, database_url=database_url))
    second = StoryService(await make_core(openai_server, database_url=database_url))
    session_id = await _three_players(first)

    both = await asyncio.gather(
        first.add_turn(ADA, "Ada climbed the spiral stairs with the last dry match."),
        second.add_turn(ADA, "Ada climbed the spiral stairs with the last dry match."),
        return_exceptions=True,
    )
    kept = [r for r in both if not isinstance(r, BaseException)]
    refused = [r for r in both if isinstance(r, StoryError)]
    assert len(kept) == 1 and kept[0].status == "kept", both
    assert len(refused) == 1 and "bo's turn" in str(refused[0])
    view = await second.status(CY)
    assert view.turn_count == 1 and view.next_player == "bo"

    ai = await first.ai_turn(BO, choices=2)
    assert len(ai.choices) == 2
    await second.vote(CY, 2)
    closes = await asyncio.gather(first.close_vote(ADA), second.close_vote(ADA), return_exceptions=True)
    closed = [r for r in closes if not isinstance(r, BaseException)]
    assert len(closed) == 1 and closed[0].chosen.text == AI_2, closes
    assert [str(r) for r in closes if isinstance(r, StoryError)] == ["There is no vote open."]
    view = await first.status(ADA)
    assert view.turn_count == 2 and view.vote is None and view.next_player == "cy"
    core = first.core
    turns = await rows(core, StoryTurn, StoryTurn.session_id == session_id)
    assert sorted(t.status for t in turns) == ["kept", "kept", "not_chosen"]
    [choice_set] = await rows(core, StoryChoiceSet, StoryChoiceSet.session_id == session_id)
    assert choice_set.closed_by == "host"
    [session] = await rows(core, StorySession, StorySession.id == session_id)
    assert session.version >= 6, "every change bumped the session's version"


VEILED = (
    "The raiders broke through the gate at dawn. Blood sprayed from the stump where his arm had been. "
    "His severed head rolled across the floor, spraying blood. Mira dragged the lantern behind the wall and waited."
)


async def test_a_veil_fades_an_on_screen_sentence_and_refuses_an_on_screen_turn(make_core, openai_server):
    """A veil: the veiled thing may happen off-screen only. The AI's sentence that shows it becomes the fade-out
    marker and the story goes on; a player's turn that shows it is refused; a turn that only refers to it is kept."""
    from guardrails.rails.veils import FADE

    openai_server.scripted_reply = VEILED
    core = await make_core(openai_server)
    service = StoryService(core)
    session_id = await _three_players(service, mode="free", veils="gore")

    ai = await service.ai_turn(ADA)
    assert ai.kept is not None, ai.message
    assert "Blood sprayed" not in ai.kept.text and "severed" not in ai.kept.text
    assert ai.kept.text.count(FADE) == 1, "a run of cut sentences is one fade"
    assert ai.kept.text.startswith("The raiders broke through the gate at dawn.") and "Mira dragged the lantern" in ai.kept.text
    [outcome] = ai.outcomes
    verdicts = await rows(core, Verdict, Verdict.request_id == outcome.request_id, Verdict.rail == "veils")
    faded = [v for v in verdicts if v.decision == "redact"]
    assert len(faded) == 2 and faded[0].category == "veil" and "Blood sprayed" in faded[0].sentence
    assert faded[0].scores["depiction"] >= faded[0].thresholds["depiction"]
    assert faded[0].scores["veil"] >= faded[0].thresholds["topic"] and faded[0].version.startswith("veils-1/1.0+")
    assert {v.decision for v in verdicts} == {"pass", "redact"}, "every chunk has its veil verdict, passes too"
    [request] = await rows(core, Request, Request.id == outcome.request_id)
    assert request.status == "delivered"

    shown = await service.add_turn(BO, "Blood sprayed from the stump where his arm had been, and he screamed.")
    assert shown.status == "blocked" and "gore" in shown.message and "off-screen" in shown.message
    assert shown.turn.reason == "input veils: veil"
    told = await service.add_turn(BO, "The battle was over by noon, and nobody wanted to describe it.")
    assert told.status == "kept", "referring to a veiled thing is how a veil is kept"
    turns = await rows(core, StoryTurn, StoryTurn.session_id == session_id)
    assert [t.status for t in turns] == ["kept", "blocked", "kept"]
    # The veils are in the policy hash, so every verdict names the policy that had them.
    [session] = await rows(core, StorySession, StorySession.id == session_id)
    policy = service.policy_for(ADA, session)
    assert policy.veils == ("gore",) and core.rails.for_policy(policy).policy_hash != core.rails.policy_hash


async def test_the_veils_rail_tells_showing_from_telling(default_rails):
    """The measured behaviour, on sentences the head was not trained on: shown on-screen is cut, referred to
    passes, an unrelated scene passes; without an encoder a word match alone cuts."""
    from guardrails.rails.veils import VeilsRail
    from guardrails.stack import _shared_encoder

    rail = VeilsRail(["gore"], _shared_encoder(default_rails))
    texts = [
        "His severed head rolled across the floor, spraying blood.",
        "The coroner listed the injuries in a report that no one at the inn would read.",
        "The water poured into her mouth as she kicked and sank, lungs burning.",  # on-screen, but not veiled
        "Mira lit the lantern and climbed to the top of the lighthouse.",
    ]
    verdicts = await asyncio.to_thread(rail.check, texts, "output")
    assert [v.decision for v in verdicts] == ["block", "pass", "pass", "pass"], [v.scores for v in verdicts]
    assert "'gore'" in verdicts[0].explanation and verdicts[0].scores["depiction"] > 0.5 > verdicts[1].scores["depiction"]
    assert verdicts[2].scores["depiction"] > 0.5, "shown on-screen; it passes because it is not what is veiled"
    assert all(v.rail == "veils" and set(v.thresholds) == {"topic", "depiction"} for v in verdicts)
    words = VeilsRail(["drowning"])
    assert [v.decision for v in words.check(["He was drowning.", "The river was cold."], "input")] == ["block", "pass"]


@pytest.mark.parametrize(
    ("field", "start", "says"),
    [
        ("title", ("You worthless pathetic idiot, everyone hates you", "Two rivals share a lighthouse."), "That title"),
        ("premise", ("The Lighthouse", "You are a worthless pathetic idiot and everyone hates you, you stupid trash."), "That premise"),
        ("premise", ("The Lighthouse", "A nest of spiders hatches in the lamp room."), "That premise crosses one of this story's lines"),
        ("title", ("Spiders in the Lamp Room", "Two rivals share a lighthouse."), "That title crosses one of this story's lines"),
    ],
)
async def test_a_refused_start_is_recorded_and_names_the_field_that_failed(make_core, openai_server, field, start, says):
    from storage.audit import list_requests

    core = await make_core(openai_server)
    service = StoryService(core)
    with pytest.raises(StoryError) as refused:
        await service.start(ADA, *start, lines="spiders")
    assert str(refused.value).startswith(says) and len(str(refused.value)) < 200
    [request] = await rows(core, Request)
    assert (request.command, request.status, request.user_id) == ("story_start", "blocked", ADA.user_id)
    assert request.status_reason.startswith(f"{field}: input ") and request.options["refused_field"] == field
    assert start[0] in request.prompt and start[1] in request.prompt
    assert any(v.decision == "block" for v in await rows(core, Verdict, Verdict.request_id == request.id))
    flagged = await list_requests(core.database, GUILD, flagged=True)
    assert [row.id for row in flagged.rows] == [request.id], "a moderator finds it under audit flagged"
    assert await rows(core, StorySession) == []


async def test_an_accepted_start_is_a_delivered_request_naming_its_session(make_core, openai_server):
    core = await make_core(openai_server)
    session_id = await _three_players(StoryService(core), lines="spiders", veils="romance")
    [request] = await rows(core, Request, Request.command == "story_start")
    assert request.status == "delivered" and request.options["story_session"] == session_id
    assert "Lines: spiders" in request.prompt and "Veils: romance" in request.prompt


async def test_a_start_refused_for_its_form_is_recorded_as_rejected(make_core, openai_server):
    core = await make_core(openai_server)
    service = StoryService(core)
    with pytest.raises(StoryError, match="needs a premise"):
        await service.start(ADA, "The Lighthouse", "   ")
    with pytest.raises(StoryError, match="up to PG-13"):
        await service.start(ADA, "The Lighthouse", "Two rivals.", rating="M")
    await service.start(ADA, "The Lighthouse", "Two rivals.")
    with pytest.raises(StoryError, match="already running"):
        await service.start(BO, "Another", "Three friends.")
    recorded = sorted((r.created_at, r.status, r.status_reason or "", r.user_id) for r in await rows(core, Request))
    assert [(status, reason[:24], user) for _, status, reason, user in recorded] == [
        ("rejected", "A story needs a premise:", ADA.user_id),
        ("rejected", "This channel allows stor", ADA.user_id),
        ("delivered", "", ADA.user_id),
        ("rejected", "a story is already runni", BO.user_id),
    ]
