"""Storyloom's tables, one module per area; importing the package defines them all on `Base.metadata`
(migrations and `storage/migrations/env.py` compare against it)."""

from storage.models.base import NO_GUILD, Base, aware, guild_key, utcnow
from storage.models.requests import NON_PASS, Delivery, Generation, Request, RequestStatus, Verdict
from storage.models.moderation import (
    GuardrailSetting,
    MisinfoEntry,
    ModerationAction,
    PolicyVersion,
    Review,
    ReviewStatus,
)
from storage.models.chain import ChainCheckpoint, ChainEntry, ChainHead
from storage.models.counters import AuditFlaggedCount, AuditMember, AuditRequestCount, AuditVerdictCount
from storage.models.leases import InstanceLease
from storage.models.stories import (
    PlayerStatus,
    StoryChoiceSet,
    StoryMode,
    StoryPlayer,
    StorySession,
    StoryStatus,
    StoryTurn,
    StoryVote,
    TurnStatus,
)
from storage.models.feedback import Vote
from storage.models.servers import RateCounter, ServerSetting

__all__ = [
    "AuditFlaggedCount",
    "AuditMember",
    "AuditRequestCount",
    "AuditVerdictCount",
    "Base",
    "NO_GUILD",
    "ChainCheckpoint",
    "ChainEntry",
    "ChainHead",
    "Delivery",
    "Generation",
    "GuardrailSetting",
    "InstanceLease",
    "MisinfoEntry",
    "NON_PASS",
    "ModerationAction",
    "PlayerStatus",
    "PolicyVersion",
    "RateCounter",
    "Request",
    "RequestStatus",
    "Review",
    "ReviewStatus",
    "ServerSetting",
    "StoryChoiceSet",
    "StoryMode",
    "StoryPlayer",
    "StorySession",
    "StoryStatus",
    "StoryTurn",
    "StoryVote",
    "TurnStatus",
    "Verdict",
    "Vote",
    "aware",
    "guild_key",
    "utcnow",
]
