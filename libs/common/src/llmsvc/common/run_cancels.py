"""Cancels for runs that no worker has started yet (docs/design.md §3: such a cancel is kept).

A running run listens on `agent.v1.runs.<id>.cancel`; a queued one has nobody
listening, so the gateway also records the cancel here and the worker that picks
the job up checks it first. The requester's user id is stored: a worker honours a
cancel only from the run's owner.
"""

from __future__ import annotations

import contextlib

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

BUCKET = "agent_run_cancels"


class RunCancels:
    def __init__(self, kv: KeyValue, *, ttl_s: int) -> None:
        self._kv = kv
        self._ttl_s = ttl_s

    @classmethod
    async def open(cls, js: JetStreamContext, *, ttl_s: int) -> RunCancels:
        kv = await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE)
        )
        return cls(kv, ttl_s=ttl_s)

    async def request(self, run_id: str, user_id: str) -> None:
        with contextlib.suppress(KeyWrongLastSequenceError):  # asked before: kept already
            await self._kv.create(run_id, user_id.encode(), msg_ttl=self._ttl_s)

    async def requested_by(self, run_id: str, user_id: str) -> bool:
        try:
            entry = await self._kv.get(run_id)
        except (KeyNotFoundError, KeyDeletedError):
            return False
        return entry.value == user_id.encode()
