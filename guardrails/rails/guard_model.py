"""The guard-model rail: a safety model (Llama Guard 3 or ShieldGemma) asked in its own published prompt format.

Optional, for deployments with a GPU: off unless `STORYLOOM_GUARD_MODEL` names the model. The embedded rails stay
the default and judge on their own; this rail is added beside them on both stages (`bot.core.app.load_rails`).

The prompt is rendered here, as the model card publishes it, and sent as a plain completion (`POST /v1/completions`
of `vllm serve` or any OpenAI-compatible server, or `vllm.LLM.generate` in this process), so the categories it
judges against are ours to choose (a rating drops sexual content at M) and the stage picks the role (the formats:
`guardrails/modeling/guard_formats.py`).

Where the server returns log-probabilities of the first token, the verdict's score is the probability of "unsafe"
(or "Yes") between the two answers, and the decision is that score against the threshold; otherwise the decision
is the answer's text and no score is recorded. Each answer is mapped onto Storyloom's categories (`LLAMA_GUARD_3`,
`SHIELDGEMMA`). A model that cannot be reached, times out or answers something unreadable gives "error" for that
text, which the policy treats like any rail that could not judge: it fails closed.

The clients (a served model over HTTP, or vLLM in this process): `guardrails/modeling/guard_clients.py`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from guardrails.modeling.guard_clients import (
    Completion,
    GuardClient,
    GuardModelError,
    OpenAIGuardClient,
    VLLMGuardClient,
    short_error,
)
from guardrails.modeling.guard_formats import (
    ANSWER_TOKENS,
    CATALOGUES,
    FORMATS,
    LANGUAGES,
    LLAMA_GUARD_3_OFF_BY_DEFAULT,
    OFF_AT_M,
    Format,
    GuardCategory,
    llama_guard_3_prompt,
    shieldgemma_prompt,
    two_way,
)
from guardrails.rail import Stage, Verdict
from guardrails.ratings import DEFAULT_RATING, Rating

log = logging.getLogger(__name__)


class GuardModelSettings(Protocol):
    """What `GuardModelRail.from_settings` reads (`bot.config.Settings` has it): the guard model and how to reach it."""

    guard_model: str
    guard_model_format: Format
    guard_model_urls: list[str]
    guard_model_api_key: Any
    """A secret (`get_secret_value()`) or None."""
    guard_model_categories: list[str]
    guard_model_threshold: float
    guard_model_timeout_s: float
    guard_model_concurrency: int
    guard_model_gpu_memory: float
    engine: str
    engine_urls: list[str]
    engine_api_key: Any

VERSION = "guard-1"
"""The prompt formats (`guardrails/modeling/guard_formats.py`) and the answer parsing here; the model id is recorded beside it in each verdict's version."""
NAME = "guard_model"
UNSAFE = "unsafe"
"""The score and category of an "unsafe" answer that names no category this rail enforces."""
DEFAULT_THRESHOLD = 0.5


