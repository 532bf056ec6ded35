"""Waiting in a test for something another task, process or server does."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0, *, every: float = 0.05
) -> float:
    """Check `condition` (plain or async) every `every` seconds until it holds; how long that
    took. `AssertionError` once `seconds` have passed without it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        outcome = condition()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return loop.time() - started
        if loop.time() - started > seconds:
            raise AssertionError(f"not true within {seconds} s")
        await asyncio.sleep(every)
