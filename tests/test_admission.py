"""The admit stage on its own: prompt cleaning, bad input, rate limit and the bounded queue."""

import asyncio

import pytest

from bot.core.admission import Busy, CapacityGate, RateLimiter, check_prompt, clean_prompt


def test_clean_prompt_strips_invisible_spam_and_defuses_mass_mentions():
    assert clean_prompt("a\u200b\u200b\u200bb\u2060c\x07") == "abc"
    assert clean_prompt("hello @everyone and @here") == "hello @\u200beveryone and @\u200bhere"
    assert clean_prompt("  many   spaces \n\n\n\n paragraphs ") == "many spaces \n\n paragraphs"
    assert clean_prompt(None) == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "empty"), ("   ", "empty"), ("\u200b" * 500, "invisible"), ("x" * 20_000, "too_long")],
)
def test_bad_prompts_get_a_reason_and_a_short_message(raw, reason):
    refusal = check_prompt(raw, clean_prompt(raw), 1500)
    assert refusal is not None and refusal.reason == reason
    assert len(refusal.message) < 200


def test_optional_prompt_may_be_absent():
    assert check_prompt(None, "", 1500, required=False) is None
    assert check_prompt("fine", "fine", 1500) is None


def test_rate_limit_is_per_member_and_slides():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check(1) is None and limiter.check(1) is None
    refusal = limiter.check(1)
    assert refusal is not None and refusal.reason == "rate_limited"
    assert limiter.check(2) is None, "another member has their own window"
    now[0] = 60.0
    assert limiter.check(1) is None


async def test_capacity_gate_queues_then_answers_busy():
    gate = CapacityGate(slots=1, max_waiting=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert gate.running == 1 and gate.waiting == 1
    with pytest.raises(Busy):
        async with gate.slot():
            pass
    release.set()
    await asyncio.gather(holder, waiter)
    assert gate.running == 0 and gate.waiting == 0
