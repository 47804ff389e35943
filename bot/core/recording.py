"""The recording stage: one request's provenance as the pipeline adds to it, and the wait before text is shown.

Every row goes through `storage.recorder.Recorder` without waiting; `committed` is the one place the pipeline
waits on the disk, before text reaches the member, so nothing is shown that is not stored with its verdicts.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from bot import metrics
from bot.core import prompts
from bot.core.request import Author, Posted, WriteJob
from bot.engines.base import ChatMessages, Engine, SamplingParams
from guardrails.rail import Verdict
from storage.models import RequestStatus
from storage.recorder import Recorder, RecorderUnavailable

if TYPE_CHECKING:
    from bot.core.output_check import Attempt


class RequestRecord:
    """One request's rows: its arrival, status, generations, verdicts and the messages posted for it."""

    def __init__(self, recorder: Recorder, request_id: str, guild_id: int | None, policy_hash: str) -> None:
        self.recorder = recorder
        self.request_id = request_id
        self.guild_id = guild_id
        self.policy_hash = policy_hash

    def arrived(self, author: Author, job: WriteJob) -> None:
        """The request as typed, before anything else happens to it."""
        self.recorder.request_arrived(
            id=self.request_id,
            interface=author.interface,
            guild_id=author.guild_id,
            channel_id=author.channel_id,
            user_id=author.user_id,
            user_name=author.user_name[:100],
            command=job.command,
            kind=job.kind,
            options={**job.options(), "rating": author.policy.rating},
            prompt=job.prompt,
            parent_request_id=job.parent_request_id,
            policy_hash=self.policy_hash,
        )

    def status(self, status: RequestStatus, reason: str | None = None) -> None:
        self.recorder.request_status(self.request_id, status, reason)

    def verdicts(self, generation_id: str | None, verdicts: list[Verdict]) -> None:
        """The verdicts on the input (`generation_id` None) or on a chunk of one generation."""
        metrics.verdicts_recorded(verdicts)
        self.recorder.judged(
            verdicts,
            request_id=self.request_id,
            guild_id=self.guild_id,
            generation_id=generation_id,
            policy_hash=self.policy_hash,
        )

    def generation_started(
        self, attempt: Attempt, engine: Engine, params: SamplingParams, seed: int, messages: ChatMessages
    ) -> None:
        self.recorder.generation(
            id=attempt.generation_id,
            request_id=self.request_id,
            attempt=attempt.number,
            engine=engine.name,
            model_id=engine.model_id,
            params=params.as_dict(),
            seed=seed,
            template_version=prompts.TEMPLATE_VERSION,
            rendered_prompt=json.dumps(messages, ensure_ascii=False),
        )

    def generation_ended(self, attempt: Attempt, engine_name: str) -> None:
        """What the engine wrote and what was shown of it, with the engine's figures (none when it was cut off)."""
        values: dict = {"raw_output": "".join(attempt.raw), "shown_output": attempt.shown}
        usage = attempt.usage
        if usage is not None:
            metrics.generation_finished(engine_name, usage)
            values.update(
                prompt_tokens=usage.prompt_tokens,
                output_tokens=usage.output_tokens,
                finish_reason=usage.finish_reason,
                time_to_first_token_ms=None
                if usage.time_to_first_token_s is None
                else usage.time_to_first_token_s * 1000,
                total_ms=usage.total_time_s * 1000,
            )
            if usage.extra.get("replicas"):  # an engine replica failed and another took over (openai engine)
                values["replicas"] = usage.extra["replicas"]
        else:
            values["finish_reason"] = "cancelled"
        self.recorder.generation_update(attempt.generation_id, **values)

    def posted(self, posted: Posted) -> None:
        self.recorder.delivery(
            request_id=self.request_id, channel_id=posted.channel_id, message_id=posted.message_id, kind=posted.kind
        )

    async def committed(self, wait_s: float) -> None:
        """Wait until every row enqueued so far (this text's verdicts among them) is committed: nothing is shown
        that is not on disk with its verdicts, so even a process killed the next instant leaves them behind."""
        try:  # a timeout scope, not wait_for: no task made for each chunk shown (bench gpu_sim's profile)
            async with asyncio.timeout(wait_s):
                await self.recorder.flush()
        except TimeoutError:
            raise RecorderUnavailable(f"nothing committed within {wait_s:.0f} s") from None
