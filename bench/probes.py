"""Latency of the pieces a streamed turn is made of, without a model: the gateway's
HTTP floor, a gateway request that needs one sessions RPC, and the RPCs themselves
over NATS (the gateway makes two of them, `get` and `touch`, before a run starts).
"gateway GET session" is `GET /conversation/session/{id}`: HTTP, JWT and one RPC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import nats
from tests.support.broker import identity_from_env

from bench.api import Conversation
from bench.stats import summary
from llmsvc.common import subjects


async def _timed(
    fn: Callable[[int], Awaitable[object]], concurrency: int, rounds: int, timeout_s: float
) -> dict[str, Any]:
    times: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await fn(i)
        except Exception:
            errors += 1
            return
        times.append((time.perf_counter() - t0) * 1000)

    for r in range(rounds):
        await asyncio.gather(*(one(r * concurrency + i) for i in range(concurrency)))
    return {**summary(times, digits=2), "errors": errors}


async def measure(
    client: httpx.AsyncClient,
    nats_url: str,
    convs: list[Conversation],
    *,
    levels: list[int],
    rounds: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Each probe at each level: `rounds` bursts of `level` simultaneous requests (ms)."""
    headers = convs[0].headers
    mine = [c for c in convs if c.headers == headers]
    me = await client.get("/auth/me", headers=headers)
    me.raise_for_status()
    user_id = str(me.json()["user_id"])
    nc = await nats.connect(
        nats_url,
        connect_timeout=5,
        max_reconnect_attempts=2,
        **identity_from_env().connect_options(),
    )
    out: dict[str, Any] = {}
    try:

        def session_of(i: int) -> str:
            return mine[i % len(mine)].session_id

        def rpc(subject: str) -> Callable[[int], Awaitable[object]]:
            async def call(i: int) -> object:
                body = {"user_id": user_id, "session_id": session_of(i)}
                return await nc.request(subject, json.dumps(body).encode(), timeout=timeout_s)

            return call

        async def healthz(i: int) -> object:
            return (await client.get("/healthz")).raise_for_status()

        async def get_session(i: int) -> object:
            url = f"/conversation/session/{session_of(i)}"
            return (await client.get(url, headers=headers)).raise_for_status()

        probes: dict[str, Callable[[int], Awaitable[object]]] = {
            "gateway GET /healthz": healthz,
            "gateway GET session": get_session,
            f"NATS {subjects.SESSIONS_GET}": rpc(subjects.SESSIONS_GET),
            f"NATS {subjects.SESSIONS_TOUCH}": rpc(subjects.SESSIONS_TOUCH),
        }
        for level in levels:
            out[str(level)] = {
                name: await _timed(fn, level, rounds, timeout_s) for name, fn in probes.items()
            }
    finally:
        await nc.close()
    return out
