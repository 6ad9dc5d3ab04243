"""Whose an API key is, as this gateway knows it.

The gateway asks auth (`auth.v1.api_keys.verify`) the first time it meets a key and
remembers the answer for `API_KEY_CACHE_S`, keyed by the key's hash (the key itself is
not kept). A revoked key is refused at once: its revocation arrives through the
watched revocation bucket, which is checked on every request whatever is remembered.
"""

from __future__ import annotations

import hashlib
import time

from llmsvc.common.clients import AuthClient
from llmsvc.common.contracts.auth import ApiKeyOwner, ApiKeyVerifyRequest
from llmsvc.common.errors import Unauthorized
from llmsvc.common.ids import utcnow
from llmsvc.common.token_denylist import TokenDenylist

__all__ = ["ApiKeyResolver"]

_MAX_REMEMBERED = 10_000
_MAX_KEY_CHARS = 256


class ApiKeyResolver:
    def __init__(self, auth: AuthClient, denylist: TokenDenylist, *, cache_s: float) -> None:
        self._auth = auth
        self._denylist = denylist
        self._cache_s = cache_s
        self._owners: dict[str, tuple[ApiKeyOwner, float]] = {}

    async def owner(self, key: str) -> ApiKeyOwner:
        if len(key) > _MAX_KEY_CHARS:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        remembered = self._owners.get(digest)
        if remembered is None or now - remembered[1] >= self._cache_s:
            owner = await self._auth.api_key_owner(ApiKeyVerifyRequest(key=key))
            if len(self._owners) >= _MAX_REMEMBERED:
                self._owners.clear()
            remembered = self._owners[digest] = (owner, now)
        owner = remembered[0]
        if self._denylist.api_key_revoked(owner.key_id):
            self._owners.pop(digest, None)
            raise Unauthorized("API key revoked", code="api_key_revoked")
        if owner.expires_at is not None and owner.expires_at <= utcnow():
            self._owners.pop(digest, None)
            raise Unauthorized("API key expired", code="api_key_expired")
        return owner
