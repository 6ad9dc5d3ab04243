"""Memory per open stream: many idle SSE streams held open on one gateway process.

With every agent worker stopped, each `POST /conversation` (a new conversation each)
queues its run and keeps its stream open on keep-alive pings: the gateway holds an
ordered JetStream consumer and a response per stream, and nothing else moves. The
queued jobs are purged afterwards, so no worker runs them later."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import nats
from tests.support.broker import identity_from_env

from bench.procinfo import tree_rss_kib
from llmsvc.common import subjects


async def measure(
    gateway_url: str,
    users: list[dict[str, str]],
    *,
    streams: int,
    gateway_pid: int,
    nats_url: str,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    before = tree_rss_kib(gateway_pid)
    opened = 0
    errors: dict[str, int] = {}
    all_open = asyncio.Event()
    release = asyncio.Event()
    gate = asyncio.Semaphore(32)  # how many requests are being set up at once
    limits = httpx.Limits(max_connections=streams + 8, max_keepalive_connections=0)
    timeout = httpx.Timeout(timeout_s, connect=30.0)

    async def hold(client: httpx.AsyncClient, i: int) -> None:
        nonlocal opened
        body = {"message": f"idle {i}", "stream": True}
        try:
            await gate.acquire()
            released = False
            try:
                async with client.stream(
                    "POST", "/conversation", json=body, headers=users[i % len(users)]
                ) as r:
                    gate.release()
                    released = True
                    if r.status_code != 200:
                        kind = f"http_{r.status_code}"
                        errors[kind] = errors.get(kind, 0) + 1
                        return
                    opened += 1
                    if opened == streams:
                        all_open.set()
                    await release.wait()
            finally:
                if not released:
                    gate.release()
        except Exception as exc:
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
        finally:
            if opened + sum(errors.values()) >= streams:
                all_open.set()

    async with httpx.AsyncClient(base_url=gateway_url, limits=limits, timeout=timeout) as client:
        tasks = [asyncio.create_task(hold(client, i)) for i in range(streams)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_open.wait(), timeout_s)
        await asyncio.sleep(2.0)  # let buffers and consumers settle
        held = tree_rss_kib(gateway_pid)
        still_open = opened
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await _purge_jobs(nats_url)
    per_stream = (
        round(((held or 0) - (before or 0)) / still_open, 1) if still_open and held else None
    )
    return {
        "requested": streams,
        "open": still_open,
        "errors": errors,
        "gateway_rss_before_kib": before,
        "gateway_rss_open_kib": held,
        "per_stream_kib": per_stream,
    }


async def _purge_jobs(nats_url: str) -> None:
    nc = await nats.connect(nats_url, **identity_from_env().connect_options())
    try:
        await nc.jetstream().purge_stream(subjects.AGENT_JOBS_STREAM)
    finally:
        await nc.close()
