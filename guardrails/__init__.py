"""Storyloom's guardrails, usable without Discord: rails that judge prompts and generated text, the stack that runs
them under a guild's or channel's policy, and an evaluation command.

    from guardrails import RailStack, ToxicityRail, default_stack

Each rail implements one interface (`guardrails.rail.Rail`) and lives in a module of its own (`guardrails.rails`);
the models behind them are in `guardrails.modeling`, the text helpers in `guardrails.text`.
"""

from guardrails.defaults import default_stack
from guardrails.policy import Policy
from guardrails.rail import Rail, Verdict
from guardrails.rails import *  # noqa: F403 - every rail, as `guardrails.rails.__all__` lists them
from guardrails.rails import __all__ as _rails
from guardrails.stack import RailStack

__all__ = [*_rails, "Policy", "Rail", "RailStack", "Verdict", "default_stack"]
