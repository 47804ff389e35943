"""Build the misinformation knowledge base, its embeddings, its thresholds and its validation file.

    python -m training.build_misinfo_kb [--data PATH] [--kb-out JSONL] [--npz-out NPZ] [--validation-out CSV]

Reads TruthfulQA (Lin et al., ACL 2022, Apache-2.0; `--data`, default ../shared/data/misinfo_truthfulqa_train.csv:
label 1 = a false answer, a common misconception; `context` = the question) and writes
- guardrails/data/misinfo_kb.jsonl: one entry per false answer (name-completion riddles and first-person answers
  about the speaker left out): a self-contained false statement (`claim`, rewritten
  from question + answer by rule when the answer alone does not stand; the answer as given is kept in `original`),
  the best true answer as `correction`, all true answers of the question as `true_statements`, attribution. About
  a fifth of the questions (chosen by a hash of the question: split by question, never by row) are written with
  `split: "validation"`: `KnowledgeBase.load()` leaves them out unless asked (`include_validation=True`).
- guardrails/models/misinfo_kb.npz: the MiniLM embeddings of every claim and true statement (float16), and meta
  (hash of the .jsonl, encoder, thresholds chosen on a development set made from the KB's own questions).
- guardrails/data/misinfo_validation.csv (text, expected, source): held-out false claims in reader-facing framings
  (flag) and in-fiction framings (allow), true statements of the same questions asserted to the reader (allow) and
  ordinary fiction (allow). The templates here are not the ones used to pick thresholds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import random
import re
import sys
import time
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from training.loop import write_csv
from guardrails.claims.negation import lower_first, negations
from training.misinfo_claims import (
    NO_COMMENT,
    best_correction,
    correction_clauses,
    rewrite,
    upper_first,
    word_count,
)
from training.paths import GUARDRAILS_DATA, GUARDRAILS_MODELS, SHARED_DATA

DATA = SHARED_DATA / "misinfo_truthfulqa_train.csv"
KB_OUT = GUARDRAILS_DATA / "misinfo_kb.jsonl"
NPZ_OUT = GUARDRAILS_MODELS / "misinfo_kb.npz"
VALIDATION_OUT = GUARDRAILS_DATA / "misinfo_validation.csv"
COMMON_PATH = GUARDRAILS_DATA / "misinfo_common.psv"

SOURCE = "truthfulqa"
ATTRIBUTION = "TruthfulQA (Lin, Hilton and Evans, ACL 2022), via benedictflorance/truthfulqa_experiments 6fdfd382"
LICENSE = "Apache-2.0"
HOLDOUT_MOD = 5
"""crc32(question) % HOLDOUT_MOD == 0: the question is held out for validation (about 20%)."""
SEED = 20261129
MIN_CLAIM_WORDS = 4


def load_questions(path: Path = DATA) -> OrderedDict[str, dict[str, list[str]]]:
    questions: OrderedDict[str, dict[str, list[str]]] = OrderedDict()
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            q = questions.setdefault(row["context"].strip(), {"true": [], "false": []})
            bucket = q["false"] if row["label"].strip() == "1" else q["true"]
            if row["claim"].strip() and row["claim"].strip() not in bucket:
                bucket.append(row["claim"].strip())
    return questions


_FIRST_PERSON = re.compile(r"^(?:I|I'm|I've|I'd|I'll|My)\b")


def is_riddle(question: str) -> bool:
    """TruthfulQA's name-completion riddles ("... His name is "Elon" what?"): trick questions, not misconceptions a story
    would assert; their claims repeat the long clue, so true and false answers look alike to the encoder."""
    return bool(re.search(r"[.!]\s+[A-Z\"]", question))


def held_out(question: str) -> bool:
    return zlib.crc32(question.encode("utf-8")) % HOLDOUT_MOD == 0


def build_entries(questions: OrderedDict[str, dict[str, list[str]]]) -> list[dict]:
    entries = []
    for question, answers in questions.items():
        if not answers["false"] or not answers["true"] or is_riddle(question):
            continue
        group = f"tqa-{hashlib.sha256(question.encode()).hexdigest()[:8]}"
        correction_raw = best_correction(answers["true"])
        correction = rewrite(question, correction_raw) if word_count(correction_raw) < 5 else correction_raw
        true_statements = list(dict.fromkeys(
            rewrite(question, a) for a in answers["true"] if not NO_COMMENT.match(a)
        )) or [correction]  # fmt: skip
        if correction not in true_statements:
            true_statements.insert(0, correction)
        for a_index, answer in enumerate(answers["false"]):
            claim = rewrite(question, answer)
            if _FIRST_PERSON.match(answer):
                continue  # "I changed my mind about vaccines": about the speaker; in a story the "I" is a character
            if word_count(claim) < MIN_CLAIM_WORDS:
                continue  # "Just do it": too generic to match a story's sentences against
            entries.append({
                "id": f"{group}-{a_index}",
                "claim": claim,
                "correction": correction,
                "source": SOURCE,
                "attribution": ATTRIBUTION,
                "license": LICENSE,
                "question": question,
                "original": answer,
                "group": group,
                "true_statements": true_statements,
                "guild_id": None,
                "split": "validation" if held_out(question) else "kb",
            })  # fmt: skip
    return entries


# ---------------------------------------------------------------------------------------------------------------
# Common misconceptions written by Storyloom (guardrails/data/misinfo_common.psv): topic|claim|correction|source
# ---------------------------------------------------------------------------------------------------------------
COMMON_SOURCES: dict[str, tuple[str, str]] = {
    "wiki": ('Wikipedia, "List of common misconceptions" (restated in Storyloom\'s words)', "CC BY-SA 4.0"),
    "nhs": ("NHS (nhs.uk) health advice and myth-busting pages (restated)", "Open Government Licence v3.0"),
    "cdc": ("U.S. Centers for Disease Control and Prevention, myths and facts pages (restated)", "public domain (US government)"),
    "who": ("World Health Organization, Mythbusters and fact sheets (restated)", "CC BY-NC-SA 3.0 IGO"),
    "nci": ('U.S. National Cancer Institute, "Common Cancer Myths and Misconceptions" (restated)', "public domain (US government)"),
    "nasa": ("NASA science pages (restated)", "public domain (US government)"),
    "noaa": ("NOAA National Weather Service, lightning safety myths (restated)", "public domain (US government)"),
    "fda": ("U.S. Food and Drug Administration, consumer updates (restated)", "public domain (US government)"),
    "mayo": ("Mayo Clinic health information (facts restated, no text copied)", "facts only"),
    "rspca": ("RSPCA wildlife advice (facts restated, no text copied)", "facts only"),
}


def load_common(path: Path = COMMON_PATH) -> list[dict]:
    """One KB entry per line of the hand-written file, each its own group: its true statements are the correction,
    each of its clauses, and the claim's rule-made negations."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        topic, claim, correction, source = (part.strip() for part in line.split("|"))
        attribution, license_ = COMMON_SOURCES[source]
        group = f"common-{topic}-{hashlib.sha256(claim.encode()).hexdigest()[:8]}"
        entries.append({
            "id": group,
            "claim": claim,
            "correction": correction,
            "source": f"common:{source}",
            "attribution": attribution,
            "license": license_,
            "question": None,
            "original": None,
            "group": group,
            "true_statements": list(dict.fromkeys([correction, *correction_clauses(correction), *negations(claim)])),
            "guild_id": None,
            "split": "kb",
        })  # fmt: skip
    return entries


