"""Attempt counters shared by every replica, for abuse limits (failed logins per
account and address, registrations and refreshes per address).

Each counter is one entry of a NATS KV bucket, `{n, until}`: `n` attempts since the
entry was created, and `until` the time before which the next attempt is refused. An
entry lives `window_s` after its last change (a per-message TTL), so a quiet window
forgets it. From the `attempts`-th attempt on, the next one is refused for a growing
time: `backoff_s`, doubled per extra attempt, at most `window_s`. Updates are
compare-and-set on the entry's revision, so two replicas counting at once both count.
Keys are hashed: emails and IPv6 addresses are not valid KV keys, and the bucket then
holds no personal data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType

from llmsvc.common import subjects
from llmsvc.common.kv_entries import Contended, JsonEntries, hashed, namespace_prefix


@dataclass(frozen=True)
class Limit:
    #: Names the counter family in its keys.
    name: str
    attempts: int
    window_s: int
    #: The first refusal past `attempts` lasts this long; each further one twice the last.
    backoff_s: float = 30.0

    def refusal_s(self, over: int) -> float:
        return float(min(self.window_s, self.backoff_s * 2 ** max(0, over - 1)))


class Throttle:
    def __init__(
        self,
        entries: JsonEntries,
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries = entries
        self._namespace = namespace_prefix(namespace)
        self._clock = clock

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> Throttle:
        """`namespace` keeps deployments that share one NATS apart (their `MONGO_DB`)."""
        kv = await js.create_key_value(
            KeyValueConfig(bucket=subjects.THROTTLE_BUCKET, history=1, storage=StorageType.FILE)
        )
        return cls(JsonEntries(js, kv, subjects.THROTTLE_BUCKET), namespace=namespace)

    async def refused_for(self, limit: Limit, key: str) -> float | None:
        """Seconds until `key` may try again, or None if it may now."""
        entry = await self._entries.get(self._key(limit, key))
        if entry is None:
            return None
        wait = float(entry[0].get("until", 0)) - self._clock()
        return wait if wait > 0 else None

    async def hit(self, limit: Limit, key: str) -> float | None:
        """Count one attempt; the seconds `key` must now wait, or None."""

        def count(state: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
            n = int(state.get("n", 0)) + 1
            now = self._clock()
            until = float(state.get("until", 0))
            if n >= limit.attempts:
                until = max(until, now + limit.refusal_s(n - limit.attempts + 1))
            return {"n": n, "until": until}, (until - now if until > now else None)

        try:
            return await self._entries.change(self._key(limit, key), count, ttl_s=limit.window_s)
        except Contended:
            return None  # heavy contention on one key: let this attempt through

    async def clear(self, limit: Limit, key: str) -> None:
        await self._entries.purge(self._key(limit, key))

    def _key(self, limit: Limit, key: str) -> str:
        return f"{self._namespace}.{limit.name}.{hashed(key)[:40]}"
