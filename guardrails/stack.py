"""The rails that run on each stage, called from async code, batched across concurrent requests, off the loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from guardrails.batching import MicroBatcher
from guardrails.modeling.language_id import Detected
from guardrails.policy import CATEGORIES, Action, Policy
from guardrails.rail import Rail, Stage, Verdict
from guardrails.rails.language import LanguageRail, common_languages, rail_languages, readable, timed_detect
from guardrails.rails.lines import LinesRail
from guardrails.rails.veils import VeilsRail
from guardrails.ratings import rated_rail

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder

DEFAULT_POLICY = Policy()
MAX_VARIANTS = 256
"""Policy variants kept built (`RailStack.for_policy`): every story session with its own lines or veils makes one,
so the least recently used are let go past this many (a session that comes back builds its own again)."""


Checked = tuple[str, int | None]  # a text and the guild it is judged for


class RailStack:
    """Every rail of both stages under one policy. `for_policy` gives the stack for another policy, built once."""

    def __init__(
        self,
        input_rails: Sequence[Rail],
        output_rails: Sequence[Rail],
        *,
        policy: Policy = DEFAULT_POLICY,
        window_ms: float = 3.0,
        max_variants: int = MAX_VARIANTS,
        language: LanguageRail | None = None,
    ) -> None:
        self.input_rails = list(input_rails)
        self.output_rails = list(output_rails)
        self.policy = policy
        self.language = language
        """Identifies each text's language first; without it every text goes to every rail (as before languages)."""
        self._window_ms = window_ms
        self._variants: OrderedDict[Policy, RailStack] = OrderedDict()
        self._max_variants = max_variants
        self._retiring: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._retired: RailStack | None = None
        """The stack that evicted this variant (its closing tasks are awaited by that stack's `close`)."""
        self._closing: asyncio.Event | None = None
        self._batchers: dict[tuple[Stage, int], MicroBatcher[Checked, Verdict]] = {}
        for stage, rails in (("input", self.input_rails), ("output", self.output_rails)):
            for index, rail in enumerate(rails):
                self._batchers[(stage, index)] = MicroBatcher(
                    lambda items, rail=rail, stage=stage: _check_batch(rail, stage, items),
                    window_ms=window_ms,
                    name=f"rail-{stage}-{rail.name}",
                )
        self._language_batcher: MicroBatcher[str, tuple[Detected, float]] | None = None
        if language is not None:
            self._language_batcher = MicroBatcher(
                lambda texts: timed_detect(language, texts), window_ms=window_ms, name="rail-language"
            )

    def for_policy(self, policy: Policy) -> RailStack:
        """The same models judging under `policy` (this stack is the default policy's), built once per policy and
        kept while among the `max_variants` most recently used."""
        # The review channel does not judge.
        policy = Policy(
            policy.rating, policy.thresholds, policy.actions, lines=policy.lines, veils=policy.veils,
            unjudged=policy.unjudged,
        )  # fmt: skip
        if policy == self.policy:
            return self
        if policy in self._variants:
            self._variants.move_to_end(policy)
        else:
            output_overrides = dict(policy.thresholds)
            # Prompts keep their own looser toxicity line (guardrails/rails/toxicity.py: for_prompts); a moderator's
            # toxicity thresholds judge what the model writes. Injection is scored on prompts only.
            input_overrides = {c: v for c, v in output_overrides.items() if CATEGORIES[c] != "toxicity"}

            def adjusted(rail: Rail, overrides: dict[str, float]) -> Rail:
                rail = rated_rail(rail, policy.rating)
                return rail.with_thresholds(overrides) if overrides else rail

            # A story game's lines are judged on what players type and on what the model writes.
            story: list[Rail] = [LinesRail(policy.lines, _shared_encoder(self))] if policy.lines else []
            # And its veils: shown on-screen, a sentence fades out (output) or a turn is refused (input).
            if policy.veils:
                story.append(VeilsRail(policy.veils, _shared_encoder(self)))
            self._variants[policy] = RailStack(
                [adjusted(rail, input_overrides) for rail in self.input_rails] + story,
                [adjusted(rail, output_overrides) for rail in self.output_rails] + story,
                policy=policy,
                window_ms=self._window_ms,
                language=self.language,
            )
            while len(self._variants) > self._max_variants:
                _, evicted = self._variants.popitem(last=False)
                self._retire(evicted)
        return self._variants[policy]

    @property
    def variants(self) -> int:
        """How many policy variants are built now (at most `max_variants`)."""
        return len(self._variants)

    def _retire(self, stack: RailStack) -> None:
        """Let an evicted variant go: its batchers close once no check is running on it. A request that took it
        before the eviction still finishes on it (checks wait out a close, then the batchers serve again), and
        it is closed again after that request's last check."""
        stack._retired = self
        stack._close_later()

    def _close_later(self) -> None:
        owner = self._retired or self
        try:
            task = asyncio.get_running_loop().create_task(self._close_idle(), name="rail-variant-retire")
        except RuntimeError:  # no loop (built outside async code): nothing is serving, nothing to close
            return
        owner._retiring.add(task)
        task.add_done_callback(owner._retiring.discard)

    async def _close_idle(self) -> None:
        if self._in_flight or self._closing is not None:
            return  # the last check to finish schedules the close again
        self._closing = asyncio.Event()
        try:
            for batcher in self._batchers.values():
                await batcher.close()
            if self._language_batcher is not None:
                await self._language_batcher.close()
        finally:
            self._closing.set()
            self._closing = None

    def rated(self, rating: str) -> RailStack:
        return self.for_policy(Policy.build(rating))  # type: ignore[arg-type]

    def action_for(self, verdict: Verdict) -> Action | None:
        return self.policy.action_for(verdict)

    def describe(self) -> dict:
        described = {
            "input": [{"rail": rail.name, **rail.describe()} for rail in self.input_rails],
            "output": [{"rail": rail.name, **rail.describe()} for rail in self.output_rails],
            "actions": self.policy.all_actions(),
        }
        if self.language is not None:  # what each rail reads, and what happens to what none reads
            for stage, rails in (("input", self.input_rails), ("output", self.output_rails)):
                for entry, rail in zip(described[stage], rails, strict=True):
                    languages = rail_languages(rail)
                    entry["languages"] = None if languages is None else sorted(languages)
            described["language"] = self.language.describe(self.policy.unjudged)
        return described

    def readable_languages(self, stage: Stage) -> frozenset[str] | None:
        """The languages every rail of `stage` can judge (None: any)."""
        return common_languages(self.input_rails if stage == "input" else self.output_rails)

    def reads(self, text: str, stage: Stage) -> bool:
        """Whether every rail of `stage` can read `text`'s language, as the language rail would find it (a writer asks
        for a line again rather than have it masked). Identified on the caller's thread: 0.04 ms a line."""
        if self.language is None:
            return True
        return readable(self.readable_languages(stage), self.language.detect([text])[0])

    @property
    def policy_hash(self) -> str:
        """A digest of everything a verdict depends on; it changes when a moderator edits the knowledge base too."""
        return policy_hash(self.describe())

    async def check(self, stage: Stage, text: str, guild_id: int | None = None) -> list[Verdict]:
        """Every rail of the stage on one text, judged for `guild_id`; one verdict per rail, passes included."""
        rails = self.input_rails if stage == "input" else self.output_rails
        verdicts: list[Verdict] = []
        self._in_flight += 1
        try:
            while self._closing is not None:  # a retired variant closing its batchers: they serve again after
                await self._closing.wait()
            detected: Detected | None = None
            if self._language_batcher is not None and self.language is not None:
                (detected, latency_ms), = await self._language_batcher.submit([text])
                unread = [rail.name for rail in rails if not readable(rail_languages(rail), detected)]
                verdicts.append(
                    self.language.judge(
                        detected, unread, stage, self.policy.unjudged, self.readable_languages(stage), latency_ms,
                        text, self.policy.rating,
                    )
                )  # fmt: skip
            for index, rail in enumerate(rails):
                if detected is not None and not readable(rail_languages(rail), detected):
                    verdicts.append(_not_read(rail, stage, detected))  # the language verdict above decides
                else:
                    verdicts.extend(await self._batchers[(stage, index)].submit([(text, guild_id)]))
        finally:
            self._in_flight -= 1
            if self._retired is not None and self._in_flight == 0:  # evicted while this check ran: close it now
                self._close_later()
        return verdicts

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        if self._language_batcher is not None:
            await self._language_batcher.close()
        for stack in self._variants.values():
            await stack.close()
        if self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)


