"""Waiting for something a test expects to become true, instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    """Return once `check()` is true; fail the test after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"still false after {timeout_s}s: {check}")
        await asyncio.sleep(0.01)  # noqa: ASYNC110 - polling a plain condition


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    *,
    timeout_s: float = 10.0,
    every_s: float = 0.1,
) -> T:
    """Ask `probe()` until `ok` accepts its answer, and return that answer; fail the
    test after `timeout_s` with the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        answer = await probe()
        if ok(answer):
            return answer
        if loop.time() > deadline:
            raise AssertionError(f"not as expected after {timeout_s}s: {answer!r}")
        await asyncio.sleep(every_s)
