"""Server-Sent Events framing (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from llmsvc.common.contracts.agent import RunEvent

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
PING = b": ping\n\n"


def frame(event: RunEvent) -> bytes:
    # orjson writes compact UTF-8 JSON (no newline can reach the data line).
    head = f"id: {event.seq}\nevent: {event.type}\ndata: ".encode()
    return head + orjson.dumps(event.data) + b"\n\n"


async def sse_stream(events: AsyncIterator[RunEvent | None]) -> AsyncIterator[bytes]:
    async for event in events:
        yield PING if event is None else frame(event)