def _not_read(rail: Rail, stage: Stage, detected: Detected) -> Verdict:
    """A rail's verdict on a text in a language it cannot read: skipped, and why (the language rail decides)."""
    described = rail.describe()
    return Verdict(
        rail=rail.name,
        backend=str(described.get("backend", getattr(rail, "backend_name", "?"))),
        version=str(described.get("version", "?")),
        stage=stage,
        decision="skip",
        scores=detected.as_scores(),
        explanation=f"cannot read {', '.join(detected.languages)}",
    )


def _check_batch(rail: Rail, stage: Stage, items: list[Checked]) -> list[Verdict]:
    """One rail call for a batch; a per-guild rail gets one call per guild in the batch."""
    if not getattr(rail, "per_guild", False):
        return rail.check([text for text, _ in items], stage)
    results: list[Verdict | None] = [None] * len(items)
    by_guild: dict[int | None, list[int]] = {}
    for position, (_, guild_id) in enumerate(items):
        by_guild.setdefault(guild_id, []).append(position)
    for guild_id, positions in by_guild.items():
        verdicts = rail.check([items[p][0] for p in positions], stage, guild_id=guild_id)  # type: ignore[call-arg]
        for position, verdict in zip(positions, verdicts, strict=True):
            results[position] = verdict
    return results  # type: ignore[return-value]


def _shared_encoder(stack: RailStack) -> SentenceEncoder | None:
    """The sentence encoder the stack's rails already share (the lines rail embeds on it), if any."""
    for rail in stack.input_rails + stack.output_rails:
        encoder = getattr(rail, "encoder", None) or getattr(getattr(rail, "backend", None), "encoder", None)
        if encoder is not None:
            return encoder
    return None


def describe_policy(rails: RailStack, policy: Policy) -> dict:
    """What a request under `policy` is judged and written under: the rails' description, and the server's house
    style when it has one (it changes what the model reads, so a verdict's hash must say so)."""
    described = rails.describe()
    if policy.house_style:
        described["house_style"] = policy.house_style
    return described


def policy_hash(policy: dict) -> str:
    canonical = json.dumps(policy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
