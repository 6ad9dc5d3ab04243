"""Access tokens revoked before they expire, shared by every gateway.

Access tokens are verified locally, so a revocation must reach every gateway replica.
It is a NATS KV entry whose per-message TTL ends when the tokens it revokes would have
expired anyway:

- `<jti>`: one token (logout);
- `family-<sid>`: every token of one login, its refresh family (a password change ends
  the user's other logins, log out everywhere all of them, a stolen refresh token all
  of them too);
- `apikey-<key_id>`: an API key, revoked by its owner (gateways remember whose a key is
  for a few minutes; this entry outlives that).

Each gateway keeps the live set in memory from a watcher, so checking a request costs
no network hop. Auth writes the family entries, the gateway the token ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llmsvc.common.logging import get_logger
from llmsvc.common.tokens import AccessClaims

log = get_logger(__name__)

BUCKET = "auth_revoked_access_tokens"


class TokenDenylist:
    def __init__(self, kv: KeyValue, js: JetStreamContext) -> None:
        self._kv = kv
        self._js = js
        self._revoked: dict[str, int] = {}  # key -> when the entry stops mattering
        self._watcher: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @classmethod
    async def open(cls, js: JetStreamContext) -> TokenDenylist:
        kv = await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE)
        )
        return cls(kv, js)

    async def revoke(self, jti: str, exp: int) -> None:
        ttl = exp - int(time.time()) + 1
        if ttl <= 0:
            return  # expired already
        self._revoked[jti] = exp
        with contextlib.suppress(KeyWrongLastSequenceError):  # revoked before: fine
            await self._kv.create(jti, str(exp).encode(), msg_ttl=max(1, ttl))

    @property
    def loaded(self) -> bool:
        """Whether every revocation stored when the watch began has been read."""
        return self._ready.is_set()

    async def revoke_family(self, family_id: str, *, ttl_s: int) -> None:
        await self._put(f"family-{family_id}", int(time.time()) + ttl_s, ttl_s)

    async def _put(self, key: str, value: int, ttl_s: int) -> None:
        self._revoked[key] = value
        # put() cannot set a TTL: publish on the key's subject with one.
        await self._js.publish(f"$KV.{BUCKET}.{key}", str(value).encode(), msg_ttl=max(1, ttl_s))

    async def revoke_api_key(self, key_id: str, *, ttl_s: int) -> None:
        await self._put(f"apikey-{key_id}", int(time.time()) + ttl_s, ttl_s)

    def api_key_revoked(self, key_id: str) -> bool:
        return self.is_revoked(f"apikey-{key_id}")

    def rejects(self, claims: AccessClaims) -> bool:
        """Whether a verified token was revoked since it was issued."""
        if self.is_revoked(claims.jti):
            return True
        return bool(claims.sid) and self.is_revoked(f"family-{claims.sid}")

    def is_revoked(self, jti: str) -> bool:
        exp = self._revoked.get(jti)
        if exp is None:
            return False
        if exp < time.time():
            self._revoked.pop(jti, None)
            return False
        return True

    def _prune(self) -> None:
        now = time.time()
        for jti in [j for j, exp in self._revoked.items() if exp < now]:
            del self._revoked[jti]

    async def start(self, *, ready_timeout_s: float = 5.0) -> None:
        """Follow revocations from every replica; returns once the current set is loaded."""
        self._watcher = asyncio.create_task(self._watch())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ready_timeout_s):
                await self._ready.wait()

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self) -> None:
        while True:
            try:
                watcher = await self._kv.watchall()
                async for entry in watcher:
                    if entry is None:  # the current values have all been delivered
                        self._ready.set()
                        continue
                    if entry.value:
                        with contextlib.suppress(ValueError):
                            self._revoked[entry.key] = int(entry.value)
                        if len(self._revoked) > 10_000:
                            self._prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("denylist_watch_failed", error=repr(exc))
                await asyncio.sleep(1)