# ---------------------------------------------------------------------------------------------------------------
# Framings. TUNE_* build the development set (training questions) that picks thresholds; VAL_* build the
# validation file (held-out questions). They are written separately so validation does not reward memorised
# templates.
# ---------------------------------------------------------------------------------------------------------------
TUNE_READER = [
    "Science has confirmed it: {l}.",
    "Here's something everyone should know: {l}.",
    "{c}. Experts agree.",
    "A quick note for readers: {l}.",
    "Keep in mind that {l}.",
    "{c}.",
]
TUNE_FICTION = [
    "\"{c},\" the old sailor said, tapping his pipe.",
    "Her grandmother had always believed that {l}.",
    "In the enchanted forest of Myrr, the sprites taught that {l}.",
    "Tomas insisted that {l}, but he was mistaken.",
    "The villagers repeated the old superstition that {l}.",
    "'{c}!' shouted the goblin king.",
]
VAL_READER = [
    "Studies show that {l}.",
    "Remember, readers: {l}.",
    "It is a scientific fact that {l}.",
    "Did you know? {c}.",
    "{c}. Scientists agree on this.",
    "Here is a real-world tip for you: {l}.",
    "{c}.",
    "Fun fact for our readers: {l}.",
]
VAL_FICTION = [
    "'{c}!' Grandma warned as the children ran off.",
    "The old wizard believed that {l}.",
    "In the kingdom of Eldoria, every child was taught that {l}, though the court physicians knew better.",
    "\"{c},\" the pirate captain insisted, and his crew laughed at him.",
    "Marta swore that {l}, but she was wrong, of course.",
    "The villagers whispered an old superstition: {l}.",
    "According to the elves of the Silverwood, {l}.",
    "Detective Hale frowned. \"My uncle always said {l},\" he muttered.",
]
STORY_OPENERS = [
    "The caravan reached the oasis at dusk, and the camels drank for a long time.",
    "Rain hammered the windows of the lighthouse while Ada sorted the letters.",
    "The spaceship's engines hummed as the crew settled in for the long night.",
    "Old Pell swept the bakery floor and counted the coins twice.",
]


