"""JSON values in a NATS KV bucket, changed by compare-and-set with a per-message TTL:
what the abuse limits and the per-user quotas count in, shared by every replica.

`change(key, fn)` reads the entry, lets `fn` decide the new value, and writes it only
if nobody wrote in between (the expected last sequence of the key's subject); on a
collision it reads again and asks `fn` again. Each write renews the entry's TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import APIError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

__all__ = ["Contended", "JsonEntries", "hashed", "namespace_prefix"]

T = TypeVar("T")
State = dict[str, Any]

_WRONG_LAST_SEQUENCE = (10071, 10164)


def hashed(text: str) -> str:
    """A KV-safe stand-in for `text` (emails, addresses and ids are not all valid keys,
    and the bucket then holds no personal data)."""
    return hashlib.sha256(text.encode()).hexdigest()


def namespace_prefix(namespace: str) -> str:
    """The first key token of a deployment's entries (`MONGO_DB`), so deployments that
    share one NATS keep apart."""
    return hashed(namespace)[:12] if namespace else "all"


class Contended(Exception):
    """Too many writers at once on one key: nothing was written."""


class JsonEntries:
    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str) -> None:
        self._js = js
        self._kv = kv
        self._bucket = bucket

    async def get(self, key: str) -> tuple[State, int] | None:
        """The entry's value and revision, or None if there is none (or it expired)."""
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value or entry.revision is None:
            return None
        value = orjson.loads(entry.value)
        return (value if isinstance(value, dict) else {}), entry.revision

    async def change(
        self,
        key: str,
        fn: Callable[[State], tuple[State | None, T]],
        *,
        ttl_s: int,
        tries: int = 16,
    ) -> T:
        """Apply `fn` to the current value (`{}` if none): it returns the value to write
        (None: write nothing) and the result to return. Writers that collide wait a
        random, growing moment before they try again, so a burst on one key (one
        user's parallel requests) is serialised rather than refused."""
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            state, revision = await self._current(key)
            new_state, result = fn(dict(state))
            if new_state is None:
                return result
            try:
                await self._js.publish(
                    f"$KV.{self._bucket}.{key}",
                    orjson.dumps(new_state),
                    headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(revision)},
                    msg_ttl=max(1, ttl_s),
                )
            except APIError as exc:
                if exc.err_code in _WRONG_LAST_SEQUENCE:
                    continue  # another replica wrote meanwhile: decide again on its value
                raise
            return result
        raise Contended(key)

    async def _current(self, key: str) -> tuple[State, int]:
        """The value to change and the revision to expect: a deleted or purged entry
        is empty, but its marker is the key's last message, so a write must expect the
        marker's revision (expecting 0 would be refused forever after a purge)."""
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError) as exc:
            marker = exc.entry
            revision = getattr(marker, "revision", None)
            return {}, int(revision or 0)
        if not entry.value or entry.revision is None:
            return {}, int(entry.revision or 0)
        value = orjson.loads(entry.value)
        return (value if isinstance(value, dict) else {}), entry.revision

    async def purge(self, key: str) -> None:
        try:
            await self._kv.purge(key)
        except KeyNotFoundError:
            pass
