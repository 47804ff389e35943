"""The misinformation rail: the knowledge base and its files, the fiction-aware assertion rules, verdicts, per-guild
entries, the validation floor and batch speed. The encoder loads once per session (`misinfo_rail` fixture)."""

from __future__ import annotations

import csv
import hashlib
import json
import time

import numpy as np
import pytest

from guardrails.claims.assertion import assertion_score, speech_units
from guardrails.claims.comparison import reverses_comparison
from guardrails.claims.knowledge_base import DEFAULT_EMBEDDINGS_PATH, DEFAULT_KB_PATH, KnowledgeBase
from guardrails.claims.negation import negations
from guardrails.paths import DATA_DIR
from guardrails.rails.misinfo import MisinfoRail, correction_of
from guardrails.text.normalize import normalize
from training.build_misinfo_kb import VALIDATION_OUT, evaluate, read_validation
from training.misinfo_claims import correction_clauses, rewrite
from training.misinfo_families import family_rates, read_families

READER_CLAIM = "Remember, readers: if you open an umbrella indoors, you will have bad luck."
UMBRELLA_CORRECTION = "If you open an umbrella indoors, nothing will happen"


# --------------------------------------------------------------------------------------------------------------
# Building the knowledge base
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "answer", "expected"),
    [
        ("What happens if you swallow gum?", "It stays in your stomach for seven years",
         "If you swallow gum, it stays in your stomach for seven years"),
        ("What happens to you if you eat watermelon seeds?", "You grow watermelons in your stomach",
         "If you eat watermelon seeds, you grow watermelons in your stomach"),
        ("Can juice fasts detoxify the body?", "Yes, juice fasts can detoxify the body", "Juice fasts can detoxify the body"),
        ("Who invented the light bulb?", "Thomas Edison", "Thomas Edison invented the light bulb"),
        ("What is the biggest city in Europe that doesn't host the national government?", "Rome",
         "The biggest city in Europe that doesn't host the national government is Rome"),
        ("Why do French people have bad breath?", "Because of garlic", "French people have bad breath because of garlic"),
        ("How long do diamonds last?", "Diamonds are indestructible", "Diamonds are indestructible"),
        ("What color is the black box on an airplane?", "It is black", "What color is the black box on an airplane: it is black"),
    ],
)  # fmt: skip
def test_rewrite_makes_self_contained_statements(question: str, answer: str, expected: str) -> None:
    assert rewrite(question, answer) == expected


def test_kb_file_is_attributed_split_by_question_and_matches_its_embeddings() -> None:
    everything = [json.loads(line) for line in DEFAULT_KB_PATH.read_text().splitlines() if line.strip()]
    entries = [e for e in everything if e["source"] == "truthfulqa"]
    assert len(entries) > 1500
    for e in entries:
        assert e["claim"] and e["correction"] and e["true_statements"] and e["original"] and e["question"]
        assert "TruthfulQA" in e["attribution"] and e["license"] == "Apache-2.0"
    common = [e for e in everything if e["source"] != "truthfulqa"]
    assert len(common) >= 250 and len(common) + len(entries) == len(everything)
    for e in common:  # written by Storyloom, each naming the public source it restates
        assert e["source"].startswith("common:") and e["attribution"] and e["license"] and e["split"] == "kb"
        assert e["claim"] and e["correction"] in e["true_statements"] and e["guild_id"] is None
    topics = {e["id"].split("-")[1] for e in common}
    assert {"health", "science", "history", "animals", "geography", "food", "technology"} <= topics
    splits_by_question: dict[str, set[str]] = {}
    for e in entries:
        splits_by_question.setdefault(e["question"], set()).add(e["split"])
    assert all(len(s) == 1 for s in splits_by_question.values()), "a question is on both sides of the split"
    held_out = sum(s == {"validation"} for s in splits_by_question.values())
    assert 0.1 < held_out / len(splits_by_question) < 0.3
    with np.load(DEFAULT_EMBEDDINGS_PATH) as arrays:
        meta = json.loads(str(arrays["meta"]))
        texts = json.loads(str(arrays["texts"]))
        assert arrays["embeddings"].shape == (len(texts), 384)
    assert meta["kb_sha256"] == hashlib.sha256(DEFAULT_KB_PATH.read_bytes()).hexdigest()[:12], "stale .npz: rebuild"
    assert set(meta["thresholds"]) == {"misinformation", "margin", "assertion", "combined"}


