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


def queued_frame(*, run_id: str, session_id: str) -> bytes:
    """Sent by the gateway before any stored event of a run no worker may have taken
    yet, so the client knows the run's id at once. It is not stored and has no `id`."""
    return (
        b"event: queued\ndata: "
        + orjson.dumps({"run_id": run_id, "session_id": session_id})
        + b"\n\n"
    )


async def sse_stream(
    events: AsyncIterator[RunEvent | None], *, first: bytes = b""
) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for event in events:
        yield PING if event is None else frame(event)
