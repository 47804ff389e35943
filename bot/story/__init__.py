"""Collaborative story games (issue 5): the Discord-free service front ends drive (`StoryService`)."""

from bot.story.service import AiResult, StoryError, StoryService, StoryView, TurnResult, VoteResult

__all__ = ["AiResult", "StoryError", "StoryService", "StoryView", "TurnResult", "VoteResult"]