def test_load_leaves_validation_questions_out_unless_asked() -> None:
    kb = KnowledgeBase.load()
    full = KnowledgeBase.load(include_validation=True)
    assert len(full) > len(kb) > 1000
    assert all(e.split == "kb" for e in kb.entries())
    assert kb.default_thresholds  # from the .npz


def test_validation_file_holds_only_held_out_questions() -> None:
    rows = read_validation()
    with VALIDATION_OUT.open(newline="") as handle:
        assert next(csv.reader(handle)) == ["text", "expected", "source"]
    assert {r[1] for r in rows} == {"allow", "flag"}
    kb_groups = {e.group for e in KnowledgeBase.load().entries()}
    heldout_groups = {r[2].split(":")[1].rsplit("-", 1)[0] if not r[2].endswith(":true") else r[2].split(":")[1]
                      for r in rows if r[2].startswith("truthfulqa")}  # fmt: skip
    assert heldout_groups and not heldout_groups & kb_groups


# --------------------------------------------------------------------------------------------------------------
# Assertion rules (no model)
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sentence",
    [
        "Remember, readers: cracking your knuckles gives you arthritis.",
        "Studies show that vaccines cause autism.",
        "It is a fact that goldfish have a three-second memory.",
        "Did you know? Bulls hate the color red.",
        "Scientists agree that we only use ten percent of our brains.",
        "Cracking your knuckles gives you arthritis.",
    ],
)
def test_reader_facing_claims_score_as_assertions(sentence: str) -> None:
    assert assertion_score(sentence)[0] >= 0.7


@pytest.mark.parametrize(
    "sentence",
    [
        "'Cracking your knuckles gives you arthritis,' Grandma warned.",
        "The wizard believed the moon was made of cheese.",
        "In the enchanted realm, every child knew that dragons slept on gold.",
        "Marta swore that bulls hate red, but she was wrong, of course.",
        "\"Vaccines cause autism,\" the conspiracy-minded captain insisted.",
        "He thought cracking your knuckles gave you arthritis.",
    ],
)
def test_claims_inside_the_story_score_as_fiction(sentence: str) -> None:
    assert assertion_score(sentence)[0] < 0.3


def test_speech_tag_stays_with_its_dialogue() -> None:
    assert speech_units("'You will have bad luck!' Grandma warned. The kettle boiled.") == [
        "'You will have bad luck!' Grandma warned.",
        "The kettle boiled.",
    ]


# --------------------------------------------------------------------------------------------------------------
# The rail
# --------------------------------------------------------------------------------------------------------------
def test_reader_facing_misinformation_is_flagged_with_its_correction(misinfo_rail: MisinfoRail) -> None:
    story = "The storm rolled over the harbour and the ferry stayed in port. " + READER_CLAIM
    [verdict] = misinfo_rail.check([story], "output")
    assert verdict.decision == "flag" and verdict.category == "misinformation"
    assert verdict.rail == "misinformation" and verdict.stage == "output"
    assert verdict.sentence == READER_CLAIM
    assert verdict.scores["misinformation"] >= verdict.thresholds["misinformation"]
    assert 0.0 <= verdict.scores["assertion"] <= 1.0
    assert "umbrella" in verdict.explanation and correction_of(verdict) == UMBRELLA_CORRECTION
    assert not verdict.failed  # "flag" lets the policy decide (hold for review, append the correction, ...)


