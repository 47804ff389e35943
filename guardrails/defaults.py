"""The default rail stack built from its parts (an encoder, a toxicity backend, optionally a guard model), usable
without Discord; the bot builds it from its settings (`bot.core.app.load_rails`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrails.claims.knowledge_base import KnowledgeBase
from guardrails.rails.dangerous import DangerousRail
from guardrails.rails.injection import InjectionRail
from guardrails.rails.language import LanguageRail
from guardrails.rails.misinfo import MisinfoRail
from guardrails.rails.toxicity import ToxicityRail
from guardrails.stack import RailStack

if TYPE_CHECKING:
    from guardrails.modeling.encoder import SentenceEncoder
    from guardrails.modeling.toxicity import ToxicityBackend
    from guardrails.rail import Rail


def default_stack(
    encoder: SentenceEncoder,
    toxicity_backend: ToxicityBackend,
    *,
    guard_model: Rail | None = None,
    knowledge_base: KnowledgeBase | None = None,
) -> RailStack:
    """Input: toxicity (at the prompts' line), prompt injection and dangerous instructions. Output: toxicity,
    fiction-aware misinformation and dangerous instructions. Both: the guard model, where one is given; and first,
    the language of the text. Loads models: call it off the event loop."""
    toxicity = ToxicityRail(toxicity_backend)
    dangerous = DangerousRail(encoder)  # both stages: a request for a recipe, and a recipe written anyway
    guard = [guard_model] if guard_model is not None else []
    return RailStack(
        [toxicity.for_prompts(), InjectionRail(encoder), dangerous, *guard],
        [toxicity, MisinfoRail(encoder, knowledge_base or KnowledgeBase.load()), dangerous, *guard],
        language=LanguageRail(),
    )