def _fill(template: str, claim: str) -> str:
    claim = claim.strip().rstrip(".")
    return template.format(c=upper_first(claim), l=lower_first(claim))


def framed(entries: list[dict], readers: list[str], fictions: list[str], rng: random.Random,
           per_claim: int = 2, claims_per_group: int = 2) -> list[tuple[str, str, str]]:  # fmt: skip
    """(text, expected, source) rows: each sampled claim in `per_claim` reader and `per_claim` fiction framings, and the
    group's correction (and another true statement) asserted to the reader."""
    from guardrails.text.units import split_units

    rows: list[tuple[str, str, str]] = []
    by_group: OrderedDict[str, list[dict]] = OrderedDict()
    for e in entries:
        by_group.setdefault(e["group"], []).append(e)
    for group, members in by_group.items():
        single = [e for e in members if len(split_units(e["claim"])) == 1 and "?" not in e["claim"]]
        for e in rng.sample(single, min(claims_per_group, len(single))):
            for template in rng.sample(readers, per_claim):
                text = _fill(template, e["claim"])
                if rng.random() < 0.25:  # sometimes the assertion sits inside a story
                    text = f"{rng.choice(STORY_OPENERS)} {text}"
                rows.append((text, "flag", f"truthfulqa-heldout:{e['id']}:reader"))
            for template in rng.sample(fictions, per_claim):
                rows.append((_fill(template, e["claim"]), "allow", f"truthfulqa-heldout:{e['id']}:fiction"))
        truths = members[0]["true_statements"]
        for truth in truths[:2]:
            template = rng.choice(readers)
            rows.append((_fill(template, truth), "allow", f"truthfulqa-heldout:{group}:true"))
    return rows


def ordinary_fiction(rng: random.Random, count: int, *, offset: int) -> list[tuple[str, str, str]]:
    """Ordinary (dark-but-benign) fiction sentences the project wrote for the toxicity rail."""
    from training.benign_fiction import benign_examples

    pool = [e for e in benign_examples() if e.kind not in ("chat", "short_reply", "dark_prompt")]
    pool = pool[offset::2]  # tuning and validation draw from disjoint halves
    return [(e.text, "allow", f"storyloom-written:{e.kind}") for e in rng.sample(pool, min(count, len(pool)))]


# ---------------------------------------------------------------------------------------------------------------
# Threshold choice on the development set
# ---------------------------------------------------------------------------------------------------------------
def choose_thresholds(rail, rows: list[tuple[str, str, str]]) -> tuple[dict[str, float], dict]:
    """Highest reader-facing recall with at most 5% of fiction-framed claims and 1% of the other negatives flagged."""
    texts = [t for t, _, _ in rows]
    from guardrails.claims.assertion import speech_units

    units = [speech_units(t) for t in texts]
    flat = list(dict.fromkeys(u for us in units for u in us))
    scores = dict(zip(flat, rail.score_sentences(flat), strict=True))
    kinds = [s.rsplit(":", 1)[-1] if s.startswith("truthfulqa") else "ordinary" for _, _, s in rows]
    best: tuple[float, dict, dict] | None = None
    for sim_t, margin_t, assert_t, comb_t in itertools.product(
        np.arange(0.55, 0.86, 0.025), (0.0, 0.02, 0.05, 0.08), (0.3, 0.4, 0.5, 0.6), (0.0, 0.3, 0.35, 0.4, 0.45, 0.5)
    ):
        th = {"misinformation": float(round(sim_t, 3)), "margin": margin_t, "assertion": assert_t, "combined": comb_t}
        flagged = [any(_flag(scores[u], th) for u in us) for us in units]
        rates = {}
        for kind in ("reader", "fiction", "true", "ordinary"):
            sel = [f for f, k in zip(flagged, kinds, strict=True) if k == kind]
            rates[kind] = sum(sel) / max(1, len(sel))
        if rates["fiction"] <= 0.05 and rates["true"] <= 0.05 and rates["ordinary"] <= 0.01:
            # ties go to the higher assertion gate: fewer sentences wait on the encoder
            key = rates["reader"] - 0.5 * rates["fiction"] - 0.5 * rates["true"] + 1e-4 * assert_t
            if best is None or key > best[0] + 1e-9:
                best = (key, th, rates)
    assert best is not None, "no threshold setting meets the development constraints"
    return best[1], best[2]


def _flag(s: dict, th: dict[str, float]) -> bool:
    return (s["similarity"] >= th["misinformation"] and s["margin"] >= th["margin"]
            and s["assertion"] >= th["assertion"] and s["combined"] >= th["combined"])  # fmt: skip


