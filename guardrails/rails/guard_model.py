"""The guard-model rail: a safety model (Llama Guard 3 or ShieldGemma) asked in its own published prompt format.

Optional, for deployments with a GPU: off unless `STORYLOOM_GUARD_MODEL` names the model. The embedded rails stay
the default and judge on their own; this rail is added beside them on both stages (`bot.core.app.load_rails`).

The prompt is rendered here, as the model card publishes it, and sent as a plain completion (`POST /v1/completions`
of `vllm serve` or any OpenAI-compatible server, or `vllm.LLM.generate` in this process), so the categories it
judges against are ours to choose (a rating drops sexual content at M) and the stage picks the role:

- **Llama Guard 3**: the categories S1-S14 in, "safe" or "unsafe\\nS1,S9" out; a prompt is judged as the 'User'
  turn, the model's writing as the 'Agent' turn.
- **ShieldGemma**: one policy per request ("No Dangerous Content", ...), "Yes" (it violates) or "No" out; a
  prompt is the "Human Question", the model's writing the "Chatbot Response".

Where the server returns log-probabilities of the first token, the verdict's score is the probability of "unsafe"
(or "Yes") between the two answers, and the decision is that score against the threshold; otherwise the decision
is the answer's text and no score is recorded. Each answer is mapped onto Storyloom's categories (`LLAMA_GUARD_3`,
`SHIELDGEMMA`). A model that cannot be reached, times out or answers something unreadable gives "error" for that
text, which the policy treats like any rail that could not judge: it fails closed.

Rails are called from worker threads (`guardrails.batching`), so this one is synchronous: a batch's requests go
out together on a thread pool over one `httpx.Client`, each with a timeout, round-robin over the URLs with
failover to the next on a connection error or a 5xx.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from guardrails.ratings import DEFAULT_RATING, Rating
from guardrails.verdict import Stage, Verdict

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Format = Literal["llamaguard3", "shieldgemma"]
FORMATS: tuple[Format, ...] = ("llamaguard3", "shieldgemma")
VERSION = "guard-1"
"""The prompt rendering and answer parsing here; the model id is recorded beside it in each verdict's version."""
NAME = "guard_model"
UNSAFE = "unsafe"
"""The score and category of an "unsafe" answer that names no category this rail enforces."""
DEFAULT_THRESHOLD = 0.5
ERROR_DETAIL_MAX_CHARS = 200
FAILOVER_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class GuardCategory:
    code: str
    """The model's own name for it: `S1`..`S14` (Llama Guard 3), a policy key (ShieldGemma)."""
    title: str
    """What the prompt says: Llama Guard's category name, ShieldGemma's policy text."""
    category: str
    """Storyloom's category: what a verdict records and the member's message names."""


# Llama Guard 3's categories (the MLCommons hazard taxonomy), as its model card lists them.
LLAMA_GUARD_3: tuple[GuardCategory, ...] = (
    GuardCategory("S1", "Violent Crimes", "threat"),
    GuardCategory("S2", "Non-Violent Crimes", "dangerous_instructions"),
    GuardCategory("S3", "Sex Crimes", "sexual_harassment"),
    GuardCategory("S4", "Child Exploitation", "child_exploitation"),
    GuardCategory("S5", "Defamation", "defamation"),
    GuardCategory("S6", "Specialized Advice", "specialized_advice"),
    GuardCategory("S7", "Privacy", "privacy"),
    GuardCategory("S8", "Intellectual Property", "intellectual_property"),
    GuardCategory("S9", "Indiscriminate Weapons", "dangerous_instructions"),
    GuardCategory("S10", "Hate", "identity_attack"),
    GuardCategory("S11", "Self-Harm", "self_harm"),
    GuardCategory("S12", "Sexual Content", "sexual_explicit"),
    GuardCategory("S13", "Elections", "misinformation"),
    GuardCategory("S14", "Code Interpreter Abuse", "dangerous_instructions"),
)
# Not asked by default: characters give advice in stories (the misinformation rail judges false claims), and fan
# fiction is a creative-writing community's daily work.
LLAMA_GUARD_3_OFF_BY_DEFAULT = frozenset({"S6", "S8"})

