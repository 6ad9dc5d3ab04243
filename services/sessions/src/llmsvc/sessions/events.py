"""Announcing deletions on JetStream, so a conversation's checkpoints go even if no
agent worker is up at that moment (docs/design.md §3)."""

from __future__ import annotations

import contextlib
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from llmsvc.common import subjects
from llmsvc.common.contracts.sessions import Session, SessionDeleted, SessionUpdated
from llmsvc.common.errors import Unavailable

__all__ = ["DeletionAnnouncer", "JetStreamAnnouncer", "NatsUpdateNotifier", "UpdateNotifier"]


class DeletionAnnouncer(Protocol):
    async def announce(self, event: SessionDeleted) -> None:
        """Return once the event is stored; raise `Unavailable` otherwise."""


class JetStreamAnnouncer:
    def __init__(self, js: JetStreamContext, *, timeout_s: float) -> None:
        self._js = js
        self._timeout_s = timeout_s

    async def announce(self, event: SessionDeleted) -> None:
        try:
            await self._js.publish(
                subjects.SESSIONS_DELETED,
                event.model_dump_json().encode(),
                timeout=self._timeout_s,
                stream=subjects.SESSIONS_EVENTS_STREAM,
                # One deletion, one event: a retried announcement is dropped as a duplicate.
                headers={"Nats-Msg-Id": event.session_id},
            )
        except (NatsError, TimeoutError) as exc:
            raise Unavailable("could not announce the deletion; try again") from exc


class UpdateNotifier(Protocol):
    async def updated(self, session: Session) -> None:
        """Tell the gateways, best effort (their cache entries expire anyway)."""


class NatsUpdateNotifier:
    def __init__(self, nc: NATS) -> None:
        self._nc = nc

    async def updated(self, session: Session) -> None:
        with contextlib.suppress(NatsError, OSError):
            await self._nc.publish(
                subjects.SESSIONS_UPDATED,
                SessionUpdated(session=session).model_dump_json().encode(),
            )


class NoUpdateNotifier:
    async def updated(self, session: Session) -> None:
        return None
