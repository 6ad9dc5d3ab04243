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

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from nats.js import JetStreamContext
from nats.js.api import Header, KeyValueConfig, StorageType
from nats.js.errors import APIError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from llmsvc.common import subjects

_WRONG_LAST_SEQUENCE = (10071, 10164)
_CAS_TRIES = 8


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
        js: JetStreamContext,
        kv: KeyValue,
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._js = js
        self._kv = kv
        self._namespace = _hashed(namespace)[:12] if namespace else "all"
        self._clock = clock

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> Throttle:
        """`namespace` keeps deployments that share one NATS apart (their `MONGO_DB`)."""
        kv = await js.create_key_value(
            KeyValueConfig(bucket=subjects.THROTTLE_BUCKET, history=1, storage=StorageType.FILE)
        )
        return cls(js, kv, namespace=namespace)

    async def refused_for(self, limit: Limit, key: str) -> float | None:
        """Seconds until `key` may try again, or None if it may now."""
        entry = await self._get(self._key(limit, key))
        if entry is None:
            return None
        wait = float(entry[0].get("until", 0)) - self._clock()
        return wait if wait > 0 else None

    async def hit(self, limit: Limit, key: str) -> float | None:
        """Count one attempt; the seconds `key` must now wait, or None."""
        name = self._key(limit, key)
        for _ in range(_CAS_TRIES):
            entry = await self._get(name)
            state, revision = entry if entry is not None else ({}, 0)
            count = int(state.get("n", 0)) + 1
            now = self._clock()
            until = float(state.get("until", 0))
            if count >= limit.attempts:
                until = max(until, now + limit.refusal_s(count - limit.attempts + 1))
            value = orjson.dumps({"n": count, "until": until})
            try:
                await self._js.publish(
                    f"$KV.{subjects.THROTTLE_BUCKET}.{name}",
                    value,
                    headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(revision)},
                    msg_ttl=limit.window_s,
                )
            except APIError as exc:
                if exc.err_code in _WRONG_LAST_SEQUENCE:
                    continue  # another replica counted meanwhile: count again on top
                raise
            return until - now if until > now else None
        return None  # heavy contention on one key: let this attempt through

    async def clear(self, limit: Limit, key: str) -> None:
        try:
            await self._kv.purge(self._key(limit, key))
        except KeyNotFoundError:
            pass

    def _key(self, limit: Limit, key: str) -> str:
        return f"{self._namespace}.{limit.name}.{_hashed(key)[:40]}"

    async def _get(self, name: str) -> tuple[dict[str, float], int] | None:
        try:
            entry = await self._kv.get(name)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value or entry.revision is None:
            return None
        return orjson.loads(entry.value), entry.revision


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
