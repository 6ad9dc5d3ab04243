"""Refuse request bodies over a size limit with 413 and the error body, before the app
reads them: at once when `Content-Length` says so; a body of unknown length is read up
to the limit first. Responses (and SSE streams) go out untouched.

The rest of a refused body is read and dropped (up to `DRAIN_BYTES`) before the answer,
so a client still uploading gets the 413 rather than a reset connection."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: How much of a refused body is read before answering anyway (and closing).
DRAIN_BYTES = 16 * 1024 * 1024


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained < DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            # The server holds the body to its declared length.
            if declared > self.max_bytes:
                if declared <= DRAIN_BYTES:
                    await _drain(receive)
                await self._refuse(send, openai=str(scope.get("path", "")).startswith("/v1/"))
                return
            await self.app(scope, receive, send)
            return
        # A body of unknown length (chunked) is read first, up to the limit, and then
        # handed to the app as if it had just arrived.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await _drain(receive)
                await self._refuse(send, openai=str(scope.get("path", "")).startswith("/v1/"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, send: Send, *, openai: bool) -> None:
        error: dict[str, object] = {
            "code": "payload_too_large",
            "message": f"the request body is larger than {self.max_bytes} bytes",
        }
        if openai:  # the OpenAI-compatible API's error shape
            error |= {"type": "invalid_request_error", "param": None}
        body = orjson.dumps({"error": error})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that gives the body read so far (or `pending`), then the real one."""
    first: Message | None = pending or {
        "type": "http.request",
        "body": b"".join(chunks),
        "more_body": False,
    }

    async def replay() -> Message:
        nonlocal first
        if first is not None:
            message, first = first, None
            return message
        return await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
