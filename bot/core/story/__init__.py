"""Collaborative story games: the Discord-free service every front end drives (`StoryService`)."""

from bot.core.story.service import (
    MAX_CHOICES,
    AiResult,
    StoryError,
    StoryService,
    StoryView,
    TurnResult,
    VoteResult,
)

__all__ = ["MAX_CHOICES", "AiResult", "StoryError", "StoryService", "StoryView", "TurnResult", "VoteResult"]