class GuardModelRail:
    """Asks a guard model about each text, on either stage, and maps its answer onto Storyloom's categories."""

    name = NAME

    def __init__(
        self,
        client: GuardClient,
        model: str,
        *,
        format: Format = "llamaguard3",  # noqa: A002 - the settings' word for it
        categories: Sequence[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        rating: Rating = DEFAULT_RATING,
    ) -> None:
        """`categories`: the model's own codes to judge against (`S1`.., or ShieldGemma's `dangerous`, `harassment`,
        `hate`, `sexual`); default all but `LLAMA_GUARD_3_OFF_BY_DEFAULT`."""
        if format not in CATALOGUES:
            raise ValueError(f"unknown guard model format {format!r}; one of {', '.join(FORMATS)}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"a threshold is a probability between 0 and 1 (above 0), not {threshold:g}")
        catalogue = CATALOGUES[format]
        known = {entry.code: entry for entry in catalogue}
        if categories is None:
            chosen = [entry for entry in catalogue if entry.code not in LLAMA_GUARD_3_OFF_BY_DEFAULT]
        else:
            unknown = [code for code in categories if code not in known]
            if unknown:
                raise ValueError(f"{format} has no categories {', '.join(unknown)}; it has {', '.join(known)}")
            chosen = [known[code] for code in dict.fromkeys(categories)]
        if not chosen:
            raise ValueError("the guard model needs at least one category to judge")
        self.client = client
        self.model = model
        self.format: Format = format
        self.threshold = float(threshold)
        self.rating: Rating = rating
        self.categories: tuple[GuardCategory, ...] = tuple(chosen)
        self.languages: frozenset[str] = LANGUAGES[format]
        """Languages the model card says it judges; another rail may route text in other languages elsewhere."""
        self.backend_name = format
        self.version = f"{VERSION}:{model}"[:64]

    @classmethod
    def from_settings(cls, settings: GuardModelSettings) -> GuardModelRail | None:
        """The rail `STORYLOOM_GUARD_MODEL*` describes, or None when no guard model is configured."""
        if not settings.guard_model:
            return None
        client: GuardClient
        urls = settings.guard_model_urls or (settings.engine_urls if settings.engine == "openai" else [])
        if urls:
            key = settings.guard_model_api_key or (None if settings.guard_model_urls else settings.engine_api_key)
            client = OpenAIGuardClient(
                urls, settings.guard_model, api_key=key.get_secret_value() if key else None,
                timeout_s=settings.guard_model_timeout_s, concurrency=settings.guard_model_concurrency,
            )  # fmt: skip
        elif settings.engine == "vllm":
            client = VLLMGuardClient(settings.guard_model, gpu_memory_utilization=settings.guard_model_gpu_memory)
        else:
            raise ValueError(
                "STORYLOOM_GUARD_MODEL needs STORYLOOM_GUARD_MODEL_URLS (an OpenAI-compatible server), "
                "or STORYLOOM_ENGINE=openai or vllm to serve it"
            )
        return cls(
            client, settings.guard_model, format=settings.guard_model_format,
            categories=settings.guard_model_categories or None, threshold=settings.guard_model_threshold,
        )  # fmt: skip

    # -- the rail interface -------------------------------------------------------------------------------------

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "version": VERSION,
            "model": self.model,
            "thresholds": {UNSAFE: self.threshold},
            "categories": {entry.code: entry.category for entry in self._judged()},
            "languages": sorted(self.languages),
        }

    def with_thresholds(self, overrides: Mapping[str, float]) -> GuardModelRail:
        """Moderators' thresholds move the embedded scorers; the guard model's line is the operator's setting."""
        return self

    def for_rating(self, rating: Rating) -> GuardModelRail:
        """The rail as it judges in a channel of `rating` (`guardrails.ratings.rated_rail`)."""
        if rating == self.rating:
            return self
        rated = copy.copy(self)  # the same client: one connection pool whatever the channels' ratings
        rated.rating = rating
        return rated

    def close(self) -> None:
        self.client.close()

    def check(self, texts: Sequence[str], stage: Stage) -> list[Verdict]:
        started = time.perf_counter()
        judged = self._judged()
        asked = [index for index, text in enumerate(texts) if text.strip()]
        per_text = 1 if self.format == "llamaguard3" else len(judged)
        prompts = [prompt for index in asked for prompt in self._prompts(texts[index], stage, judged)]
        try:
            answers = self.client.complete(prompts, ANSWER_TOKENS[self.format]) if prompts else []
            if len(answers) != len(prompts):
                raise GuardModelError(f"{len(answers)} answers to {len(prompts)} prompts")
        except Exception as error:  # fail closed: the policy turns "error" into a block
            log.exception("guard model rail failed")
            latency = (time.perf_counter() - started) * 1000
            return [self._error(stage, latency, error) if text.strip() else self._skip(stage, latency) for text in texts]
        latency = (time.perf_counter() - started) * 1000
        verdicts = [self._skip(stage, latency) for _ in texts]
        for position, index in enumerate(asked):
            mine = answers[position * per_text : (position + 1) * per_text]
            failed = next((answer for answer in mine if isinstance(answer, Exception)), None)
            try:
                if failed is not None:
                    raise failed
                judge = self._judge_llama_guard if self.format == "llamaguard3" else self._judge_shieldgemma
                verdicts[index] = judge(mine, judged, stage, latency)  # type: ignore[arg-type]
            except Exception as error:
                log.warning("guard model could not judge a text: %s", short_error(error))
                verdicts[index] = self._error(stage, latency, error)
        return verdicts

    # -- prompts ------------------------------------------------------------------------------------------------

    def _judged(self) -> tuple[GuardCategory, ...]:
        if self.rating == "M":
            return tuple(entry for entry in self.categories if entry.category not in OFF_AT_M) or self.categories
        return self.categories

    def _prompts(self, text: str, stage: Stage, judged: Sequence[GuardCategory]) -> list[str]:
        if self.format == "llamaguard3":
            return [llama_guard_3_prompt(text, stage, judged)]
        return [shieldgemma_prompt(text, stage, entry) for entry in judged]

    # -- answers ------------------------------------------------------------------------------------------------

    def _judge_llama_guard(
        self, answers: list[Completion], judged: Sequence[GuardCategory], stage: Stage, latency: float
    ) -> Verdict:
        (answer,) = answers
        lines = [line.strip() for line in answer.text.strip().splitlines() if line.strip()]
        said = lines[0].lower() if lines else ""
        if said not in ("safe", UNSAFE):
            raise GuardModelError(f"unreadable answer {answer.text[:40]!r} (expected 'safe' or 'unsafe')")
        probability = two_way(answer.first_logprobs, UNSAFE, "safe")
        unsafe = probability >= self.threshold if probability is not None else said == UNSAFE
        by_code = {entry.code: entry for entry in judged}
        named = [code.strip().upper() for code in lines[1].split(",")] if said == UNSAFE and len(lines) > 1 else []
        hits = [by_code[code] for code in named if code in by_code]
        scores = {UNSAFE: round(probability, 4)} if probability is not None else {}
        thresholds = {UNSAFE: self.threshold}
        if not unsafe:
            return self._verdict(stage, "pass", latency, scores, thresholds, explanation=f"Llama Guard 3: {said}")
        if named and not hits:  # it named only categories this channel does not judge (asked without them)
            return self._verdict(
                stage, "pass", latency, scores, thresholds,
                explanation=f"Llama Guard 3: unsafe {','.join(named)}, not judged here",
            )  # fmt: skip
        category = hits[0].category if hits else UNSAFE
        if probability is not None:
            scores |= {hit.category: round(probability, 4) for hit in hits}
        thresholds[category] = self.threshold
        listed = ", ".join(f"{hit.code} ({hit.title})" for hit in hits) or "no category named"
        return self._verdict(
            stage, "block", latency, scores, thresholds, category=category,
            explanation=f"Llama Guard 3: unsafe, {listed}",
        )  # fmt: skip

    def _judge_shieldgemma(
        self, answers: list[Completion], judged: Sequence[GuardCategory], stage: Stage, latency: float
    ) -> Verdict:
        scores: dict[str, float] = {}
        violated: list[tuple[float, GuardCategory]] = []
        for answer, entry in zip(answers, judged, strict=True):
            words = answer.text.strip().split()
            said = words[0].strip(".,:;!").capitalize() if words else ""
            if said not in ("Yes", "No"):
                raise GuardModelError(f"unreadable answer {answer.text[:40]!r} (expected 'Yes' or 'No')")
            probability = two_way(answer.first_logprobs, "yes", "no")
            if probability is not None:
                scores[entry.category] = round(max(probability, scores.get(entry.category, 0.0)), 4)
            if probability >= self.threshold if probability is not None else said == "Yes":
                violated.append((probability if probability is not None else 1.0, entry))
        thresholds = {entry.category: self.threshold for entry in judged}
        if not violated:
            return self._verdict(stage, "pass", latency, scores, thresholds, explanation="ShieldGemma: no policy violated")
        violated.sort(key=lambda pair: -pair[0])
        names = ", ".join(entry.title.split('"')[1] for _, entry in violated)
        return self._verdict(
            stage, "block", latency, scores, thresholds, category=violated[0][1].category,
            explanation=f"ShieldGemma: violates {names}",
        )  # fmt: skip

    # -- verdicts -----------------------------------------------------------------------------------------------

    def _verdict(
        self, stage: Stage, decision: str, latency: float, scores: dict[str, float],
        thresholds: dict[str, float], **fields: Any,
    ) -> Verdict:  # fmt: skip
        return Verdict(
            rail=self.name, backend=self.backend_name, version=self.version, stage=stage, decision=decision,  # type: ignore[arg-type]
            scores=scores, thresholds=thresholds, latency_ms=latency, **fields,
        )  # fmt: skip

    def _skip(self, stage: Stage, latency: float) -> Verdict:
        return self._verdict(stage, "skip", latency, {}, {UNSAFE: self.threshold}, explanation="nothing to judge")

    def _error(self, stage: Stage, latency: float, error: BaseException) -> Verdict:
        return self._verdict(
            stage, "error", latency, {}, {UNSAFE: self.threshold},
            explanation=f"guard model failed: {short_error(error)}",
        )  # fmt: skip
