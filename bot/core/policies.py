"""Which guardrail policy applies where, and moderators' changes to it: the application service behind
`/guardrails` and `/settings`, and what every request in a server is judged under.

Discord-free: a `Place` (guild, channel, a thread's parent, age-restricted or not) in, a `Policy` out. A thread's
settings are its parent channel's; the server's house style (`/settings`) is part of the policy a request is
written and hashed under. Every change is stored with its moderation record and the policy hash it gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from guardrails.policy import CATEGORIES, Policy, resolve_policy
from guardrails.stack import describe_policy, policy_hash
from storage.policies import change_settings, misinfo_entries, stored_settings
from storage.server_settings import server_settings

from bot.core import moderation

if TYPE_CHECKING:
    from bot.core.app import Core
    from storage.models import MisinfoEntry


@dataclass(frozen=True, slots=True)
class Place:
    """Where a request (or a change) is made."""

    guild_id: int | None
    channel_id: int | None
    parent_id: int | None = None
    """A thread's parent channel (None outside threads): where the thread's settings live."""
    age_restricted: bool = False

    @property
    def settings_channel_id(self) -> int | None:
        return self.parent_id or self.channel_id


@dataclass(frozen=True, slots=True)
class Here:
    """What is stored for a place (the server's keys and its channel's) and the policy they resolve to."""

    guild: dict[str, str]
    channel: dict[str, str]
    policy: Policy


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """A change that was stored (`previous` values, the new hash) or refused (`problem`)."""

    previous: dict[str, str | None]
    policy_hash: str = ""
    problem: str | None = None


HOLD_NEEDS_REVIEW_CHANNEL = "Hold needs a review channel: add `review_channel:` (the moderators' channel) to this command."


async def _with_house_style(core: Core, guild_id: int, policy: Policy) -> Policy:
    house_style = (await server_settings(core.database, guild_id)).get("house_style")
    return replace(policy, house_style=house_style) if house_style else policy


async def here(core: Core, place: Place) -> Here:
    """The stored keys at `place` (a server's) and the policy they give there."""
    assert place.guild_id is not None
    guild, channel = await stored_settings(core.database, place.guild_id, place.settings_channel_id)
    policy = resolve_policy(guild, channel, age_restricted=place.age_restricted)
    return Here(guild, channel, await _with_house_style(core, place.guild_id, policy))


async def policy_at(core: Core, place: Place) -> Policy:
    """The policy a request (or a plain message) at `place` is judged under; outside a server, the defaults."""
    if place.guild_id is None:
        return Policy()
    return (await here(core, place)).policy


def hash_of(core: Core, policy: Policy) -> str:
    """The hash of `policy` (house style included) over the rails that judge under it."""
    return policy_hash(describe_policy(core.rails.for_policy(policy), policy))


def record_policy_hash(core: Core, policy: Policy) -> str:
    """The hash of `policy`, with what it stands for recorded (`policy_versions`)."""
    described = describe_policy(core.rails.for_policy(policy), policy)
    digest = policy_hash(described)
    core.recorder.policy_version(digest, described)
    return digest


def scored_categories(core: Core) -> set[str]:
    """The categories some running rail scores (a threshold for any other would do nothing)."""
    rails = core.rails
    return {
        category
        for rail in (*rails.input_rails, *rails.output_rails)
        for category in (rail.describe().get("thresholds") or {})
        if category in CATEGORIES
    }


async def change_policy(
    core: Core, place: Place, changes: dict[str, str | None], *, server: bool, user_id: int
) -> PolicyChange:
    """Apply `changes` at the channel or server scope and record them with the new policy hash. A policy that
    holds outputs needs a review channel: without one nothing is stored."""
    assert place.guild_id is not None
    current = await here(core, place)
    target = current.guild if server else current.channel
    updated = {key: value for key, value in {**target, **changes}.items() if value is not None}
    new_guild, new_channel = (updated, current.channel) if server else (current.guild, updated)
    policy = resolve_policy(new_guild, new_channel, age_restricted=place.age_restricted)
    policy = await _with_house_style(core, place.guild_id, policy)
    holds = "hold" in policy.all_actions().values() or policy.unjudged == "hold"
    if policy.review_channel_id is None and holds:
        return PolicyChange({}, problem=HOLD_NEEDS_REVIEW_CHANNEL)
    new_hash = record_policy_hash(core, policy)
    previous = await change_settings(
        core.database,
        guild_id=place.guild_id,
        channel_id=None if server else place.settings_channel_id,
        changes=changes,
        user_id=user_id,
        policy_hash=new_hash,
    )
    return PolicyChange(previous, new_hash)


async def moderator_role(core: Core, guild_id: int) -> str | None:
    """The role a server named with `/guardrails set moderator_role:` (its id as stored), if any."""
    guild, _ = await stored_settings(core.database, guild_id, None)
    return guild.get("moderator_role")


# -- a server's own misinformation entries (part of its policy) ---------------------------------------------------


async def _record_entry_change(core: Core, place: Place, user_id: int, action: str, details: dict) -> str:
    """Record a knowledge-base change with the policy hash it gives this channel; returns that hash."""
    new_hash = record_policy_hash(core, (await here(core, place)).policy)
    await moderation.record(
        core, guild_id=place.guild_id, channel_id=place.channel_id, user_id=user_id, action=action, details=details,
        policy_hash=new_hash,
    )  # fmt: skip
    return new_hash


async def add_misinfo(core: Core, place: Place, *, user_id: int, claim: str, correction: str) -> tuple[int, str]:
    """(the new entry's number, the policy hash it gives here)."""
    assert place.guild_id is not None
    entry_id = await core.add_misinfo_entry(guild_id=place.guild_id, claim=claim, correction=correction, user_id=user_id)
    details = {"entry": entry_id, "claim": claim, "correction": correction}
    return entry_id, await _record_entry_change(core, place, user_id, "misinfo_add", details)


async def remove_misinfo(core: Core, place: Place, *, user_id: int, entry_id: int) -> str | None:
    """The policy hash the removal gives here; None when the server has no such entry."""
    assert place.guild_id is not None
    if not await core.remove_misinfo_entry(guild_id=place.guild_id, row_id=entry_id, user_id=user_id):
        return None
    return await _record_entry_change(core, place, user_id, "misinfo_remove", {"entry": entry_id})


async def misinfo_list(core: Core, guild_id: int) -> list[MisinfoEntry]:
    return await misinfo_entries(core.database, guild_id)
