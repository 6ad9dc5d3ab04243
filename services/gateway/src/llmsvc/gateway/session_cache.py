"""Sessions this gateway has already checked, so a message to a known conversation
costs no `sessions.v1.get` round trip before its run starts.

Only what a run needs is read from here (owner, thread id, model, instructions, whether
it is still unnamed). Owner and thread never change; the rest changes by `PATCH`, which
the sessions service tells every gateway on `sessions.v1.notify.updated` (an entry this
gateway holds takes the new version). Every gateway hears deletions on
`sessions.v1.events.deleted` and drops the entry; it drops everything after a NATS
reconnect (a message may have gone by unheard), and entries expire after `ttl_s` in any
case. Reads that show a session to the user (its name,
timestamps) still ask the sessions service.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from llmsvc.common import subjects
from llmsvc.common.contracts.sessions import Session, SessionDeleted, SessionUpdated


class SessionCache:
    def __init__(
        self,
        nc: NATS,
        *,
        max_entries: int = 50_000,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nc = nc
        self._max = max_entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        self._reconnects = self._reconnect_count()
        self._sub: Subscription | None = None
        self._updates: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(subjects.SESSIONS_DELETED, cb=self._on_deleted)
        self._updates = await self._nc.subscribe(subjects.SESSIONS_UPDATED, cb=self._on_updated)

    async def stop(self) -> None:
        for sub in (self._sub, self._updates):
            if sub is not None:
                await sub.unsubscribe()

    def get(self, *, user_id: str, session_id: str) -> Session | None:
        """The session if this gateway has seen `user_id` own it recently."""
        if self._reconnect_count() != self._reconnects:
            self._entries.clear()
            self._reconnects = self._reconnect_count()
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        stored_at, session = entry
        if self._clock() - stored_at > self._ttl_s:
            del self._entries[session_id]
            return None
        if session.user_id != user_id:
            return None  # another user's: let the sessions service say 404
        self._entries.move_to_end(session_id)
        return session

    def put(self, session: Session) -> None:
        self._entries[session.session_id] = (self._clock(), session)
        self._entries.move_to_end(session.session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def refresh(self, session: Session) -> None:
        """Take a newer version of a session this gateway holds (others stay out)."""
        entry = self._entries.get(session.session_id)
        if entry is not None and entry[1].user_id == session.user_id:
            self._entries[session.session_id] = (entry[0], session)

    async def _on_updated(self, msg: Msg) -> None:
        try:
            self.refresh(SessionUpdated.model_validate_json(msg.data).session)
        except ValidationError:
            pass

    async def _on_deleted(self, msg: Msg) -> None:
        try:
            self.forget(SessionDeleted.model_validate_json(msg.data).session_id)
        except ValidationError:
            pass

    def _reconnect_count(self) -> int:
        return int(self._nc.stats.get("reconnects", 0))
