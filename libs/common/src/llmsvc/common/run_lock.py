"""At most one active run per conversation, across every gateway and worker.

A NATS KV entry per session holds the active run's id with a per-message TTL: the
gateway creates it (create wins once), the worker renews it while the run is alive
and deletes it when the run ends; a crashed holder's lock expires on its own.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import Header, KeyValueConfig, StorageType
from nats.js.errors import APIError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llmsvc.common import subjects

_WRONG_LAST_SEQUENCE = (10071, 10164)


class RunLocks:
    def __init__(self, js: JetStreamContext, kv: KeyValue, *, ttl_s: int) -> None:
        self._js = js
        self._kv = kv
        self._ttl_s = ttl_s

    @classmethod
    async def open(cls, js: JetStreamContext, *, ttl_s: int) -> RunLocks:
        kv = await js.create_key_value(
            KeyValueConfig(bucket=subjects.ACTIVE_RUNS_BUCKET, history=1, storage=StorageType.FILE)
        )
        return cls(js, kv, ttl_s=ttl_s)

    async def acquire(self, session_id: str, run_id: str) -> str | None:
        """Take the lock for `run_id`; return None on success, else the holder's run id."""
        try:
            await self._kv.create(session_id, run_id.encode(), msg_ttl=self._ttl_s)
            return None
        except KeyWrongLastSequenceError:
            holder = await self.holder(session_id)
            if holder is None:  # released between our create and get: try once more
                try:
                    await self._kv.create(session_id, run_id.encode(), msg_ttl=self._ttl_s)
                    return None
                except KeyWrongLastSequenceError:
                    return await self.holder(session_id) or "unknown"
            return holder

    async def holder(self, session_id: str) -> str | None:
        try:
            entry = await self._kv.get(session_id)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return entry.value.decode() if entry.value else None

    async def holds(self, session_id: str, run_id: str) -> bool:
        return await self.holder(session_id) == run_id

    async def renew(self, session_id: str, run_id: str) -> bool:
        """Extend the TTL if `run_id` still holds the lock (compare-and-set)."""
        try:
            entry = await self._kv.get(session_id)
        except (KeyNotFoundError, KeyDeletedError):
            entry = None
        if entry is None:
            # Expired while we ran (e.g. the job waited long in the queue): take it again.
            return await self.acquire(session_id, run_id) is None
        if entry.value != run_id.encode():
            return False
        try:
            # kv.update would drop the TTL, so publish with the expected revision ourselves.
            await self._js.publish(
                f"$KV.{subjects.ACTIVE_RUNS_BUCKET}.{session_id}",
                run_id.encode(),
                headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(entry.revision)},
                msg_ttl=self._ttl_s,
            )
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                return False
            raise
        return True

    async def release(self, session_id: str, run_id: str) -> None:
        try:
            entry = await self._kv.get(session_id)
        except (KeyNotFoundError, KeyDeletedError):
            return
        if entry.value != run_id.encode():
            return
        try:
            await self._kv.delete(session_id, last=entry.revision)
        except (KeyWrongLastSequenceError, APIError):
            pass  # someone else holds it now; theirs to release
