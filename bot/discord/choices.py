"""The fixed choices slash-command options offer, shared by the cogs that take them."""

from __future__ import annotations

from collections.abc import Iterable

from discord import app_commands

from bot.core.prompts import KINDS
from guardrails.ratings import RATINGS
from storage.export import FORMATS
from storage.models import StoryMode


def _same(values: Iterable[str]) -> list[app_commands.Choice[str]]:
    """Each value offered under its own name."""
    return [app_commands.Choice(name=str(value), value=str(value)) for value in values]


KIND_CHOICES = _same(KINDS)
LENGTH_CHOICES = _same(("short", "medium", "long"))
RATING_CHOICES = _same(RATINGS)
FORMAT_CHOICES = _same(FORMATS)
STORY_MODE_CHOICES = _same(mode.value for mode in StoryMode)
ROUND_ROBIN = StoryMode.ROUND_ROBIN.value
"""The story mode whose turns go in join order (the default)."""