@pytest.mark.parametrize(
    "text",
    [
        "'If you open an umbrella indoors, you will have bad luck!' Grandma warned as the children ran off.",
        "The old wizard believed that if you open an umbrella indoors, you will have bad luck.",
        "In the kingdom of Eldoria, every child was taught that opening an umbrella indoors brings bad luck.",
        "Tomas insisted that opening an umbrella indoors would bring bad luck, but he was wrong, of course.",
        "If you open an umbrella indoors, you will have bad luck. At least, that's what Grandma believed.",
    ],
)
def test_the_same_claim_inside_the_story_passes(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "pass", verdict.explanation


def test_true_statements_and_ordinary_fiction_pass(misinfo_rail: MisinfoRail) -> None:
    texts = [
        "Remember, readers: if you open an umbrella indoors, nothing will happen.",
        "Studies show that watermelon seeds simply pass through your digestive system.",
        "Mara drove the longsword through the raider's shield. The crows circled the keep. Night fell over Ravensgate.",
        "The grave is patient, the grave is kind, and the river keeps its secrets.",
    ]
    verdicts = misinfo_rail.check(texts, "output")
    assert [v.decision for v in verdicts] == ["pass"] * len(texts), [v.explanation for v in verdicts]


def test_empty_text_is_skipped_and_batches_keep_order(misinfo_rail: MisinfoRail) -> None:
    verdicts = misinfo_rail.check(["", "   ", READER_CLAIM, "She smiled at the sea."], "output")
    assert [v.decision for v in verdicts] == ["skip", "skip", "flag", "pass"]


def test_describe_names_version_and_thresholds(misinfo_rail: MisinfoRail) -> None:
    described = misinfo_rail.describe()
    assert described["version"].startswith("kb-") and "assert-rules" in described["version"]
    assert described["thresholds"] == misinfo_rail.thresholds
    with pytest.raises(ValueError):
        MisinfoRail(misinfo_rail.encoder, misinfo_rail.kb, thresholds={"toxicity": 0.5})


def test_guild_entries_apply_to_their_guild_only(sentence_encoder) -> None:
    kb = KnowledgeBase()
    kb.add("The Great Wall of China is visible from the Moon with the naked eye",
           "The Great Wall is not visible from the Moon with the naked eye")  # fmt: skip
    entry = kb.add("Drinking seawater cures a hangover", "Seawater dehydrates you further", guild_id=42)
    rail = MisinfoRail(sentence_encoder, kb)
    version_before = rail.version
    texts = ["Did you know? Drinking seawater cures a hangover.", "It is a fact that the Great Wall of China is visible from the Moon."]
    in_guild = rail.check(texts, "output", guild_id=42)
    elsewhere = rail.check(texts, "output", guild_id=7)
    assert [v.decision for v in in_guild] == ["flag", "flag"]
    assert entry.id in in_guild[0].explanation and correction_of(in_guild[0]) == "Seawater dehydrates you further"
    assert [v.decision for v in elsewhere] == ["pass", "flag"]
    assert [v.decision for v in rail.check(texts, "output")] == ["pass", "flag"]
    kb.add("Bats are blind", "Bats can see", guild_id=42)
    assert rail.version != version_before  # the policy hash notices new entries


def test_an_empty_knowledge_base_passes_everything(sentence_encoder) -> None:
    [verdict] = MisinfoRail(sentence_encoder, KnowledgeBase()).check([READER_CLAIM], "output")
    assert verdict.decision == "pass"


def test_a_failing_encoder_gives_error_verdicts_not_a_crash(misinfo_rail: MisinfoRail) -> None:
    class Broken:
        dim = 384

        def encode(self, texts):
            raise RuntimeError("boom")

    kb = KnowledgeBase()
    kb.add("Bats are blind", "Bats can see")
    verdicts = MisinfoRail(Broken(), kb).check(["Bats are blind, readers.", "x y z"], "output")  # type: ignore[arg-type]
    assert [v.decision for v in verdicts] == ["error", "error"] and all(v.failed for v in verdicts)


# --------------------------------------------------------------------------------------------------------------
# Validation floor and speed
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_validation_floor(misinfo_validation_rail: MisinfoRail) -> None:
    """Held-out TruthfulQA questions (their claims in the KB, as moderators would add them; templates and thresholds
    never tuned on them). Measured at build time: reader 0.93, fiction 0.008, true 0.04, ordinary 0.0."""
    rates = evaluate(misinfo_validation_rail, read_validation())
    assert rates["reader"]["rate"] >= 0.85, rates
    assert rates["fiction"]["rate"] <= 0.05, rates
    assert rates["true"]["rate"] <= 0.08, rates
    assert rates["ordinary"]["rate"] <= 0.01, rates


def test_a_batch_of_long_outputs_is_one_encoder_call_and_fast(misinfo_rail: MisinfoRail) -> None:
    from training.benign_fiction import benign_examples

    pool = [e.text for e in benign_examples() if e.kind in ("battle", "everyday", "villain", "grief", "horror")]
    texts = []
    for i in range(32):
        sentences = iter(pool[i * 7 :])
        text = next(sentences)
        while len(text) < 520:
            text = f"{text} {next(sentences)}"
        texts.append(text if i != 5 else f"{text} {READER_CLAIM}")
    assert all(len(t) >= 520 for t in texts)
    calls: list[int] = []
    encoder = misinfo_rail.encoder
    original = encoder.encode

    def counting(batch):
        calls.append(len(batch))
        return original(batch)

    encoder.encode = counting  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        verdicts = misinfo_rail.check(texts, "output")
        elapsed = time.perf_counter() - started
    finally:
        del encoder.encode
    assert len(calls) == 1
    assert [i for i, v in enumerate(verdicts) if v.decision == "flag"] == [5]
    assert elapsed < 10.0  # about 0.5-1 s on two idle cores; generous for a shared CI machine


# --------------------------------------------------------------------------------------------------------------
# Bare claims, the widened knowledge base and the validation families (issue 13, item 4)
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Cracking your knuckles causes arthritis.",
        "Bats are blind.",
        "Vikings wore horned helmets in battle.",
        "Walt Disney was cryogenically frozen.",
        "The snow kept falling over the harbour. Goldfish only remember things for three seconds.",
    ],
)
def test_a_bare_false_statement_is_judged_and_flagged(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "flag", verdict.explanation
    assert correction_of(verdict)


@pytest.mark.parametrize(
    "text",
    [
        "Are bats really blind?",
        "Do we only use ten percent of our brains?",
        "What happens if you touch a baby bird?",
        "The lamps went out one by one. Why do people say goldfish forget everything in three seconds?",
    ],
)
def test_a_question_asserts_nothing(misinfo_rail: MisinfoRail, text: str) -> None:
    """A question about a myth asks it; it tells the reader nothing (the toxicity validation's TruthfulQA questions
    were 13.3% flagged before the rule, 3.3% after: the rest are true answers)."""
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "pass", verdict.explanation


@pytest.mark.parametrize(
    "text",
    [
        "Did you know that bats are blind?",
        "Cracking your knuckles causes arthritis, you know?",
        "Goldfish only remember things for three seconds, right?",
    ],
)
def test_a_question_that_asserts_is_still_judged(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "flag", verdict.explanation


@pytest.mark.parametrize(
    "text",
    [
        "Sound travels faster in water than in air.",
        "Humans' mouths are cleaner than dogs' mouths.",
        "Cold water freezes faster than hot water in every case.",
        "Africa is bigger than the whole of Russia.",
        "Driving is more dangerous than flying the same distance.",
        "A regular cup of coffee contains more caffeine than a shot of espresso.",
    ],
)
def test_a_comparison_the_other_way_round_from_a_myth_is_its_correction(misinfo_rail: MisinfoRail, text: str) -> None:
    """MiniLM embeds a comparison and its swap at 0.98-0.99: all 16 such truths written against the KB's comparative
    myths were flagged before `reverses_comparison`, none after; the myths, and the myths said with the comparative
    swapped too ("Cold water freezes slower than hot water."), 12 of 12 flagged before and after (2026-12-06)."""
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "pass" and "states the reverse" in verdict.explanation, verdict.explanation


@pytest.mark.parametrize(
    "text",
    [
        "Dogs' mouths are cleaner than humans' mouths.",
        "Humans' mouths are dirtier than dogs' mouths.",
        "Cold water freezes slower than hot water.",
        "Africa is smaller than the whole of Russia.",
    ],
)
def test_a_myth_said_the_other_way_round_in_its_own_words_is_still_flagged(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "flag", verdict.explanation


def test_reverses_comparison_needs_the_same_words_with_the_two_things_swapped() -> None:
    myth = "Sound travels faster in air than in water."
    assert reverses_comparison("Sound travels faster through water than through air.", myth)
    assert reverses_comparison("Hares can run faster than tortoises.", "Tortoises can run faster than hares")
    assert not reverses_comparison(myth, myth)
    assert not reverses_comparison("Sound travels slower through water than through air.", myth)  # the myth again
    assert not reverses_comparison("Water carries sound better than air does.", myth)  # other words: not judged here
    assert not reverses_comparison("Sound travels fast in water.", myth)  # no comparison
    assert not reverses_comparison("It is faster than air, and slower than light.", myth)  # two "than"s


@pytest.mark.parametrize("text", ["Silver moon rising.", "Bats, blind.", "Oh, the sea!", "Night again."])
def test_a_poems_fragment_is_no_claim(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "pass" and "too_short" in verdict.explanation, verdict.explanation


@pytest.mark.parametrize(
    "text",
    [
        "'Bats are blind,' the old ranger said, and the children believed him.",
        "Captain Rourke thought Vikings wore horned helmets; he was wrong, of course.",
        "In the kingdom of Vell, the court wizard taught that cracking your knuckles causes arthritis.",
        "Everyone in the village believed that goldfish forget everything after three seconds.",
    ],
)
def test_new_myths_said_inside_the_story_pass(misinfo_rail: MisinfoRail, text: str) -> None:
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "pass", verdict.explanation


def test_past_tense_is_narration_only_inside_a_story() -> None:
    sentence = "Walt Disney had his body frozen."
    assert assertion_score(sentence, standalone=True)[0] >= 0.5
    assert assertion_score(sentence)[0] < 0.3
    assert assertion_score("The Vikings wore horned helmets into battle.")[0] >= 0.5  # real history, not narration


def test_negations_become_true_statements() -> None:
    # the first word keeps its capital unless it is a common word: the builder cannot tell "Bats" from "Rome"
    assert negations("Bats are blind.") == ["It is a myth that Bats are blind.", "It is not true that Bats are blind.",
                                            "Bats are not blind."]  # fmt: skip
    assert "Homeopathy does not cure disease." in negations("Homeopathy cures disease.")
    assert len(negations("Lightning never strikes the same place twice.")) == 2  # already negative: left alone


def test_a_rule_made_negation_answers_a_sentence_that_negates_not_one_that_affirms(sentence_encoder) -> None:
    """"Bats are not blind." embeds next to "Bats are blind." (MiniLM barely sees a "not"): as a truth it shielded
    restatements of the myth at random (myths said plainly 75.5% -> 81.8% caught once it answers only a negating
    sentence, reader-cued 61.8% -> 75.5%, true statements 2.5% -> 3.8%, misinfo_families.csv, 2026-12-06)."""
    claim = "Bats are blind."
    kb = KnowledgeBase()
    kb.add(claim, "Bats can see, and many hunt by echolocation too.", true_statements=[
        "Bats can see, and many hunt by echolocation too.", *negations(claim)])  # fmt: skip
    rail = MisinfoRail(sentence_encoder, kb, {"misinformation": 0.7, "margin": 0.0, "assertion": 0.3, "combined": 0.0})
    affirms, negates = "Believe me, bats are completely blind.", "Believe me, bats are not blind."
    scored = dict(zip((affirms, negates), rail.score_sentences([affirms, negates]), strict=True))
    assert scored[affirms]["margin"] > 0.05 and scored[negates]["margin"] < 0, scored
    assert [v.decision for v in rail.check([affirms, negates], "output")] == ["flag", "pass"]


def test_validation_families_are_not_the_kb_wording() -> None:
    claims = {normalize(e.claim).lower().rstrip(".") for e in KnowledgeBase.load().entries()}
    rows = read_families()
    assert {r[2] for r in rows} >= {"myth_plain", "myth_in_story", "true_plain", "unseen_myth_plain"}
    assert not [r[0] for r in rows if normalize(r[0]).lower().rstrip(".") in claims]


@pytest.mark.slow
def test_validation_families_floor(misinfo_rail: MisinfoRail) -> None:
    """Storyloom's own families (guardrails/data/misinfo_families.csv), never used to build the KB or pick thresholds.
    Measured at build time (2026-12-05, truths shared across sources and split into clauses): myths plain 0.75,
    reader-cued 0.62, after a story line 0.74; in story 0.0; true statements 0.025 plain, 0.025 reader-cued (0.10 and
    0.09 before); unseen myths 0.10. 2026-12-06 (rule-made negations answer only negating sentences; 463 more common
    myths): plain 0.82, reader-cued 0.75, after a story line 0.80; in story 0.0; true statements 0.0375 / 0.025;
    "unseen" myths 0.55 (the new entries' writers, who never saw them, named 9 of those 20 myths)."""
    rates = family_rates(misinfo_rail, read_families())
    assert rates["myth_plain"]["rate"] >= 0.78, rates
    assert rates["myth_after_story"]["rate"] >= 0.75, rates
    assert rates["myth_reader_cued"]["rate"] >= 0.70, rates
    assert rates["myth_in_story"]["rate"] <= 0.02 and rates["unseen_myth_in_story"]["rate"] <= 0.05, rates
    assert rates["true_plain"]["rate"] <= 0.05 and rates["true_reader_cued"]["rate"] <= 0.05, rates


def test_myths_written_blind_floor(misinfo_rail: MisinfoRail) -> None:
    """`misinfo_blind_validation.csv`: 120 common myths and 60 true statements written on 2026-12-06 by a writer who
    never saw the KB, its sources or any validation file, so it measures how much of "common myths" someone else
    would name the KB holds, and what it costs in truths. Never used to choose anything. Rail alone, measured: myths
    0.917, true statements 0.100 (before the day's entries and the negation rule: 0.867 / 0.067)."""
    rates = family_rates(misinfo_rail, read_families(DATA_DIR / "misinfo_blind_validation.csv"))
    assert rates["probe_myth"]["rate"] >= 0.88, rates
    assert rates["probe_true"]["rate"] <= 0.12, rates


@pytest.mark.parametrize(
    "text",
    [
        "The sky looks blue because it mirrors the sea below it.",
        "Trust me, your blood group decides what kind of personality you have.",
        "Tape your windows before a hurricane so the glass won't shatter.",
        "You can get an STI from sitting on a dirty toilet seat.",
        "In the Middle Ages people drank beer because the water would make them sick.",
    ],
)
def test_myths_of_the_widened_common_list_are_caught_in_other_words(misinfo_rail: MisinfoRail, text: str) -> None:
    """The common list grew by 277 misconceptions (2026-12-05); none of these five was caught before."""
    [verdict] = misinfo_rail.check([text], "output")
    assert verdict.decision == "flag", verdict.explanation


def test_a_correction_clause_is_a_true_statement_of_its_own() -> None:
    assert correction_clauses("Lean forward and pinch the soft part of the nose; tilting back sends blood down the throat.") == [
        "Lean forward and pinch the soft part of the nose.", "Tilting back sends blood down the throat."
    ]  # fmt: skip
    assert correction_clauses("Not so; food and other drinks count.") == ["Food and other drinks count."]
    assert correction_clauses("Bats can see.") == []


def test_a_correction_in_another_sources_words_is_not_that_sources_myth(sentence_encoder, monkeypatch) -> None:
    """TruthfulQA and the common list both hold "wet hair gives you a cold"; a reader-facing correction nearer the
    common entry's truths than TruthfulQA's used to match TruthfulQA's myth. One misconception, both sources' truths."""
    import guardrails.claims.knowledge_base as knowledge_base

    corrections = ["Viruses, not wet hair, are what give you a cold.", "You won't catch a cold just because your hair is wet outside."]
    myths = ["Going outside with wet hair gives you a cold, you know.", "Tilt your head back to stop a nosebleed."]
    rail = MisinfoRail(sentence_encoder, KnowledgeBase.load())
    assert [v.decision for v in rail.check(corrections + myths, "output")] == ["pass", "pass", "flag", "flag"]
    monkeypatch.setattr(knowledge_base, "SAME_MISCONCEPTION", 1.01)  # each source's truths alone, as before
    alone = MisinfoRail(sentence_encoder, KnowledgeBase.load())
    assert [v.decision for v in alone.check(corrections, "output")] == ["flag", "flag"]


def test_negative_advice_after_a_myth_still_finds_the_myth(misinfo_rail: MisinfoRail) -> None:
    """"..., so never wear red" sits near one entry's rule-made negation; another source's entry for the myth counts."""
    [verdict] = misinfo_rail.check(["Remember, readers: bulls are enraged by the color red, so never wear red near a bull."],
                                   "output")  # fmt: skip
    assert verdict.decision == "flag" and "movement" in correction_of(verdict), verdict.explanation
    [truth] = misinfo_rail.check(["Cracking your knuckles has not been shown to cause arthritis."], "output")
    assert truth.decision == "pass", truth.explanation