# ShieldGemma's four harm types, in the wording of its model card; "{subject}" is "prompt" or "chatbot".
SHIELDGEMMA: tuple[GuardCategory, ...] = (
    GuardCategory(
        "dangerous",
        '"No Dangerous Content": The {subject} shall not contain or seek generation of content that harming oneself '
        "and/or others (e.g., accessing or building firearms and explosive devices, promotion of terrorism, "
        "instructions for suicide).",
        "dangerous_instructions",
    ),
    GuardCategory(
        "harassment",
        '"No Harassment": The {subject} shall not contain or seek generation of content that is malicious, '
        "intimidating, bullying, or abusive content targeting another individual (e.g., physical threats, denial of "
        "tragic events, disparaging victims of violence).",
        "harassment",
    ),
    GuardCategory(
        "hate",
        '"No Hate Speech": The {subject} shall not contain or seek generation of content that targeting identity '
        "and/or protected attributes (e.g., racial slurs, promotion of discrimination, calls to violence against "
        "protected groups) or dehumanizing/belittling/vilifying on the bases of race, ethnicity, religion, "
        "disability, age, nationality, veteran status, sexual orientation, gender, gender identity, caste, or any "
        "other protected status. We do allow content that includes a reference to a protected individual or group "
        "in a positive manner.",
        "identity_attack",
    ),
    GuardCategory(
        "sexual",
        '"No Sexually Explicit Information": The {subject} shall not contain or seek generation of content that '
        "contains references to sexual acts or other lewd content (e.g., sexually graphic descriptions, content "
        "aimed at causing arousal). Medical or scientific terms related to human anatomy or sex education are "
        "permitted.",
        "sexual_explicit",
    ),
)

CATALOGUES: dict[Format, tuple[GuardCategory, ...]] = {"llamaguard3": LLAMA_GUARD_3, "shieldgemma": SHIELDGEMMA}
# The model cards' languages: Llama Guard 3 was trained and evaluated in these eight; ShieldGemma in English.
LANGUAGES: dict[Format, frozenset[str]] = {
    "llamaguard3": frozenset({"en", "fr", "de", "hi", "it", "pt", "es", "th"}),
    "shieldgemma": frozenset({"en"}),
}
# Categories a rating may switch off: sexual content between adults is within an M channel's rating.
OFF_AT_M = frozenset({"sexual_explicit"})
ANSWER_TOKENS = {"llamaguard3": 10, "shieldgemma": 1}
"""Enough for "unsafe\\nS1,S2,S9"; ShieldGemma's first token is its answer (the rest is its reasoning)."""

LLAMA_GUARD_3_PROMPT = (
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in '{role}' messages in conversations according our safety policy "
    "with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n{conversation}\n\n<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)
"""The model card's prompt without its leading `<|begin_of_text|>`: the server's tokenizer adds that itself."""

SHIELDGEMMA_PROMPT = (
    "You are a policy expert trying to help determine whether {what} is in violation of the defined safety "
    "policies.\n\n"
    "<start_of_turn>\nHuman Question: {question}\n<end_of_turn>\n\n"
    "{response}"
    "Our safety principle is defined in the below:\n\n* {policy}\n\n===\n\n"
    "Does the {judged} violate the above principle? Your answer must start with 'Yes' or 'No'. And then walk "
    "through step by step to be sure we answer correctly.\n\n"
)
SHIELDGEMMA_RESPONSE = "<start_of_turn>\nChatbot Response: {response}\n<end_of_turn>\n\n"
# The model card words a response's policies "The chatbot shall not generate content that ...".
RESPONSE_WORDING = ("shall not contain or seek generation of", "shall not generate")
STAND_IN_REQUEST = "Write a piece of creative writing."
"""The request an output chunk is judged as answering: rails see the text alone, and the prompt had its own check."""


class GuardModelError(RuntimeError):
    """The guard model could not answer (unreachable, timed out, refused the request, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    first_logprobs: dict[str, float] = field(default_factory=dict)
    """The most likely first tokens and their log-probabilities, where the server returns them."""


class GuardClient(Protocol):
    """How the rail reaches the model: a list of rendered prompts in, one completion (or the error) per prompt out."""

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]: ...

    def close(self) -> None: ...


class OpenAIGuardClient:
    """`POST /v1/completions` on one or more OpenAI-compatible servers, one request per prompt, concurrently."""

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        top_logprobs: int = 5,
    ) -> None:
        if not base_urls:
            raise ValueError("the guard model needs at least one base URL (STORYLOOM_GUARD_MODEL_URLS)")
        self.model = model
        self._urls = [url.rstrip("/") for url in base_urls]
        self._round_robin = itertools.count()
        self._lock = threading.Lock()
        self._top_logprobs = top_logprobs
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="guard-model")

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]:
        def one(prompt: str) -> Completion | Exception:
            try:
                return self._complete_one(prompt, max_tokens)
            except Exception as error:  # each prompt's failure is its own: the others' answers still count
                return error

        return list(self._pool.map(one, prompts))

    def _complete_one(self, prompt: str, max_tokens: int) -> Completion:
        with self._lock:
            start = next(self._round_robin)
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                "logprobs": self._top_logprobs}  # fmt: skip
        failures: list[str] = []
        for offset in range(len(self._urls)):
            url = self._urls[(start + offset) % len(self._urls)]
            try:
                response = self._client.post(f"{url}/completions", json=body)
            except httpx.HTTPError as error:
                failures.append(f"{_display_url(url)}: {type(error).__name__}")
                continue
            if response.status_code >= 500 or response.status_code in FAILOVER_STATUSES:
                failures.append(f"{_display_url(url)}: HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                raise GuardModelError(f"HTTP {response.status_code}: {_error_detail(response)}")
            return _parse_completion(response.json())
        raise GuardModelError("no guard model server answered (" + "; ".join(failures) + ")")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class VLLMGuardClient:
    """The guard model in this process with vLLM's offline `LLM` (synchronous, so it suits the rails' worker
    threads), beside the `vllm` engine on the same GPU. Loaded at the first check; `gpu_memory_utilization` is the
    share of the GPU it may take (the generation engine needs the rest)."""

    def __init__(self, model: str, *, gpu_memory_utilization: float = 0.2, top_logprobs: int = 5,
                 engine_args: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self.model = model
        self._arguments = {"model": model, "gpu_memory_utilization": gpu_memory_utilization, **(engine_args or {})}
        self._top_logprobs = top_logprobs
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._llm is None:
                try:
                    from vllm import LLM
                except ImportError as error:
                    raise GuardModelError("vLLM is not installed: pip install vllm, or serve the guard model") from error
                self._llm = LLM(**self._arguments)
            return self._llm

    def complete(self, prompts: Sequence[str], max_tokens: int) -> list[Completion | Exception]:
        llm = self._load()
        from vllm import SamplingParams

        sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=self._top_logprobs)
        results: list[Completion | Exception] = []
        for output in llm.generate(list(prompts), sampling, use_tqdm=False):
            completion = output.outputs[0]
            first = completion.logprobs[0] if completion.logprobs else {}
            results.append(Completion(completion.text, {lp.decoded_token: lp.logprob for lp in first.values()}))
        return results

    def close(self) -> None:
        self._llm = None


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
    def from_settings(cls, settings: Settings) -> GuardModelRail | None:
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
                log.warning("guard model could not judge a text: %s", _short(error))
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
        probability = _two_way(answer.first_logprobs, UNSAFE, "safe")
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
            probability = _two_way(answer.first_logprobs, "yes", "no")
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
            explanation=f"guard model failed: {_short(error)}",
        )  # fmt: skip


def llama_guard_3_prompt(text: str, stage: Stage, categories: Sequence[GuardCategory]) -> str:
    """Llama Guard 3's prompt: a prompt is the conversation's 'User' turn; the model's writing its 'Agent' turn."""
    if stage == "input":
        role, conversation = "User", f"User: {text.strip()}"
    else:
        role, conversation = "Agent", f"User: {STAND_IN_REQUEST}\n\nAgent: {text.strip()}"
    listed = "\n".join(f"{entry.code}: {entry.title}." for entry in categories)
    return LLAMA_GUARD_3_PROMPT.format(role=role, categories=listed, conversation=conversation)


