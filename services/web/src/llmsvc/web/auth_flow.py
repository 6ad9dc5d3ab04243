"""Calling the gateway on the user's behalf: bearer token, one refresh on 401, retry.

The gateway rotates refresh tokens and treats a reused one as theft. A page fires
several requests at once, and all of them see the same expired access token, so the
refresh for one refresh token is shared by every request that carries it
(single flight) and its result is remembered for a short while.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from llmsvc.common.logging import get_logger
from llmsvc.web.errors import NotLoggedIn, SessionExpired
from llmsvc.web.gateway_client import GatewayClient, GatewayError, TokenPair
from llmsvc.web.session_cookie import WebSession

__all__ = ["TokenRefresher", "Upstream", "call_with_refresh"]

log = get_logger(__name__)

GatewayCall = Callable[[str], Awaitable[httpx.Response]]


class TokenRefresher:
    def __init__(self, gateway: GatewayClient, *, remember_s: float = 30.0) -> None:
        self.gateway = gateway
        self.remember_s = remember_s
        self._flights: dict[str, tuple[float, asyncio.Future[TokenPair]]] = {}

    async def refresh(self, refresh_token: str, *, client: str | None = None) -> TokenPair:
        """`client`: the browser's address, for the gateway's per-address limits (the
        first request's address is the one sent when several share a refresh)."""
        now = time.monotonic()
        self._forget_older_than(now - self.remember_s)
        flight = self._flights.get(refresh_token)
        future: asyncio.Future[TokenPair]
        if flight is None:
            future = asyncio.ensure_future(self.gateway.refresh(refresh_token, client=client))
            future.add_done_callback(lambda f: self._landed(refresh_token, f))
            self._flights[refresh_token] = (now, future)
        else:
            future = flight[1]
        # Shielded: one impatient browser tab must not cancel the refresh for the others.
        return await asyncio.shield(future)

    def _landed(self, refresh_token: str, future: asyncio.Future[TokenPair]) -> None:
        exc = None if future.cancelled() else future.exception()
        # A definite "no" from the gateway stays remembered; an outage does not, so the
        # next request tries again.
        if future.cancelled() or (
            exc is not None and not (isinstance(exc, GatewayError) and exc.status < 500)
        ):
            self._flights.pop(refresh_token, None)

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, (at, _) in self._flights.items() if at < cutoff]:
            del self._flights[key]


#: A 401 with this code refuses what the user typed (a wrong current password), not
#: the access token: it goes back to the user as it is, with no refresh.
NOT_ABOUT_THE_TOKEN = frozenset({"invalid_credentials"})


async def _token_refused(response: httpx.Response) -> bool:
    if response.status_code != 401:
        return False
    await response.aread()
    return GatewayError.code_of(response.content) not in NOT_ABOUT_THE_TOKEN


@dataclass(frozen=True)
class Upstream:
    """A gateway response plus the session it was obtained with (new if refreshed)."""

    response: httpx.Response
    session: WebSession
    refreshed: bool


async def call_with_refresh(
    refresher: TokenRefresher,
    session: WebSession | None,
    call: GatewayCall,
    *,
    client: str | None = None,
) -> Upstream:
    """Run `call(access_token)`; on 401 refresh once and retry; else SessionExpired.
    `client` is the browser's address, forwarded with the refresh."""
    if session is None or not session.access_token:
        raise NotLoggedIn()
    response = await call(session.access_token)
    if not await _token_refused(response):
        return Upstream(response, session, refreshed=False)
    await response.aclose()
    if not session.refresh_token:
        raise SessionExpired()
    try:
        pair = await refresher.refresh(session.refresh_token, client=client)
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        log.info("refresh refused", status=exc.status, code=exc.code)
        raise SessionExpired() from exc
    renewed = session.with_tokens(access_token=pair.access_token, refresh_token=pair.refresh_token)
    response = await call(pair.access_token)
    if response.status_code == 401:
        await response.aclose()
        raise SessionExpired()
    return Upstream(response, renewed, refreshed=True)
