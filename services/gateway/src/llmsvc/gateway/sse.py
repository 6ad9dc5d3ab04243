"""Server-Sent Events framing (docs/design.md §4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from llmsvc.common.contracts.agent import RunEvent

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
PING = b": ping\n\n"


def frame(event: RunEvent) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()


async def sse_stream(events: AsyncIterator[RunEvent | None]) -> AsyncIterator[bytes]:
    async for event in events:
        yield PING if event is None else frame(event)
