"""Relaying gateway responses to the browser: status and body unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmsvc.common.logging import get_logger
from llmsvc.web.auth_flow import Upstream
from llmsvc.web.gateway_client import GatewayUnavailable
from llmsvc.web.session_cookie import SessionCookies

__all__ = ["relay_body", "relay_stream"]

log = get_logger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _keep_cookie(response: Response, upstream: Upstream, cookies: SessionCookies) -> Response:
    if upstream.refreshed:
        cookies.save(response, upstream.session)
    return response


def relay_body(upstream: Upstream, cookies: SessionCookies) -> Response:
    """A read (non-streamed) gateway response, passed through."""
    source = upstream.response
    if source.status_code == 204 or not source.content:
        response = Response(status_code=source.status_code)
    else:
        media_type = source.headers.get("content-type", "application/json")
        response = Response(source.content, status_code=source.status_code, media_type=media_type)
    # The user's own data: never kept by the browser or a shared cache.
    response.headers.setdefault("cache-control", "no-store")
    return _keep_cookie(response, upstream, cookies)


async def _chunks(source: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in source.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        # Ending the stream without a terminal event is what the page treats as a
        # dropped connection: it resumes from the last event id it saw.
        log.warning("upstream stream broke", error=str(exc) or type(exc).__name__)


class UpstreamEventStream(StreamingResponse):
    """Relays an open SSE response and always closes it, also when the browser leaves
    (Starlette then cancels the body loop) so the gateway stops relaying too."""

    def __init__(self, source: httpx.Response) -> None:
        super().__init__(
            _chunks(source),
            status_code=source.status_code,
            headers=SSE_HEADERS,
            media_type=source.headers.get("content-type", "text/event-stream"),
        )
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.source.aclose()


async def relay_stream(upstream: Upstream, cookies: SessionCookies) -> Response:
    """An open (streamed) gateway response: SSE is relayed as it arrives, anything else
    (an error body, say) is read and passed through."""
    source = upstream.response
    content_type = source.headers.get("content-type", "")
    if source.is_success and content_type.startswith("text/event-stream"):
        return _keep_cookie(UpstreamEventStream(source), upstream, cookies)
    try:
        await source.aread()
    except httpx.TransportError as exc:
        raise GatewayUnavailable(str(exc) or type(exc).__name__) from exc
    finally:
        await source.aclose()
    return relay_body(upstream, cookies)
