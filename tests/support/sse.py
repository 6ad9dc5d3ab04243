"""A small, strict SSE reader for tests (what a browser's EventSource would see)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    id: int | None
    event: str
    data: Any


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    fields: dict[str, str] = {}
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data_lines or fields:
                yield SseEvent(
                    id=int(fields["id"]) if "id" in fields else None,
                    event=fields.get("event", "message"),
                    data=json.loads("\n".join(data_lines)) if data_lines else None,
                )
            fields, data_lines = {}, []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive ping
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data_lines.append(value)
        else:
            fields[name] = value


async def collect_sse(response: httpx.Response) -> list[SseEvent]:
    return [event async for event in read_sse(response)]


def stored(events: list[SseEvent]) -> list[SseEvent]:
    """The run's own (stored, numbered) events: without the gateway's `queued` notice."""
    return [event for event in events if event.id is not None]
