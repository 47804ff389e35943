"""The default rail stack (toxicity on input and output, embedded backend), shared by the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from guardrails.stack import RailStack
from guardrails.toxicity import ToxicityRail


@pytest.fixture(scope="session")
async def default_rails(toxicity_rail: ToxicityRail) -> AsyncIterator[RailStack]:
    rails = RailStack([toxicity_rail], [toxicity_rail])
    yield rails
    await rails.close()
