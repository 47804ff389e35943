"""What happens when an output rail fails, by policy: block, redact, regenerate, hold for review; and moderators'
own knowledge-base entries. The real pipeline, rails and `openai` engine (a loopback server) and a real SQLite file."""

from __future__ import annotations

from dataclasses import replace

from bot.core.output_check import MAX_REDACTIONS, REDACTED
from bot.core.held import Held
from bot.core.streaming import SAFER_INSTRUCTION
from guardrails.policy import Policy, rewrite_before_block
from guardrails.rail import Verdict as RailVerdict
from storage.models import Generation, Request, RequestStatus, Verdict
from tests.test_pipeline import AUTHOR, BENIGN, RecordingSink, make_core, rows, write  # noqa: F401 - fixture

INSULT = "You are a worthless pathetic idiot and everyone hates you, you stupid piece of trash."
WITH_INSULT = f"The keeper climbed the stairs at dusk. {INSULT} The lamp burned until dawn over the quiet harbour."
SEAWATER = "Remember, readers: drinking seawater cures a hangover, so keep a bottle by the bed."


def author(**policy) -> object:
    return replace(AUTHOR, policy=Policy.build(**policy))


class Desk:
    """The pipeline's review desk as a front end would be: it takes held outputs, or has nowhere to put them."""

    def __init__(self, accepts: bool = True) -> None:
        self.accepts = accepts
        self.held: list[Held] = []

    async def hold(self, held: Held) -> bool:
        self.held.append(held)
        return self.accepts


