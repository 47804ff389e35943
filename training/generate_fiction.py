"""Generate benign negatives for the toxicity head from the bot's own model:
`python -m training.generate_fiction`.

Runs the shipped model (SmolLM2-135M-Instruct through `TransformersEngine`) on a fixed list of creative asks built
from the real prompt templates (`bot.core.prompts.render_write` / `sampling_for`, fixed seeds), splits every
generation into the units the rail scores (`guardrails.text.units.split_units`) and writes them to
guardrails/data/generated_fiction.txt:

    #| comment lines (model, template version, settings)
    @@ <generation id>\t<kind>\t<about>\t<genre>\t<tone>\t<seed>
    one unit per line (newlines inside a unit become " / "), deduplicated over the whole file

The `@@` lines keep whole generations together, so training can hold out whole generations (stories) for
validation. Units in EXCLUDED (the rare generated sentence that really is abusive) are dropped.

Reproducibility: asks and sampling seeds are fixed; the engine samples each request with its own seeded
generator, but batched bf16 matmuls on CPU can differ in the last bit with batch composition, so a rerun can
produce slightly different text. The committed file is the training input; rerun only to refresh it.
About 3-5 minutes on two CPU cores (~250 tokens/s total, 16 requests batched).

`--verse` writes guardrails/data/generated_verse.txt instead: poems (some in a named form) and lyrics as `/write`
shapes them (`bot.core.scaffolds.Scaffold`, line by line, the chorus repeated), on subjects of their own (none of
the stories' nor `bench writing`'s). Verse is full of bare imperatives ("Mark her here once more", "Hold the line")
that a head trained on the bot's prose may read as steps; no head trains on the file: the dangerous rail is measured
on it (tests/test_dangerous.py).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
from pathlib import Path

from training.paths import GENERATED_FICTION, GENERATED_VERSE, REPO_ROOT

MODEL_CACHE = REPO_ROOT / ".storyloom-cache" / "models"
SEED = 20261129
GENERATIONS = 512
CONCURRENCY = 16
LENGTH = "short"

KINDS = ("story", "poem", "lyrics", "script", "character", "scene")
SUBJECTS = (
    "a war that has lasted a hundred years", "a murder mystery in a snowed-in hotel", "a haunted house at the edge of town",
    "grief after losing a father", "a villain who wants to drown the city", "a knight facing a dragon",
    "a detective and a corrupt mayor", "a shipwreck in a storm", "a vampire in Victorian London",
    "a soldier writing home from the trenches", "a pirate mutiny", "a zombie outbreak in a small town",
    "a serial killer hunted by a rookie cop", "an assassin's last job", "a witch burned at the stake",
    "a battle between rival gangs", "a funeral in the rain", "a heist gone wrong", "a cursed doll",
    "a plague ship", "a betrayal between brothers", "a prison escape", "a ghost who cannot leave a lighthouse",
    "a dictator's fall", "a duel at dawn", "a monster under the bed", "revenge for a burned village",
    "a lonely robot", "a cat who rules a bakery", "first love at summer camp", "a road trip with grandma",
    "a garden in spring", "the ocean at night", "moving to a new city", "a dog waiting for its owner",
    "a wizard's apprentice", "a space station losing power", "a chess match with Death", "a small-town diner",
    "a breakup song", "a rainy afternoon", "a dragon who hoards books", "a mother and daughter reconciling",
    "a rebel singer with a bad reputation", "the last day of school", "a bar fight in a western saloon",
    "a cult in the mountains", "a poisoned king", "an old soldier's nightmares", "a bully who learns kindness",
)
VERSE_GENERATIONS = 192
VERSE_KINDS = ("poem", "lyrics")
VERSE_SUBJECTS = (
    "a sailor's wife waiting on the pier", "marching orders on the eve of battle", "a smith at the forge at midnight",
    "a queen who burns her enemies' letters", "wolves circling a winter camp", "a miner trapped underground",
    "the king's executioner at home", "a lullaby for a soldier's son", "a ferryman who takes no coin",
    "a flood rising through the valley", "a hunter tracking a white stag", "the night watch on the city wall",
    "a bell that rings for the drowned", "a witch teaching her daughter the old words", "a prisoner counting days",
    "harvest fires on the hills", "a captain going down with his ship", "an oath sworn over a sword",
    "a mother calling her children home", "a storm that takes the lighthouse", "a rebel's last speech",
    "a farewell at the border", "a miller grinding the last grain", "ravens over the battlefield",
    "a drummer boy's first march", "a widow planting roses", "a comet over the old kingdom", "a train into the mountains",
    "the blacksmith's daughter", "a desert caravan at dawn", "an old pirate's map", "a choir in an empty church",
    "dancing in the kitchen", "the city after the power goes out", "a runaway horse", "a love letter never sent",
    "a night shift at the hospital", "a boxer's last round", "the tide taking the sandcastle", "a fisherman's prayer",
    "a crown left in the snow", "a candle in the window", "ghosts at the wedding feast", "a gardener and the frost",
    "a spy crossing the bridge at night", "the last wolf in the valley", "a lantern festival", "a duel in the rain",
)
VERSE_FORMS = ("", "", " (a haiku)", " (a sonnet)", " (a limerick)")
"""Every third, fourth and fifth poem asks for a form by name, as members do."""
GENRES = (None, "fantasy", "horror", "science fiction", "mystery", "romance", "thriller", "western", "comedy", "noir", "gothic")
TONES = (None, "dark", "grim", "melancholic", "hopeful", "tense", "funny", "bittersweet", "eerie", "angry")

# Generated units that really are abusive (aimed at real people or groups) and must not be used as negatives.
# Matched case-insensitively on the whole unit; EXCLUDED_PATTERNS by regex search.
# Skimmed 2026-11-29 (seed 20261129): no unit was abuse aimed at people or groups; one garbled line mentioning rape
# is dropped by rule to keep sexual violence out of the negatives.
EXCLUDED: frozenset[str] = frozenset()
EXCLUDED_PATTERNS: tuple[str, ...] = (r"\brap(e|ed|es|ing|ist)\b",)


def asks() -> list[tuple[str, str, str | None, str | None, int]]:
    """(kind, about, genre, tone, seed), fixed by SEED; kinds rotate so each gets an equal share."""
    rng = random.Random(SEED)
    out = []
    for i in range(GENERATIONS):
        out.append((KINDS[i % len(KINDS)], rng.choice(SUBJECTS), rng.choice(GENRES), rng.choice(TONES), SEED + i))
    return out


def verse_asks() -> list[tuple[str, str, str | None, str | None, int]]:
    """(kind, about, genre, tone, seed) for `--verse`, fixed by SEED; poems and lyrics alternate."""
    rng = random.Random(SEED + 1)
    out = []
    for i in range(VERSE_GENERATIONS):
        kind = VERSE_KINDS[i % len(VERSE_KINDS)]
        about = rng.choice(VERSE_SUBJECTS) + (VERSE_FORMS[(i // 2) % len(VERSE_FORMS)] if kind == "poem" else "")
        out.append((kind, about, rng.choice(GENRES), rng.choice(TONES), SEED + 100_000 + i))
    return out


def excluded(unit: str) -> bool:
    low = unit.lower()
    return low in EXCLUDED or any(re.search(p, low) for p in EXCLUDED_PATTERNS)


async def generate(
    limit: int | None, skip: int = 0, model_cache: Path = MODEL_CACHE, verse: bool = False
) -> tuple[list[tuple[int, tuple, str]], str]:
    from bot.core.prompts import CreativeAsk, render_write, sampling_for
    from bot.core.scaffolds import Scaffold
    from bot.engines.base import Delta
    from bot.engines.models import SMOLLM2
    from bot.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(SMOLLM2, model_cache, batch_window_ms=20, max_batch_size=CONCURRENCY)
    await engine.start()
    todo = list(enumerate((verse_asks() if verse else asks())[:limit]))[skip:]
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    started = time.perf_counter()

    async def one(i: int, ask: tuple) -> tuple[int, tuple, str]:
        nonlocal done
        kind, about, genre, tone, seed = ask
        messages, params = render_write(CreativeAsk(kind, about, genre, tone, LENGTH)), sampling_for(kind, LENGTH, seed)
        async with gate:
            if verse:  # as /write shapes it: part by part, through the engine's own stream
                stream = Scaffold(engine, kind, LENGTH, about, genre).stream(messages, params, f"verse-{i}")
                text = "".join([event.text async for event in stream if isinstance(event, Delta)])
            else:
                text, _ = await engine.complete(messages, params, f"gen-{i}")
        done += 1
        if done % 32 == 0:
            print(f"  {done}/{len(todo)} generations in {time.perf_counter() - started:.0f}s", flush=True)
        return i, ask, text

    try:
        results = await asyncio.gather(*(one(i, a) for i, a in todo))
    finally:
        await engine.close()
    return list(results), SMOLLM2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verse", action="store_true", help=f"poems and lyrics as /write shapes them, to {GENERATED_VERSE.name}")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {GENERATED_FICTION} ({GENERATED_VERSE} with --verse)")
    parser.add_argument("--model-cache", type=Path, default=MODEL_CACHE, help="where the model is (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N asks (smoke test)")
    parser.add_argument(
        "--append-from", type=int, default=0, metavar="N",
        help="generate asks N.. only and append them to --out (deduplicated against it): the same file a full "
        "run makes, when GENERATIONS grew after the file was written",
    )
    args = parser.parse_args(argv)
    args.out = args.out or (GENERATED_VERSE if args.verse else GENERATED_FICTION)

    from bot.core.prompts import TEMPLATE_VERSION
    from bot.engines.models import SMOLLM2_FOLDER
    from guardrails.text.units import split_units

    started = time.perf_counter()
    results, model = asyncio.run(generate(args.limit, args.append_from, args.model_cache, args.verse))
    seen: set[str] = set()
    previous: list[str] = []
    if args.append_from:
        previous = [line for line in args.out.read_text(encoding="utf-8").splitlines() if not line.startswith("#|")]
        seen = {line.lower() for line in previous if not line.startswith("@@ ")}
    what = (
        "The bot's own poems and lyrics as /write shapes them (benign; measured on, never trained on)."
        if args.verse
        else "Benign negatives for the toxicity head: sentences written by the bot's own model."
    )
    lines = [
        f"#| {what}",
        f"#| model: {model} ({SMOLLM2_FOLDER}), prompts: bot.core.prompts TEMPLATE_VERSION {TEMPLATE_VERSION}, length {LENGTH}",
        f"#| generator: python -m training.generate_fiction{' --verse' if args.verse else ''} "
        f"(seed {SEED}, {args.append_from + len(results)} generations)",
        "#| format: '@@ id<TAB>kind<TAB>about<TAB>genre<TAB>tone<TAB>seed' starts a generation; one unit per line after it",
    ] + previous
    units = dropped = 0
    for i, (kind, about, genre, tone, seed), text in results:
        lines.append(f"@@ {i}\t{kind}\t{about}\t{genre or '-'}\t{tone or '-'}\t{seed}")
        for unit in split_units(text):
            unit = re.sub(r"\s*\n\s*", " / ", unit).strip()
            key = unit.lower()
            if len(unit) < 3 or key in seen:
                continue
            seen.add(key)
            if excluded(unit):
                dropped += 1
                continue
            lines.append(unit)
            units += 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {units} units ({dropped} excluded) from {len(results)} generations to {args.out} "
          f"in {time.perf_counter() - started:.0f}s")  # fmt: skip
    return 0


def load_generated(path: Path = GENERATED_FICTION) -> list[tuple[str, list[str]]]:
    """(generation id with its ask, units) per generation, as written by main()."""
    generations: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("@@ "):
            generations.append((line[3:], []))
        elif line.startswith("#|") or not line.strip():
            continue
        elif generations:
            if not excluded(line):
                generations[-1][1].append(line)
    return generations


if __name__ == "__main__":
    sys.exit(main())