def read_validation(path: Path = VALIDATION_OUT) -> list[tuple[str, str, str]]:
    with path.open(newline="") as handle:
        return [(r["text"], r["expected"], r["source"]) for r in csv.DictReader(handle)]


def _kind(source: str) -> str:
    return source.rsplit(":", 1)[-1] if source.startswith("truthfulqa") else "ordinary"


def evaluate(rail, rows: list[tuple[str, str, str]], batch_size: int = 64) -> dict:
    """Flag rates per kind of row through the rail itself (reader = recall; fiction, true, ordinary = false catches)."""
    flagged: dict[str, list[bool]] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        for (_, _, source), verdict in zip(chunk, rail.check([t for t, _, _ in chunk], "output"), strict=True):
            flagged.setdefault(_kind(source), []).append(verdict.decision == "flag")
    out = {kind: {"n": len(v), "flagged": sum(v), "rate": round(sum(v) / max(1, len(v)), 4)} for kind, v in flagged.items()}
    return out


# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="TruthfulQA rows (default: %(default)s)")
    parser.add_argument("--kb-out", type=Path, default=KB_OUT, help="default: %(default)s")
    parser.add_argument("--npz-out", type=Path, default=NPZ_OUT, help="default: %(default)s")
    parser.add_argument("--validation-out", type=Path, default=VALIDATION_OUT, help="default: %(default)s")
    args = parser.parse_args(argv)
    kb_out, npz_out, validation_out = args.kb_out, args.npz_out, args.validation_out
    started = time.perf_counter()

    from guardrails.claims.knowledge_base import KnowledgeBase
    from guardrails.modeling.encoder import ENCODER_ID, SentenceEncoder
    from guardrails.rails.misinfo import MisinfoRail

    questions = load_questions(args.data)
    entries = build_entries(questions) + load_common()
    kb_out.parent.mkdir(parents=True, exist_ok=True)
    with kb_out.open("w") as handle:
        for e in entries:
            handle.write(json.dumps(e, ensure_ascii=False) + "\n")
    kb_digest = hashlib.sha256(kb_out.read_bytes()).hexdigest()[:12]
    train = [e for e in entries if e["split"] == "kb"]
    heldout = [e for e in entries if e["split"] == "validation"]
    n_q_train = len({e["group"] for e in train})
    n_q_val = len({e["group"] for e in heldout})
    print(f"{len(questions)} questions; KB {len(train)} claims from {n_q_train} questions; "
          f"held out {len(heldout)} claims from {n_q_val} questions")  # fmt: skip

    encoder = SentenceEncoder(precision="float32")
    texts = list(dict.fromkeys(t for e in entries for t in (e["claim"], *e["true_statements"])))
    embeddings = encoder.encode(texts)
    print(f"embedded {len(texts)} texts in {time.perf_counter() - started:.1f}s")

    # Development set on the KB's own (training) questions: picks thresholds.
    kb = KnowledgeBase.load(kb_out, embeddings_path=None)
    kb._text_emb.update(zip(texts, embeddings, strict=True))  # noqa: SLF001 - the builder owns both files
    rail = MisinfoRail(encoder, kb)
    rng = random.Random(SEED)
    tune_groups = sorted({e["group"] for e in train if not e["group"].startswith("common-")})
    tune_pick = set(rng.sample(tune_groups, min(150, len(tune_groups))))
    dev_rows = framed([e for e in train if e["group"] in tune_pick], TUNE_READER, TUNE_FICTION, rng, per_claim=2,
                      claims_per_group=1) + ordinary_fiction(rng, 300, offset=0)  # fmt: skip
    thresholds, dev_rates = choose_thresholds(rail, dev_rows)
    print(f"development set: {len(dev_rows)} rows; thresholds {thresholds}; flagged rates {dev_rates}")

    meta = {
        "kb_sha256": kb_digest,
        "encoder": ENCODER_ID,
        "thresholds": thresholds,
        "development_flag_rates": dev_rates,
        "data": str(args.data.name),
        "attribution": ATTRIBUTION,
        "license": LICENSE,
        "seed": SEED,
    }
    npz_out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        npz_out,
        embeddings=embeddings.astype(np.float16),
        texts=np.array(json.dumps(texts, ensure_ascii=False)),
        meta=np.array(json.dumps(meta)),
    )

    # Validation file: held-out questions only, templates not used for tuning.
    vrng = random.Random(SEED + 1)
    val_rows = framed(heldout, VAL_READER, VAL_FICTION, vrng, per_claim=2, claims_per_group=2)
    val_rows += ordinary_fiction(vrng, 300, offset=1)
    write_csv(validation_out, ["text", "expected", "source"], val_rows)
    print(f"wrote {kb_out.name} ({len(entries)} entries), {npz_out.name}, {validation_out.name} ({len(val_rows)} rows) "
          f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
