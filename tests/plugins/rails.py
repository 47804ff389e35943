"""The default rail stack (as `bot.core.app.load_rails` builds it, embedded backends), shared by the session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from guardrails.rails.language import LanguageRail
from guardrails.stack import RailStack


@pytest.fixture(scope="session")
async def default_rails(toxicity_rail, injection_rail, misinfo_rail, dangerous_rail) -> AsyncIterator[RailStack]:
    rails = RailStack(
        [toxicity_rail.for_prompts(), injection_rail, dangerous_rail],
        [toxicity_rail, misinfo_rail, dangerous_rail],
        language=LanguageRail(),
    )
    yield rails
    await rails.close()