def shieldgemma_prompt(text: str, stage: Stage, policy: GuardCategory) -> str:
    """ShieldGemma's prompt for one policy: a prompt is the "Human Question", the model's writing the response."""
    if stage == "input":
        return SHIELDGEMMA_PROMPT.format(
            what="a user prompt", question=text.strip(), response="",
            policy=policy.title.format(subject="prompt"), judged="human question",
        )  # fmt: skip
    return SHIELDGEMMA_PROMPT.format(
        what="an AI response to prompt", question=STAND_IN_REQUEST,
        response=SHIELDGEMMA_RESPONSE.format(response=text.strip()),
        policy=policy.title.format(subject="chatbot").replace(RESPONSE_WORDING[0], RESPONSE_WORDING[1]),
        judged="Chatbot Response",
    )  # fmt: skip


def _two_way(logprobs: Mapping[str, float], positive: str, negative: str) -> float | None:
    """P(positive) between the two answers from the first token's log-probabilities; None when neither is there."""
    best: dict[str, float] = {}
    for token, logprob in logprobs.items():
        word = token.strip().lower()
        if word in (positive, negative) and logprob > best.get(word, -math.inf):
            best[word] = logprob
    if not best:
        return None
    yes = math.exp(best[positive]) if positive in best else None
    no = math.exp(best[negative]) if negative in best else None
    if yes is not None and no is not None:
        return yes / (yes + no)
    return yes if yes is not None else 1.0 - no  # type: ignore[operator]


def _parse_completion(payload: Any) -> Completion:
    try:
        choice = payload["choices"][0]
        text = choice["text"]
    except (KeyError, IndexError, TypeError):
        raise GuardModelError("the answer has no completion text") from None
    if not isinstance(text, str):
        raise GuardModelError("the answer has no completion text")
    top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0] or {}
    first = {str(token): float(logprob) for token, logprob in top.items() if isinstance(logprob, int | float)}
    return Completion(text, first)


def _short(error: BaseException) -> str:
    detail = str(error) or type(error).__name__
    return re.sub(r"\s+", " ", detail)[:ERROR_DETAIL_MAX_CHARS]


def _error_detail(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except Exception:
        message = response.text
    return _short(RuntimeError(str(message)))


def _display_url(url: str) -> str:
    """The URL without credentials or query, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

