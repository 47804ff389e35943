"""The rails, one per module: each judges batches of texts and returns a `Verdict` per text (`guardrails.rail.Rail`).

Default stack (`guardrails.defaults.default_stack`): on prompts toxicity (for prompts), injection and dangerous instructions;
on output toxicity, misinformation and dangerous instructions; the guard model on both where one is configured; the
language rail before all of them. A story game's policy adds its lines and veils on both stages.
"""

from guardrails.rails.dangerous import DangerousRail
from guardrails.rails.guard_model import GuardModelRail
from guardrails.rails.injection import InjectionRail
from guardrails.rails.language import LanguageRail
from guardrails.rails.lines import LinesRail
from guardrails.rails.misinfo import MisinfoRail
from guardrails.rails.topic import TopicRail
from guardrails.rails.toxicity import ToxicityRail
from guardrails.rails.veils import VeilsRail

__all__ = [
    "DangerousRail",
    "GuardModelRail",
    "InjectionRail",
    "LanguageRail",
    "LinesRail",
    "MisinfoRail",
    "TopicRail",
    "ToxicityRail",
    "VeilsRail",
]
