"""Producing a reply over time: pacing, SSE streaming and the injected stream failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from starlette.responses import StreamingResponse
from starlette.types import Send

from llmsvc.mockllm.directives import Behaviour, FailMode
from llmsvc.mockllm.schemas import ChunkEncoder
from llmsvc.mockllm.tool_script import ToolCall

#: `disconnect` drops the connection after this many tokens (fewer if the reply is short).
DISCONNECT_AFTER_TOKENS = 3

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

_INCOMPLETE_RESPONSE = "ASGI callable returned without completing response."


class StreamAborted(Exception):
    """Raised by a body iterator to drop the connection instead of ending the response."""


@dataclass
class StreamStats:
    open_streams: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one reply needs, decided before the first byte is sent."""

    model: str
    tokens: Sequence[str]
    finish_reason: str
    prompt_tokens: int
    include_usage: bool
    behaviour: Behaviour
    #: When set, the reply asks for these tool calls instead of answering in text.
    tool_calls: Sequence[ToolCall] = ()


class Pacer:
    """Token `i` is due at start + ttft + i / tokens_per_s. Deadlines are computed from
    the start time, never from the previous sleep, so delays do not accumulate."""

    __slots__ = ("_loop", "_first", "_interval")

    def __init__(self, start: float, behaviour: Behaviour) -> None:
        self._loop = asyncio.get_running_loop()
        self._first = start + behaviour.ttft_ms / 1000
        tps = behaviour.tokens_per_s
        self._interval = 1 / tps if tps > 0 else 0.0

    async def until(self, index: int) -> None:
        delay = self._first + index * self._interval - self._loop.time()
        # sleep(0) still yields, so an unpaced stream does not starve the others.
        await asyncio.sleep(delay if delay > 0 else 0)


async def wait_forever() -> None:
    """Hang until cancelled (the client went away, or the server shuts down)."""
    await asyncio.get_running_loop().create_future()


async def sse_chunks(plan: Plan, pacer: Pacer) -> AsyncGenerator[bytes, None]:
    encoder = ChunkEncoder(plan.model)
    fail = plan.behaviour.fail
    if plan.tool_calls:
        await pacer.until(0)
        for index, call in enumerate(plan.tool_calls):
            for chunk in encoder.tool_call(index, call):
                yield chunk
        tail = encoder.finish("tool_calls")
        if plan.include_usage:
            tail += encoder.usage(plan.prompt_tokens, len(plan.tool_calls))
        yield tail + ChunkEncoder.DONE
        return
    for i, token in enumerate(plan.tokens):
        if fail is FailMode.DISCONNECT and i == DISCONNECT_AFTER_TOKENS:
            raise StreamAborted
        await pacer.until(i)
        yield encoder.first(token) if i == 0 else encoder.token(token)
        if fail is FailMode.STALL:
            await wait_forever()
    if fail is FailMode.DISCONNECT:
        raise StreamAborted
    # The tail goes out in one write.
    tail = encoder.finish(plan.finish_reason)
    if plan.include_usage:
        tail += encoder.usage(plan.prompt_tokens, len(plan.tokens))
    yield tail + ChunkEncoder.DONE


async def truncated_body(body: bytes, pacer: Pacer, index: int) -> AsyncGenerator[bytes, None]:
    """Half of a non-streamed body, then a dropped connection."""
    await pacer.until(index)
    yield body[: len(body) // 2]
    raise StreamAborted


class AbortableStreamingResponse(StreamingResponse):
    """A StreamingResponse whose body may end in StreamAborted: then the response is
    left incomplete and uvicorn closes the connection, as a crashed upstream would.

    While it streams, the server sees client disconnects (ASGI spec < 2.4 path of
    Starlette), which cancel a stalled or paced body."""

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        stats: StreamStats,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._generator = content
        self._stats = stats

    async def stream_response(self, send: Send) -> None:
        self._stats.open_streams += 1
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            body: AsyncIterator[bytes] = self._generator
            try:
                async for chunk in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except StreamAborted:
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._stats.open_streams -= 1
            await self._generator.aclose()


class _HideIntentionalAborts(logging.Filter):
    """uvicorn reports a response we left incomplete as an error; here it is on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _INCOMPLETE_RESPONSE


HIDE_INTENTIONAL_ABORTS = _HideIntentionalAborts()


def install_log_filter() -> None:
    logging.getLogger("uvicorn.error").addFilter(HIDE_INTENTIONAL_ABORTS)
