"""The public keys this gateway verifies access tokens with, fetched from auth.

Auth publishes its key set on `auth.v1.jwks`; the gateway loads it at start-up (and
keeps retrying in the background until auth answers), refreshes it every
`refresh_s`, and fetches it again at once when a token names a key it has not seen,
at most once per `min_refetch_s`, so random `kid`s cannot make it hammer auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from llmsvc.common.clients import AuthClient
from llmsvc.common.errors import ServiceError, Unauthorized, Unavailable
from llmsvc.common.logging import get_logger
from llmsvc.common.tokens import AccessClaims, TokenAudience, TokenVerifier, UnknownSigningKey

__all__ = ["TokenKeys"]

log = get_logger(__name__)


class TokenKeys:
    def __init__(
        self,
        auth: AuthClient,
        *,
        audience: TokenAudience,
        leeway_s: int,
        refresh_s: float = 300.0,
        min_refetch_s: float = 1.0,
    ) -> None:
        self._auth = auth
        self._audience = audience
        self._leeway_s = leeway_s
        self._refresh_s = refresh_s
        self._min_refetch_s = min_refetch_s
        self._verifier: TokenVerifier | None = None
        self._jwks: dict[str, Any] = {"keys": []}
        self._fetched_at = 0.0
        self._fetching: asyncio.Lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._verifier is not None

    @property
    def jwks(self) -> dict[str, Any]:
        """The key set as last fetched (what `/.well-known/jwks.json` shows)."""
        return self._jwks

    async def start(self) -> None:
        with contextlib.suppress(ServiceError):
            await self._fetch()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    async def verify(self, token: str) -> AccessClaims:
        verifier = self._verifier
        if verifier is None:
            verifier = await self._refetch()
            if verifier is None:
                raise Unavailable("cannot check tokens yet; try again", code="service_unavailable")
        try:
            return verifier.verify(token)
        except UnknownSigningKey:
            refreshed = await self._refetch()
            if refreshed is None or refreshed is verifier:
                raise
            return refreshed.verify(token)

    async def _refetch(self) -> TokenVerifier | None:
        """Fetch the set again unless that happened a moment ago (or is happening). With
        no keys yet, every caller tries (one at a time): auth may have just started."""
        had = self._verifier
        async with self._fetching:
            if self._verifier is not had:
                return self._verifier  # fetched while we waited
            if had is None or time.monotonic() - self._fetched_at >= self._min_refetch_s:
                with contextlib.suppress(ServiceError):
                    await self._fetch_locked()
        return self._verifier

    async def _fetch(self) -> None:
        async with self._fetching:
            await self._fetch_locked()

    async def _fetch_locked(self) -> None:
        self._fetched_at = time.monotonic()
        document = await self._auth.signing_keys()
        verifier = TokenVerifier.from_jwks(
            document, audience=self._audience, leeway_s=self._leeway_s
        )
        if not verifier.key_ids:
            raise Unauthorized("auth published no signing keys", code="invalid_token")
        if self._verifier is None or verifier.key_ids != self._verifier.key_ids:
            log.info("token_keys_loaded", kids=sorted(verifier.key_ids))
            self._verifier = verifier
            self._jwks = document

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0 if self._verifier is None else self._refresh_s)
            try:
                await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("token_keys_refresh_failed", error=repr(exc))
