"""Waiting for something a test expects to become true, instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(check: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    """Return once `check()` is true; fail the test after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"still false after {timeout_s}s: {check}")
        await asyncio.sleep(0.01)  # noqa: ASYNC110 - polling a plain condition
