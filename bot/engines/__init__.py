"""Engines behind one async streaming interface; each is imported only when chosen."""

from __future__ import annotations

from bot.config import Settings
from bot.engines.base import Engine


def create_engine(settings: Settings) -> Engine:
    if settings.engine == "transformers":
        from bot.engines.transformers_engine import TransformersEngine

        return TransformersEngine.from_settings(settings)
    if settings.engine == "vllm":
        from bot.engines.vllm_engine import VLLMEngine

        return VLLMEngine.from_settings(settings)
    from bot.engines.openai_engine import OpenAIEngine

    return OpenAIEngine.from_settings(settings)
