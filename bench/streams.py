"""One streamed reply, timed by the client: directly from mockllm (the baseline) or
through the gateway (`POST /conversation`). Every request is bounded by a timeout and
never raises: failures come back as a result with `error` set."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.sse import read_sse


def count_tokens(text: str) -> int:
    """Model tokens in a chunk of text: mockllm's tokens are words (`tok12 `); several
    may arrive in one event when the service coalesces them."""
    return max(1, len(text.split())) if text else 0


@dataclass
class StreamResult:
    ok: bool = False
    error: str | None = None
    status: int | None = None
    #: Seconds from sending the request to the response headers.
    headers_s: float | None = None
    #: Seconds to the `metadata` event (the service only: a worker has taken the run).
    metadata_s: float | None = None
    #: Seconds from sending the request to the first content token.
    ttft_s: float | None = None
    #: Arrival time (s, since the request was sent) of every model token; tokens that
    #: arrive in one event share its time.
    token_times: list[float] = field(default_factory=list)
    events: int = 0
    total_s: float = 0.0
    run_id: str | None = None
    thread_id: str | None = None

    @property
    def tokens(self) -> int:
        return len(self.token_times)

    def gaps_s(self) -> list[float]:
        t = self.token_times
        return [b - a for a, b in zip(t, t[1:], strict=False)]

    def event_gaps_s(self) -> list[float]:
        """Gaps between arrivals of text (coalesced tokens count once)."""
        t = [x for i, x in enumerate(self.token_times) if i == 0 or x != self.token_times[i - 1]]
        return [b - a for a, b in zip(t, t[1:], strict=False)]

    def rate_tps(self) -> float | None:
        """Delivered tokens per second, first token to last."""
        t = self.token_times
        if len(t) < 2 or t[-1] <= t[0]:
            return None
        return (len(t) - 1) / (t[-1] - t[0])

    def add_tokens(self, n: int, at: float) -> None:
        if n <= 0:
            return
        if self.ttft_s is None:
            self.ttft_s = at
        self.token_times.extend([at] * n)
        self.events += 1


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


async def baseline_stream(
    client: httpx.AsyncClient, model_url: str, model: str, message: str, timeout_s: float
) -> StreamResult:
    """Stream a chat completion straight from the OpenAI-compatible `model_url` (…/v1)."""
    result = StreamResult()
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": message}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            async with client.stream("POST", f"{model_url}/chat/completions", json=body) as r:
                result.status = r.status_code
                result.headers_s = time.perf_counter() - t0
                if r.status_code != 200:
                    result.error = f"http_{r.status_code}"
                    await r.aread()
                    return result
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        result.ok = True
                        break
                    chunk = json.loads(data)
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        result.add_tokens(count_tokens(text), time.perf_counter() - t0)
                if not result.ok:
                    result.error = "stream_ended_without_done"
    except TimeoutError:
        result.error = "timeout"
    except Exception as exc:  # record, never raise: one failure must not stop the run
        result.error = _describe(exc)
    finally:
        result.total_s = time.perf_counter() - t0
    return result


async def service_stream(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    session_id: str,
    message: str,
    timeout_s: float,
) -> StreamResult:
    """`POST /conversation` (stream) on the gateway `client` is bound to."""
    body = {"message": message, "session_id": session_id, "stream": True}
    return await sse_request(client, "/conversation", body, headers, timeout_s)


async def relay_stream(client: httpx.AsyncClient, message: str, timeout_s: float) -> StreamResult:
    """`POST /relay` on the bare relay's gateway (`bench.relay`) `client` is bound to."""
    return await sse_request(client, "/relay", {"message": message}, {}, timeout_s)


async def sse_request(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    timeout_s: float,
) -> StreamResult:
    """POST `body` to `path` and read the SSE reply, timed to the first `token` event
    and to each one after it, ending at `done`."""
    result = StreamResult()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            async with client.stream("POST", path, json=body, headers=headers) as r:
                result.status = r.status_code
                result.headers_s = time.perf_counter() - t0
                if r.status_code != 200:
                    text = (await r.aread()).decode(errors="replace")
                    code = _error_code(text)
                    result.error = f"http_{r.status_code}" + (f":{code}" if code else "")
                    return result
                async for event in read_sse(r):
                    if event.event == "token":
                        text = str((event.data or {}).get("text", ""))
                        result.add_tokens(count_tokens(text), time.perf_counter() - t0)
                    elif event.event == "metadata":
                        result.metadata_s = time.perf_counter() - t0
                        result.run_id = event.data.get("run_id")
                        result.thread_id = event.data.get("thread_id")
                    elif event.event == "reset":
                        result.token_times.clear()
                        result.ttft_s = None
                    elif event.event == "done":
                        result.ok = True
                        break
                    elif event.event in ("error", "cancelled"):
                        code = (event.data or {}).get("code", "")
                        result.error = f"{event.event}:{code}" if code else event.event
                        break
                if not result.ok and result.error is None:
                    result.error = "stream_ended_without_done"
    except TimeoutError:
        result.error = "timeout"
    except Exception as exc:  # record, never raise
        result.error = _describe(exc)
    finally:
        result.total_s = time.perf_counter() - t0
    return result


def _error_code(text: str) -> str | None:
    try:
        code = json.loads(text)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(code)
