"""Collaborative story games: the Discord-free service every front end drives (`StoryService`)."""

from bot.core.story.rules import MAX_CHOICES, StoryError
from bot.core.story.service import StoryService
from bot.core.story.views import AiResult, StoryView, TurnResult, VoteResult

__all__ = ["MAX_CHOICES", "AiResult", "StoryError", "StoryService", "StoryView", "TurnResult", "VoteResult"]