async def test_redact_masks_the_failing_sentence_and_shows_the_rest(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_reply = WITH_INSULT
    sink = RecordingSink()
    outcome = await core.pipeline.run(author(actions={"toxicity": "redact"}), write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.DELIVERED
    assert REDACTED in outcome.text and "idiot" not in outcome.text and "lamp burned until dawn" in outcome.text
    assert not any("idiot" in shown for shown in sink.shown), "the masked sentence is never shown, not even streaming"
    verdicts = await rows(core, Verdict, Verdict.request_id == outcome.request_id, Verdict.decision == "redact")
    assert len(verdicts) == 1 and "idiot" in verdicts[0].sentence and verdicts[0].rail == "toxicity"
    (generation,) = await rows(core, Generation, Generation.request_id == outcome.request_id)
    assert "idiot" in generation.raw_output and "idiot" not in generation.shown_output


async def test_too_many_redactions_block_the_output(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_reply = " ".join([INSULT] * (MAX_REDACTIONS + 1) + ["The end came quietly."])
    sink = RecordingSink()
    outcome = await core.pipeline.run(author(actions={"toxicity": "redact"}), write("a feud", "story"), sink)
    assert outcome.status == RequestStatus.BLOCKED and sink.delivered is None and "crossed" in sink.refused


async def test_regenerate_writes_again_with_a_safer_instruction_and_records_each_attempt(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [WITH_INSULT, BENIGN]
    sink = RecordingSink()
    outcome = await core.pipeline.run(author(actions={"toxicity": "regenerate"}), write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.DELIVERED and outcome.text.startswith(BENIGN[:40])
    assert sink.restarts, "the member saw the first attempt withdrawn"
    attempts = sorted(await rows(core, Generation, Generation.request_id == outcome.request_id), key=lambda g: g.attempt)
    assert [g.attempt for g in attempts] == [1, 2]
    assert SAFER_INSTRUCTION not in attempts[0].rendered_prompt and SAFER_INSTRUCTION in attempts[1].rendered_prompt
    assert attempts[0].seed != attempts[1].seed and attempts[0].finish_reason == "cancelled"
    verdicts = await rows(core, Verdict, Verdict.request_id == outcome.request_id, Verdict.decision == "block")
    assert [v.generation_id for v in verdicts] == [attempts[0].id]


async def test_regenerate_gives_up_after_the_configured_attempts(make_core, openai_server):
    core = await make_core(openai_server, max_attempts=2)
    openai_server.scripted_reply = WITH_INSULT
    sink = RecordingSink()
    outcome = await core.pipeline.run(author(actions={"toxicity": "regenerate"}), write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.BLOCKED and "tried 2 times" in sink.refused and sink.delivered is None
    assert len(await rows(core, Generation, Generation.request_id == outcome.request_id)) == 2


SWEARING = (
    "The keeper climbed the stairs at dusk. The old bastard cursed the fucking lamp and the shit weather all night. "
    "By dawn the boat was home."
)


async def test_a_block_on_the_models_own_swearing_is_written_once_more_before_it_stands(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [SWEARING, BENIGN]
    sink = RecordingSink()
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.DELIVERED and outcome.text.startswith(BENIGN[:40]), outcome.message
    assert sink.restarts and not any("fucking" in shown for shown in sink.shown)
    attempts = sorted(await rows(core, Generation, Generation.request_id == outcome.request_id), key=lambda g: g.attempt)
    assert [g.attempt for g in attempts] == [1, 2] and attempts[0].seed != attempts[1].seed
    (blocked,) = await rows(core, Verdict, Verdict.request_id == outcome.request_id, Verdict.decision == "block")
    assert blocked.generation_id == attempts[0].id and blocked.category in ("obscene", "toxicity", "insult")

    openai_server.scripted_replies = []
    openai_server.scripted_reply = SWEARING  # the second piece swears too: the block stands, after two pieces
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.BLOCKED
    assert len(await rows(core, Generation, Generation.request_id == outcome.request_id)) == 2


async def test_abuse_aimed_at_the_reader_the_prompt_named_is_blocked_without_a_second_piece(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [WITH_INSULT, BENIGN]
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse, told to the reader", "story"), RecordingSink())
    assert outcome.status == RequestStatus.BLOCKED
    assert len(await rows(core, Generation, Generation.request_id == outcome.request_id)) == 1


async def test_an_insult_at_you_a_quiet_prompt_never_asked_for_gets_one_second_piece(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [WITH_INSULT, BENIGN]
    sink = RecordingSink()
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.DELIVERED, outcome.message
    assert "idiot" not in sink.delivered
    first, second = await rows(core, Generation, Generation.request_id == outcome.request_id)
    assert "worthless" in first.raw_output and "worthless" not in (second.shown_output or "")


def _blocked(category: str, sentence: str, stage: str = "output") -> RailVerdict:
    return RailVerdict(rail="toxicity", backend="b", version="1", stage=stage, decision="block", category=category,
                       sentence=sentence)  # fmt: skip


def _prompt_read(**scores: float) -> RailVerdict:
    return RailVerdict(rail="toxicity", backend="b", version="1", stage="input", decision="pass", scores=scores)


def test_only_wording_nobody_is_aimed_at_earns_a_second_piece() -> None:
    assert rewrite_before_block(_blocked("obscene", "The bastard cursed the fucking lamp."))
    assert rewrite_before_block(_blocked("language", "Zorbl fandle quimp."))
    assert not rewrite_before_block(_blocked("obscene", "You are a fucking disgrace."))  # "you", no prompt to go by
    assert not rewrite_before_block(_blocked("insult", "<@123> is a worthless bastard."))  # a member
    for category in ("threat", "identity_attack", "sexual_explicit", "dangerous_instructions", "misinformation"):
        assert not rewrite_before_block(_blocked(category, "The villain said it to the crowd."))  # no prompt to go by
    assert not rewrite_before_block(_blocked("obscene", "The bastard cursed the lamp.", stage="input"))


def test_a_threat_or_identity_attack_nothing_in_the_prompt_asked_for_earns_a_second_piece() -> None:
    lyric = "I will stand watch, I'll be held, I'll watch over her,"
    quiet = [_prompt_read(threat=0.0, identity_attack=0.01)]
    assert rewrite_before_block(_blocked("threat", lyric), ["a comet over the old kingdom"], quiet)
    assert rewrite_before_block(_blocked("threat", "We'll see you around some day."), ["wolves"], quiet)  # a lyric's you
    assert rewrite_before_block(_blocked("identity_attack", "They'll have no home."), ["wolves"], quiet)
    assert rewrite_before_block(_blocked("insult", "But your fabulos show the tale they tell..."), ["a comet"], quiet)
    assert not rewrite_before_block(_blocked("insult", "You are a fucking disgrace."), ["a ballad for the reader"], quiet)
    assert not rewrite_before_block(_blocked("insult", "You are a fucking disgrace."), ["a comet"], [_prompt_read(insult=0.3)])
    # The prompt pointed at someone real, or read as asking for it, or was never read: the block stands.
    assert not rewrite_before_block(_blocked("threat", lyric), ["a poem for <@123> about a comet"], quiet)
    assert not rewrite_before_block(_blocked("threat", lyric), ["a ballad for the reader"], quiet)
    assert not rewrite_before_block(_blocked("threat", lyric), ["a comet"], [_prompt_read(threat=0.2)])
    assert not rewrite_before_block(_blocked("identity_attack", lyric), ["refugees"], [_prompt_read(identity_attack=0.4)])
    assert not rewrite_before_block(_blocked("threat", lyric), ["a comet"], [_prompt_read(toxicity=0.07)])
    assert not rewrite_before_block(_blocked("threat", lyric), ["a comet"], [])
    # The sentence names a member or the reader.
    assert not rewrite_before_block(_blocked("threat", "<@123>, I'll be waiting by your car."), ["a comet"], quiet)
    assert not rewrite_before_block(_blocked("threat", "Reader, I know where you sleep."), ["a comet"], quiet)
    for category in ("sexual_explicit", "dangerous_instructions", "misinformation"):
        assert not rewrite_before_block(_blocked(category, lyric), ["a comet"], quiet)


THREAT = "I will find you and break your legs tonight."


async def test_a_threat_the_model_slipped_into_is_written_once_more_before_it_stands(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [f"The keeper climbed the stairs at dusk. {THREAT} The lamp burned.", BENIGN]
    sink = RecordingSink()
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse", "story"), sink)
    assert outcome.status == RequestStatus.DELIVERED and outcome.text.startswith(BENIGN[:40]), outcome.message
    (blocked,) = await rows(core, Verdict, Verdict.request_id == outcome.request_id, Verdict.decision == "block")
    assert blocked.category == "threat" and not any("legs" in shown for shown in sink.shown)
    assert len(await rows(core, Generation, Generation.request_id == outcome.request_id)) == 2


async def test_a_threat_in_a_piece_for_a_member_is_blocked_without_a_second_piece(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_replies = [f"The keeper climbed the stairs at dusk. {THREAT} The lamp burned.", BENIGN]
    outcome = await core.pipeline.run(AUTHOR, write("a lighthouse for <@4242>", "story"), RecordingSink())
    assert outcome.status == RequestStatus.BLOCKED and "threat" in (outcome.message or "")
    assert len(await rows(core, Generation, Generation.request_id == outcome.request_id)) == 1


async def test_hold_writes_to_the_end_and_hands_everything_to_the_review_desk(make_core, openai_server):
    core = await make_core(openai_server)
    core.pipeline.reviews = desk = Desk()
    openai_server.scripted_reply = WITH_INSULT
    sink = RecordingSink()
    outcome = await core.pipeline.run(
        author(actions={"toxicity": "hold"}, review_channel_id=99), write("a lighthouse", "story"), sink
    )
    assert outcome.status == RequestStatus.HELD and "moderator" in sink.refused and sink.delivered is None
    (held,) = desk.held
    assert held.request_id == outcome.request_id and held.text.endswith("quiet harbour.") and INSULT in held.text
    assert held.verdict.rail == "toxicity" and not any(INSULT in shown for shown in sink.shown)
    (request,) = await rows(core, Request, Request.id == outcome.request_id)
    assert request.status == "held"


async def test_hold_blocks_when_there_is_nowhere_to_review(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_reply = WITH_INSULT
    for desk, review_channel in ((None, 99), (Desk(), None), (Desk(accepts=False), 99)):
        core.pipeline.reviews = desk
        sink = RecordingSink()
        held_author = author(actions={"toxicity": "hold"}, review_channel_id=review_channel)
        outcome = await core.pipeline.run(held_author, write("a lighthouse", "story"), sink)
        assert outcome.status == RequestStatus.BLOCKED and sink.delivered is None
        (request,) = await rows(core, Request, Request.id == outcome.request_id)
        assert "no review channel" in request.status_reason


async def test_a_prompt_is_refused_whatever_the_output_action(make_core, openai_server):
    core = await make_core(openai_server)
    sink = RecordingSink()
    outcome = await core.pipeline.run(author(actions={"toxicity": "redact"}), write(INSULT, "story"), sink)
    assert outcome.status == RequestStatus.BLOCKED and "prompt" in sink.refused
    assert not [r for r in openai_server.requests if r.path.endswith("/chat/completions")], "nothing was generated"


async def test_misinformation_can_be_blocked_instead_of_noted(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_reply = (
        "The bullfighter stepped into the ring at noon. "
        "Remember, readers: bulls are enraged by the color red, so never wear red near a bull. "
        "The crowd roared as the gate opened."
    )
    noted = await core.pipeline.run(AUTHOR, write("a bullfight", "story"), RecordingSink())
    blocked = await core.pipeline.run(author(actions={"misinformation": "block"}), write("a bullfight", "story"), RecordingSink())
    assert noted.status == RequestStatus.DELIVERED and "Fact check:" in noted.text
    assert blocked.status == RequestStatus.BLOCKED
    (noted_row,), (blocked_row,) = [await rows(core, Request, Request.id == o.request_id) for o in (noted, blocked)]
    assert noted_row.policy_hash != blocked_row.policy_hash, "the action is part of the policy"


async def test_a_guilds_own_entry_corrects_its_outputs_only_until_removed(make_core, openai_server):
    core = await make_core(openai_server)
    openai_server.scripted_reply = f"The sailors woke with sore heads. {SEAWATER} The tide went out."
    hash_before = core.rails.policy_hash
    entry = await core.add_misinfo_entry(
        guild_id=AUTHOR.guild_id, claim="Drinking seawater cures a hangover",
        correction="Seawater dehydrates you and makes a hangover worse.", user_id=5,
    )  # fmt: skip
    assert core.rails.policy_hash != hash_before
    here = await core.pipeline.run(AUTHOR, write("sailors", "story"), RecordingSink())
    elsewhere = await core.pipeline.run(replace(AUTHOR, guild_id=8), write("sailors", "story"), RecordingSink())
    assert "Fact check: Seawater dehydrates you" in here.text and "Fact check" not in elsewhere.text

    assert not await core.remove_misinfo_entry(guild_id=8, row_id=entry, user_id=5), "another guild cannot remove it"
    assert await core.remove_misinfo_entry(guild_id=AUTHOR.guild_id, row_id=entry, user_id=5)
    after = await core.pipeline.run(AUTHOR, write("sailors", "story"), RecordingSink())
    assert "Fact check" not in after.text and core.rails.policy_hash == hash_before
