"""Policies: moderators' settings resolved per channel, actions per verdict, and the rail stack each one judges with."""

from __future__ import annotations

import pytest

from guardrails.policy import Policy, resolve_policy
from guardrails.rail import Verdict
from guardrails.rails.toxicity import ToxicityRail


def verdict(rail: str, decision: str, stage: str = "output") -> Verdict:
    return Verdict(rail=rail, backend="b", version="v", stage=stage, decision=decision)  # type: ignore[arg-type]


def test_a_channel_setting_wins_over_the_guilds_and_bad_values_are_skipped():
    guild = {"rating": "G", "threshold.insult": "0.5", "action.toxicity": "hold", "review_channel": "77"}
    channel = {"threshold.insult": "0.8", "action.toxicity": "redact", "threshold.nonsense": "0.3", "action.misinformation": "explode"}
    policy = resolve_policy(guild, channel, age_restricted=False)
    assert policy == Policy.build("G", {"insult": 0.8}, {"toxicity": "redact"}, 77)


def test_m_holds_only_in_age_restricted_channels():
    assert resolve_policy({"rating": "M"}, {}, age_restricted=False).rating == "PG-13"
    assert resolve_policy({}, {"rating": "M"}, age_restricted=True).rating == "M"


@pytest.mark.parametrize(
    ("thresholds", "actions"),
    [({"insult": 0.0}, {}), ({"insult": 1.5}, {}), ({"loudness": 0.5}, {}), ({}, {"injection": "redact"}),
     ({}, {"toxicity": "note"})],
)  # fmt: skip
def test_invalid_settings_are_refused(thresholds, actions):
    with pytest.raises(ValueError):
        Policy.build(thresholds=thresholds, actions=actions)


def test_actions_follow_the_policy_and_errors_and_prompts_always_block():
    policy = Policy.build(actions={"toxicity": "redact", "misinformation": "hold"})
    assert policy.action_for(verdict("toxicity", "pass")) is None
    assert policy.action_for(verdict("toxicity", "block")) == "redact"
    assert policy.action_for(verdict("misinformation", "flag")) == "hold"
    assert Policy().action_for(verdict("misinformation", "flag")) is None, "the default is a correction note"
    assert policy.action_for(verdict("toxicity", "error")) == "block", "a rail that could not judge fails closed"
    assert policy.action_for(verdict("toxicity", "block", stage="input")) == "block"


def test_each_policy_has_its_own_stack_and_hash(default_rails):
    stricter = default_rails.for_policy(Policy.build(thresholds={"toxicity": 0.3, "injection": 0.6}))
    assert stricter is default_rails.for_policy(Policy.build(thresholds={"toxicity": 0.3, "injection": 0.6}))
    assert default_rails.for_policy(Policy.build(review_channel_id=5)) is default_rails, "where reviews go is not judging"
    output_toxicity = next(r for r in stricter.output_rails if isinstance(r, ToxicityRail))
    prompt_toxicity = next(r for r in stricter.input_rails if isinstance(r, ToxicityRail))
    default_prompt = next(r for r in default_rails.input_rails if isinstance(r, ToxicityRail))
    assert output_toxicity.thresholds["toxicity"] == 0.3
    assert prompt_toxicity.thresholds == default_prompt.thresholds, "prompts keep their own toxicity line"
    assert next(r for r in stricter.input_rails if r.name == "injection").threshold == 0.6

    hashes = {
        stack.policy_hash
        for stack in (
            default_rails,
            stricter,
            default_rails.for_policy(Policy.build(actions={"toxicity": "redact"})),
            default_rails.rated("G"),
        )
    }
    assert len(hashes) == 4
