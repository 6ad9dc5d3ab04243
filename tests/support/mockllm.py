"""Start `llm-mockllm` (libs/mockllm) as a real process on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import Proc, free_port, service_proc


def start_mockllm(workdir: Path, **env: str | int | float) -> Proc:
    """A started mockllm; `env` sets its variables, e.g. `MOCKLLM_TTFT_MS=200`.

    Inherited `MOCKLLM_*` variables are dropped so the caller's environment cannot change
    what a test expects. The OpenAI base URL is `base_url(proc)`.
    """
    port = free_port()
    proc = service_proc(
        f"mockllm-{port}",
        "llm-mockllm",
        {k: str(v) for k, v in env.items()},
        workdir,
        port=port,
    )
    for key in [k for k in proc.env if k.startswith("MOCKLLM_") and k not in env]:
        del proc.env[key]
    proc.env["MOCKLLM_HOST"] = "127.0.0.1"
    proc.env["MOCKLLM_PORT"] = str(port)
    return proc.start()


def base_url(proc: Proc) -> str:
    return f"http://127.0.0.1:{proc.port}/v1"


@contextlib.contextmanager
def running_mockllm(workdir: Path, **env: str | int | float) -> Iterator[Proc]:
    proc = start_mockllm(workdir, **env)
    try:
        yield proc
    finally:
        proc.stop()


async def model_requests(proc: Proc, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest chat-completion request bodies mockllm received, oldest first (each
    with its `received_at` time)."""
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{proc.port}/_mock/requests?limit={limit}")
    requests: list[dict[str, Any]] = r.json()["requests"]
    return requests


async def requests_ending_with(proc: Proc, last_message: str) -> list[dict[str, Any]]:
    """The received requests whose last message is `last_message`, oldest first: the
    model calls of one turn (other runs, such as title calls, may come in between)."""
    return [
        r
        for r in await model_requests(proc)
        if r["messages"] and r["messages"][-1].get("content") == last_message
    ]


async def last_request_mentioning(proc: Proc, text: str) -> dict[str, Any]:
    """The newest received request with `text` in one of its messages."""
    for request in reversed(await model_requests(proc)):
        if any(text in str(m.get("content")) for m in request["messages"]):
            found: dict[str, Any] = request
            return found
    raise AssertionError(f"mockllm received no request mentioning {text!r}")
